"""Purpose decisions: may the platform do this, for this person, right now?

``DecisionService.may(email, purpose)`` weighs, in order: the account state and the
age rules (facts from the platform), a restriction (Art. 18: only storage and legal
obligations go on), an objection (Art. 21), Global Privacy Control for purposes that
sell or share, and consent where the purpose needs it. The first rule that says no
gives the reason; otherwise the legal basis does.

Decisions are cached in-process, each with the person's version counter it was made
under (:mod:`pledge.consent.versions`). Every write to a person's consent, restrictions
or objections moves that counter in the same transaction, in whatever process makes
it; a cached decision is served only while the counter in the store is still the one it
was made under (one primary-key read), so a withdrawal shows on the very next decision
in every process. A batch reads the counters of all its people in one query. Facts
from the platform (age, account state) change outside Pledge: a decision is kept at
most ``ttl`` seconds (five minutes), or until :meth:`DecisionService.forget`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from time import monotonic
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from pledge.consent import versions
from pledge.consent.facts import PersonFacts
from pledge.consent.ledger import Choice, UnknownPurpose, normalise_email
from pledge.retention.ledger import key_clause
from pledge.store.tables.rights import objections, restrictions

if TYPE_CHECKING:
    from collections.abc import Callable

    from pledge.consent.ledger import ConsentLedger
    from pledge.context import Clock
    from pledge.policy.model import Policy, Purpose
    from pledge.store import Store

#: Facts from the platform change outside Pledge: decisions are kept this long at most.
DEFAULT_TTL = 300.0


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str
    code: str

    def as_dict(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "reason": self.reason, "code": self.code}


@dataclass
class PersonState:
    """Everything Pledge weighs about one person, loaded once."""

    key: str
    facts: PersonFacts
    consents: dict[str, Choice]
    restricted_all: bool
    restricted: set[str]
    objected: set[str]
    gpc: bool | None
    loaded_at: float = field(default_factory=monotonic)
    #: the person's version counter (pledge.consent.versions) read before this was loaded
    version: int = 0


@dataclass(frozen=True, slots=True)
class _Cached:
    decision: Decision
    key: str
    version: int
    until: float


class DecisionService:
    def __init__(self, consent: ConsentLedger, store: Store, policy: Policy, *, subject_secrets: int,
                 facts: Callable[[str], PersonFacts], clock: Clock, ttl: float = DEFAULT_TTL) -> None:
        self.consent = consent
        self.store = store
        self.policy = policy
        self.subject_secrets = subject_secrets  # how many subject keys are in use (rotation)
        self.facts = facts  # one person's facts from the platform (pledge.consent.facts)
        self.now = clock
        self.ttl = ttl
        self._cache: dict[tuple[str, str, bool | None], _Cached] = {}
        self._by_subject: dict[str, set[tuple[str, str, bool | None]]] = {}
        self._people: dict[str, PersonState] = {}
        self._lock = threading.Lock()

    # -- deciding -----------------------------------------------------------------------
    def may(self, email: str, purpose: str, gpc: bool | None = None) -> Decision:
        """The decision now: cached while the person's version counter in the store has not
        moved (one primary-key read) and the facts are younger than ``ttl``."""
        hit = self._cache.get((email, purpose, gpc))
        key = hit.key if hit is not None else self.consent.subject_key(email)
        version = versions.read_pooled(self.store.engine, key)
        if hit is not None and hit.version == version and hit.until > monotonic():
            return hit.decision
        return self._decide_and_cache(email, purpose, gpc, key, version)

    def many(self, items: list[tuple[str, str]], gpc: bool | None = None) -> list[Decision]:
        """Decisions for many (email, purpose) pairs, the version counters read in one query."""
        keys: dict[str, str] = {}
        for email, purpose in items:
            hit = self._cache.get((email, purpose, gpc))
            keys[email] = hit.key if hit is not None else self.consent.subject_key(email)
        with self.store.connect() as conn:
            now_at = versions.read_many(conn, set(keys.values()))
        out: list[Decision] = []
        for email, purpose in items:
            key = keys[email]
            version = now_at.get(key, 0)
            hit = self._cache.get((email, purpose, gpc))
            if hit is not None and hit.version == version and hit.until > monotonic():
                out.append(hit.decision)
            else:
                out.append(self._decide_and_cache(email, purpose, gpc, key, version))
        return out

    # -- forgetting -----------------------------------------------------------------------
    def invalidate(self, subject_key: str | None = None) -> None:
        """Drop this process's cached decisions for one person (by subject key), or for
        everyone. Other processes need not be told: their entries carry a version counter
        that the change moved (:mod:`pledge.consent.versions`)."""
        with self._lock:
            if subject_key is None:
                self._cache.clear()
                self._by_subject.clear()
                self._people.clear()
                return
            self._people.pop(subject_key, None)
            for k in self._by_subject.pop(subject_key, set()):
                self._cache.pop(k, None)

    def forget(self, email: str) -> None:
        """The platform changed what it knows of this person (age, account): every process
        decides again (their version counter moves), this one at once."""
        key = self.consent.subject_key(email)
        with self.store.begin() as conn:
            versions.bump(conn, key)
        self.invalidate(key)

    # -- the slow path ----------------------------------------------------------------
    def _decide_and_cache(self, email: str, purpose: str, gpc: bool | None, key: str, version: int) -> Decision:
        """Decide and remember it under ``version``, read before anything about the person was
        loaded: a change committed meanwhile moved the counter past it, so the entry is not
        served again (it may be made again at once; it is never served stale)."""
        norm = normalise_email(email)
        state = self.person(norm, key, version)
        decision = self.decide(state, self._purpose(purpose), gpc)
        ckey = (email, purpose, gpc)
        with self._lock:
            self._cache[ckey] = _Cached(decision, key, version, state.loaded_at + self.ttl)
            self._by_subject.setdefault(key, set()).add(ckey)
        return decision

    def _purpose(self, key: str) -> Purpose:
        try:
            return self.policy.purpose(key)
        except KeyError as exc:
            raise UnknownPurpose(str(exc.args[0])) from None

    def person(self, email: str, key: str, version: int | None = None) -> PersonState:
        """Load (or reuse, while ``version`` is the one it was loaded under and the facts are
        young) everything about one person: one query per table."""
        if version is None:
            with self.store.connect() as conn:
                version = versions.read(conn, key)
        cached = self._people.get(key)
        if cached is not None and cached.version == version and cached.loaded_at + self.ttl > monotonic():
            return cached
        facts = self.facts(email)
        # after a subject key rotation, records under the older keys count too
        keys = [key] if self.subject_secrets == 1 else self.consent.subject_keys(email)
        consents = self.consent.current_by_key(keys)
        with self.store.connect() as conn:
            r_rows = conn.execute(select(restrictions.c.purpose).where(
                key_clause(restrictions.c.subject_key, keys), restrictions.c.lifted_at.is_(None))).all()
            o_rows = conn.execute(select(objections.c.purpose).where(
                key_clause(objections.c.subject_key, keys), objections.c.withdrawn_at.is_(None))).all()
        state = PersonState(
            key=key, facts=facts, consents=consents,
            restricted_all=any(r.purpose is None for r in r_rows),
            restricted={r.purpose for r in r_rows if r.purpose is not None},
            objected={r.purpose for r in o_rows},
            gpc=self.consent.latest_gpc(keys),
            version=version,
        )
        self._people[key] = state
        return state

    def decide(self, state: PersonState, purpose: Purpose, gpc: bool | None = None) -> Decision:
        """The rules, in order; the first that says no gives the reason."""
        basis = purpose.legal_basis
        legal = basis == "legal_obligation"
        facts = state.facts
        age_rules = self.policy.age
        age = facts.age_on(self.now().date())
        if age is not None and age_rules is not None and age < age_rules.minimum:
            return Decision(False, f"under {age_rules.minimum}: below the minimum age, nothing may be "
                                   "processed", "below_minimum_age")
        if facts.closed and not legal:
            return Decision(False, f"the account is {facts.status or 'closed'}", "account_closed")
        if (age is not None and age_rules is not None and age_rules.parental_consent_from is not None
                and age_rules.parental_consent_from <= age < (age_rules.parental_consent_until or 18)
                and not legal and not self._parental(state)):
            return Decision(False, f"aged {age}: needs a parent's or guardian's consent, which is missing",
                            "parental_consent_missing")
        if (state.restricted_all or purpose.key in state.restricted) and not legal:
            return Decision(False, "processing is restricted (Art. 18 GDPR): only storage is allowed",
                            "restricted")
        if purpose.key in state.objected and self._objection_binds(purpose):
            return Decision(False, "the person objected to this purpose (Art. 21 GDPR)", "objected")
        if purpose.sells_or_shares and (gpc or state.gpc):
            return Decision(False, "Global Privacy Control is on: no sale or sharing", "gpc")
        if purpose.consent_required or basis == "consent":
            return self._consent_decision(state, purpose)
        if basis == "contract" and not facts.found:
            return Decision(False, "no account in the platform: no contract to perform", "no_account")
        label = (basis or "no basis given").replace("_", " ")
        return Decision(True, f"{label}: no consent needed", basis or "no_basis")

    def _consent_decision(self, state: PersonState, purpose: Purpose) -> Decision:
        choice = state.consents.get(purpose.key)
        if choice is None:
            return Decision(False, "no consent recorded", "no_consent")
        if choice.state == "withdrawn":
            return Decision(False, f"consent withdrawn on {_day(choice.at)}", "consent_withdrawn")
        if choice.state == "refused":
            return Decision(False, f"consent refused on {_day(choice.at)}", "consent_refused")
        policy = self.policy
        if policy.changes.material_reconsent and choice.notice_version != policy.version:
            return Decision(False, f"consent was given under notice {choice.notice_version}; notice "
                                   f"{policy.version} needs it again", "reconsent_needed")
        return Decision(True, f"consent given on {_day(choice.at)} under notice {choice.notice_version}",
                        "consent_given")

    @staticmethod
    def _objection_binds(purpose: Purpose) -> bool:
        """Art. 21 binds legitimate interests, public task and direct marketing; a consent
        purpose is stopped by an objection too (it is a withdrawal in other words)."""
        return (purpose.legal_basis in ("legitimate_interests", "public_task", "consent")
                or purpose.consent_required or purpose.objectable or purpose.data_use.startswith("marketing"))

    def _parental(self, state: PersonState) -> bool:
        if state.facts.parental_consent:
            return True
        age = self.policy.age
        named = getattr(age, "consent_purpose", None) if age is not None else None
        return any((key == named or "parental" in key) and c.state == "given"
                   for key, c in state.consents.items())


def _day(at: datetime) -> str:
    return at.date().isoformat()
