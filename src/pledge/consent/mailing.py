"""Marketing email that keeps the consent promises: only to people who may get it, and
every message with a one-click way out.

The seeds promise an unsubscribe link "in any marketing email" (omni-one), "klikając
odpowiedni przycisk w naszych wiadomościach e-mail" (onetagger), "the unsubscribe link
within each email" (onestepai). Python API::

    from pledge.consent.mailing import send_marketing

    outcome = send_marketing(engine, "marketing_email", "Spring news", body_text,
                             reference="spring-2026")              # everyone who may get it
    outcome = send_marketing(engine, "biuletyn", subject, body, reference="nr-12", to=[...])

* The purpose must be one of the policy's marketing communications (a
  ``marketing.communications.*`` data use); anything else is refused (:class:`MarketingError`).
* Each address is weighed by ``engine.may(address, purpose)`` right before sending: no
  consent, a withdrawal, an objection, a restriction, an age rule or a closed account
  means no email (counted in ``skipped_by`` under the decision's code).
* Each message carries the RFC 8058 pair (:func:`pledge.consent.unsubscribe.list_unsubscribe_headers`):
  ``List-Unsubscribe`` with the person's signed one-click link (and a ``mailto:`` to the
  controller), and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``. The text ends with
  the same link and the preference centre's, in the policy's language.
* One message per (reference, address), ever: a re-run after a crash sends only what is
  missing (:class:`pledge.notify.Notifier`). The send is audited with its counts.

Legal notices (a policy change, a business transfer: :mod:`pledge.reports.campaign`) are
not marketing and carry no unsubscribe: people cannot opt out of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pledge.consent.facts import find_source
from pledge.consent.unsubscribe import list_unsubscribe_headers, preferences_url
from pledge.dataplane import selection
from pledge.dataplane.selection import IsNull, Not
from pledge.errors import InvalidInput
from pledge.i18n import translator
from pledge.notify import EmailTemplate, Notifier

if TYPE_CHECKING:
    from pledge.context import Context
    from pledge.mime import TextMail

__all__ = ["MarketingError", "MarketingNotifier", "MarketingOutcome", "marketing_purposes", "send_marketing"]


def N_(text: str) -> str:
    return text


#: The end of every marketing email (translated per language in the ``consent`` catalogue).
FOOTER = N_("You get this email as part of: {purpose}.\nTo stop these emails, unsubscribe with one "
            "click: {unsubscribe}\nTo choose what we may send you: {preferences}")
MARKETING = EmailTemplate("consent.marketing", "{subject}", "{body}\n\n-- \n{footer}", ())
_HEADERS = "_list_unsubscribe"


class MarketingError(InvalidInput):
    """A marketing send that cannot be made as asked."""


@dataclass
class MarketingOutcome:
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    #: addresses not sent to, by the decision's code (no_consent, consent_withdrawn, objected, …)
    skipped_by: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "skipped": self.skipped, "failed": self.failed, "skipped_by": self.skipped_by}


class MarketingNotifier(Notifier):
    """A :class:`Notifier` whose messages keep a long ``List-Unsubscribe`` link whole."""

    def compose(self, to: str, template: EmailTemplate, lang: str, context: Mapping[str, Any]) -> TextMail:
        msg = super().compose(to, template, lang, context)
        # a signed link is one long word: folded at 78 characters it would become RFC 2047
        # encoded-words, which mail clients do not read as a URL (RFC 5322 allows 998)
        msg.max_line_length = 998
        return msg


def marketing_purposes(engine: Context) -> list[str]:
    """The policy's purposes marketing email may be sent for."""
    return [p.key for p in engine.policy.purposes if p.data_use.startswith("marketing.communications")]


def _everyone(engine: Context) -> Iterator[str]:
    """The addresses of the platform's people (the facts collection), each once."""
    source = find_source(engine)
    if source is None:
        raise MarketingError("the data map has no collection of people to send to; name the addresses (to=...)")
    connector = engine.connectors.get(source.database)
    with connector.begin() as conn:
        for row in selection.scan(connector, conn, source.collection, [source.email],
                                  Not(IsNull(source.email)), order_folded=source.email):
            yield str(row[source.email])


def send_marketing(engine: Context, purpose: str, subject: str, body: str, *, reference: str,
                   to: Iterable[str] | None = None, lang: str | None = None, limit: int | None = None,
                   notifier: MarketingNotifier | None = None, actor: str = "system") -> MarketingOutcome:
    """Send one marketing email for ``purpose`` to everyone who may get it (see the module notes)."""
    if purpose not in marketing_purposes(engine):
        known = ", ".join(marketing_purposes(engine)) or "none"
        raise MarketingError(f"{purpose!r} is not a marketing purpose of the policy (marketing purposes: {known})")
    if not subject.strip() or not body.strip():
        raise MarketingError("a marketing email needs a subject and a body")
    if not reference.strip():
        raise MarketingError("name the mailing (reference=...), so that a re-run never sends twice")
    lang = lang or engine.policy.language
    _ = translator(lang, ("consent",))
    name = engine.policy.purpose(purpose).name
    mailto = engine.policy.controller.email
    out = MarketingOutcome()
    refused: Counter[str] = Counter()
    seen: set[str] = set()

    def messages() -> Iterator[tuple[str, dict[str, Any]]]:
        for address in (to if to is not None else _everyone(engine)):
            address = address.strip()
            if "@" not in address or address.lower() in seen:
                continue
            seen.add(address.lower())
            decision = engine.may(address, purpose)
            if not decision.allowed:
                refused[decision.code] += 1
                continue
            headers = list_unsubscribe_headers(engine, address, purpose, mailto=mailto)
            link = headers["List-Unsubscribe"].split(",")[0].strip().strip("<>")
            footer = _(FOOTER, purpose=name, unsubscribe=link, preferences=preferences_url(engine, address))
            yield address, {"subject": subject, "body": body.rstrip(), "footer": footer, _HEADERS: headers}

    sender = notifier or MarketingNotifier(engine)
    sent = sender.send_many(messages(), MARKETING, lang, reference=f"marketing:{purpose}:{reference}", limit=limit,
                            headers_of=lambda _address, context: context[_HEADERS])
    out.sent, out.failed = sent.sent, sent.failed
    out.skipped = sent.skipped + sum(refused.values())
    out.skipped_by = dict(sorted(refused.items()))
    engine.audit.record("consent.marketing.sent", actor=actor, target=f"marketing:{purpose}:{reference}",
                        details=out.as_dict())
    return out
