"""A child under the policy's minimum age: carry out what ``age.on_child_found`` says.

The seeds promise it (omni-one: "If we learn we have collected information from a child
under 18, we will delete it immediately."; onestepai: "If we become aware that a child
under 13 has provided us with personal information, we will take steps to delete such
information."). Python API::

    from pledge.rights.children import child_found, find_children

    outcome = child_found(engine, "kid@example.org", actor="dpo@x")   # one person
    for email in find_children(engine):                              # everyone the platform holds
        child_found(engine, email, actor="dpo@x")

**The age is checked, not assumed.** The platform's birth date (the facts collection, see
:mod:`pledge.consent.facts`) must make the person younger than ``age.minimum`` today;
someone the platform shows as old enough is refused (:class:`ChildError`) and nothing
changes. Where the platform holds no birth date, the officer's ``evidence`` (how they
learnt it) is required and recorded in the audit log.

**The action is the policy's**, ``age.on_child_found``:

* ``delete`` — an erasure opened on the platform's initiative with the ground
  ``child_under_minimum_age``. When the platform's own birth date proves the age, it is
  carried out at once: the policy's promise is the approval (recorded as the actor
  ``policy:age.on_child_found``). Resting only on an officer's evidence, it waits for a
  second person's approval like any erasure opened by an officer.
* ``suspend`` — a restriction of every purpose (only storage goes on) with the reason;
  the data stay until an officer decides.
* ``require_parental_consent`` — the same restriction, noting that a parent's or
  guardian's consent is awaited; the officer lifts it when the consent is on record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from pledge.consent.facts import PersonFacts, as_date, fetch_facts, find_source
from pledge.dataplane import selection
from pledge.dataplane.selection import All, Cmp, IsNull, Not
from pledge.errors import InvalidInput

if TYPE_CHECKING:
    from pledge.context import Context

__all__ = ["ChildError", "ChildOutcome", "POLICY_ACTOR", "child_found", "find_children", "years_before"]

GROUND = "child_under_minimum_age"
#: The actor that approves an erasure the policy itself orders (``age.on_child_found: delete``).
POLICY_ACTOR = "policy:age.on_child_found"


class ChildError(InvalidInput):
    """A child-found action that cannot be taken as asked; the message says why."""


@dataclass
class ChildOutcome:
    """What was done: ``action`` is the policy's ``on_child_found``."""

    action: str
    age: int | None
    minimum: int
    request_id: str | None = None
    state: str | None = None
    restriction_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "age": self.age, "minimum": self.minimum, "request_id": self.request_id,
                "state": self.state, "restriction_id": self.restriction_id, **self.details}


def years_before(day: date, years: int) -> date:
    """The same calendar day ``years`` earlier (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def child_found(engine: Context, email: str, *, actor: str, note: str = "", evidence: str = "") -> ChildOutcome:
    """Carry out ``age.on_child_found`` for one person named by email (see the module notes)."""
    age_rules = engine.policy.age
    if age_rules is None:
        raise ChildError("the policy states no minimum age (age.minimum), so nobody is a child under it")
    email = email.strip()
    if not email:
        raise ChildError("name the person by email")
    minimum = age_rules.minimum
    facts = fetch_facts(engine, find_source(engine), email)
    years = facts.age_on(engine.now().date()) if facts.found else None
    evidence = evidence.strip()
    if years is not None and years >= minimum:
        raise ChildError(f"the platform's birth date makes this person {years}, not under {minimum}; "
                         "nothing was changed")
    if years is None and not evidence:
        raise ChildError("the platform holds no birth date for this person; say how you know they are under "
                         f"{minimum} (evidence=...)")
    proof = f"the platform's birth date: aged {years}" if years is not None else evidence
    action = age_rules.on_child_found
    outcome = ChildOutcome(action=action, age=years, minimum=minimum)
    engine.audit.record("rights.child_found", actor=actor, target=engine.consent.subject_key(email),
                        details={"action": action, "minimum": minimum, "age": years,
                                 "proof": "birth_date" if years is not None else "officer",
                                 "note": note[:2000]})
    if action == "delete":
        svc = engine.requests
        view = svc.open_on_initiative("erasure", {"email": email}, ground=GROUND, actor=actor,
                                      note=(note + "; " if note else "") + f"{proof}; the policy's minimum is "
                                      f"{minimum}")
        if years is not None:
            # "we will delete it immediately": the platform's birth date proves the age, and
            # the policy's own promise approves the erasure
            view = svc.approve(view.id, actor=POLICY_ACTOR)
        outcome.request_id, outcome.state = view.id, view.state
        return outcome
    from pledge.rights.restrict import restrict

    why = (f"a child under {minimum} ({proof})" if action == "suspend" else
           f"a child under {minimum} ({proof}): processing waits for a parent's or guardian's consent")
    out = restrict(engine, email, None, reason=why, actor=actor)
    engine.decisions.invalidate(engine.consent.subject_key(email))
    outcome.restriction_id = int(out["id"])
    outcome.details["reason"] = why
    return outcome


def find_children(engine: Context) -> list[str]:
    """The email of everyone the platform's facts collection shows under ``age.minimum`` today
    (one set-based query; people without a birth date are not guessed at)."""
    age_rules = engine.policy.age
    source = find_source(engine)
    if age_rules is None or source is None or source.birth_date is None:
        return []
    connector = engine.connectors.get(source.database)
    today = engine.now().date()
    bound = years_before(today, age_rules.minimum)
    born, email = source.birth_date, source.email
    found: dict[str, None] = {}
    with connector.begin() as conn:
        rows = selection.scan(connector, conn, source.collection, [email, born],
                              All((Not(IsNull(born)), Cmp(born, ">", bound), Not(IsNull(email)))), order_folded=email)
        for row in rows:
            born_on = row[born]
            years = PersonFacts(found=True, birth_date=as_date(born_on)).age_on(today)
            if years is not None and years < age_rules.minimum:
                found.setdefault(str(row[email]).strip(), None)
    return list(found)

