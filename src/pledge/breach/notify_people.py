"""Telling people about a breach (GDPR Art. 34), in English or Polish, once each.

Interface::

    outcome = notify_people(engine, breach_id, rate_per_second=5, lang=None,
                            on_sent=None, actor="cli")
    outcome.sent / .skipped / .failed / .exempt / .unknown

* The addresses are looked up *now*, in the platform: the affected rows are found again
  (:func:`pledge.breach.affected.find_affected`), so each person is written to at their
  most recent address (onestepai promises exactly that). They are matched to the people
  the register recorded by keyed HMAC (user id first, so a changed address still
  matches); people the register does not know are not written to (``unknown``).
* Sending goes through :class:`pledge.notify.Notifier` (the same SMTP path, throttle and
  delivery records as every other email). Deliveries are keyed by the breach and the
  person, so a re-run after a crash sends only to those not yet told.
* When the assessment recorded the Art. 34(3)(a) exemption (encrypted data), nothing is
  sent: the run is audited with the exemption instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pledge.breach.affected import find_affected
from pledge.breach.register import BreachError
from pledge.context import Context
from pledge.i18n import translator
from pledge.notify import EmailTemplate, Notifier

BREACH_NOTICE = EmailTemplate(
    name="breach_notice",
    subject="Important: a security incident affecting your data at {controller}",
    body=(
        "Hello,\n\n"
        "We are writing to tell you about a security incident at {controller} that affects "
        "your personal data.\n\n"
        "What happened\n"
        "{what}\n"
        "We found out on {aware_on}. The data concerned was created between {window_from} "
        "and {window_to}.\n\n"
        "Which of your data\n"
        "{categories}. We found {records} record(s) about you.\n\n"
        "What this may mean for you\n"
        "{consequences}\n\n"
        "What we have done\n"
        "{measures}\n\n"
        "What you can do\n"
        "Be careful with unexpected messages that mention this incident or ask for your "
        "password or payment details. We will never ask you for your password by email.\n\n"
        "Questions\n"
        "Write to {contact}. You also have the right to complain to the data protection "
        "authority: {authority}.\n\n"
        "{controller}\n"
    ),
    domains=("breach",),
)


@dataclass
class PeopleOutcome:
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    exempt: int = 0
    unknown: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def _category_words(engine: Context, keys: list[str], lang: str) -> str:
    from pledge.policy.localize import localized

    names = {c.key: c.name for c in localized(engine.policy, lang).categories}  # in the notice's language
    words = [names.get(k, k.rsplit(".", 1)[-1].replace("_", " ")) for k in keys if k.startswith("user")]
    return ", ".join(dict.fromkeys(words))


def notice_context(engine: Context, breach_id: int, lang: str = "en") -> dict[str, Any]:
    """What every notice for this breach says (the per-person record count is added later)."""
    from pledge.breach.report import CONSEQUENCES, NO_CONSEQUENCES

    _ = translator(lang, ("breach",))
    b = engine.breaches.get(breach_id)
    consequences = [_(words) for prefix, words in CONSEQUENCES if any(c.startswith(prefix) for c in b.categories)]
    ctl = engine.policy.controller
    dpo = ctl.dpo
    contact = (dpo.email if dpo and dpo.email else None) or ctl.email or ctl.website or ctl.name
    auth = engine.policy.authority
    return {
        "controller": ctl.name,
        "what": b.description or b.title,
        "aware_on": b.aware_at.date().isoformat(),
        "window_from": b.window_from.date().isoformat(),
        "window_to": b.window_to.date().isoformat(),
        "categories": _category_words(engine, b.categories, lang) or _("account data"),
        "consequences": b.consequences or ("; ".join(dict.fromkeys(consequences)) or _(NO_CONSEQUENCES)).capitalize()
        + ".",
        "measures": b.measures or _("We are investigating and will write again when we know more."),
        "contact": contact,
        "authority": f"{auth.name}" + (f" ({auth.url})" if auth and auth.url else "") if auth else "-",
    }


def notify_people(engine: Context, breach_id: int, *, rate_per_second: float = 10.0, lang: str | None = None,
                  on_sent: Callable[[str], None] | None = None, actor: str = "system",
                  notifier: Notifier | None = None) -> PeopleOutcome:
    """Email every affected person not yet told (see the module docstring)."""
    reg = engine.breaches
    b = reg.get(breach_id)
    out = PeopleOutcome()
    if b.notify_people is None:
        raise BreachError(f"breach {breach_id} is not assessed yet: run pledge breach assess first")
    if b.exemption:
        out.exempt = b.people_count
        reg.record_exemption_run(breach_id, actor)
        return out
    if not b.notify_people:
        raise BreachError(f"breach {breach_id}: people need not be told ({b.people_reason})")
    registered = reg.people_keys(breach_id)
    by_kind: dict[tuple[str, str], str] = {}
    for known, keys in registered.items():
        for kind, digest in keys.items():
            by_kind[(kind, digest)] = known
    found = find_affected(engine, b.collections, b.window_from, b.window_to, time_field=b.time_field)
    language = lang or engine.policy.language
    common = notice_context(engine, breach_id, language)
    messages: list[tuple[str, Mapping[str, Any]]] = []
    seen: set[str] = set()
    for person in found.people:
        skey: str | None = by_kind.get(("user_id", person.keys.get("user_id", ""))) or \
            by_kind.get(("email", person.keys["email"]))
        if skey is None:
            out.unknown += 1
            continue
        if skey in seen:
            continue
        seen.add(skey)
        messages.append((person.email, {**common, "records": person.records, "_key": skey}))
    sender = notifier or Notifier(engine, rate_per_second=rate_per_second)
    address_key = {address: str(ctx["_key"]) for address, ctx in messages}

    def each(address: str, status: str) -> None:
        if status == "sent":
            reg.mark_person_notified(breach_id, address_key[address])
            if on_sent:
                on_sent(address)
        elif status == "skipped":  # sent before, perhaps by the outbox's sender after a retry
            reg.mark_person_notified(breach_id, address_key[address])

    completed = False
    try:
        result = sender.send_many(messages, BREACH_NOTICE, language, reference=f"breach:{breach_id}",
                                  on_each=each, key_of=lambda _a, ctx: str(ctx["_key"]))
        out.sent, out.skipped, out.failed = result.sent, result.skipped, result.failed
        completed = True
    finally:
        reg.finish_people(breach_id, {**out.as_dict(), "interrupted": not completed}, actor)
    return out
