"""The consent ledger: every choice a person makes about a purpose, kept for proof.

Records follow the spirit of ISO/IEC TS 27560: who (a keyed HMAC of the email), which
purpose, under which notice version, the state (given, withdrawn or refused), how
(method and channel), when, the Global Privacy Control signal, and proof of the
request (a keyed HMAC of the IP address and user agent, never the values).

History rows are only inserted. ``consent_current`` beside it holds the newest state
per person and purpose and is written in the same transaction, as is the person's version
counter (:mod:`pledge.consent.versions`), which tells every process's decision cache.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import BindParameter, ColumnElement, Connection, insert, select, update

from pledge.consent import versions
from pledge.errors import NotFound
from pledge.retention.ledger import key_clause
from pledge.store.tables.consent import consent_current, consent_records

if TYPE_CHECKING:
    from collections.abc import Callable

    from pledge.audit import AuditLog
    from pledge.context import Clock, Context
    from pledge.policy.model import Policy
    from pledge.retention.ledger import ErasureLedger
    from pledge.store import Store

State = Literal["given", "withdrawn", "refused"]
STATES: tuple[str, ...] = ("given", "withdrawn", "refused")
COOKIE_PREFIX = "cookies."
#: the subject key of a visitor known only by a banner receipt (no email behind it)
RECEIPT_PREFIX = "rcpt_"


class UnknownPurpose(NotFound, KeyError):
    """A purpose key that the policy does not define."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown purpose"


@dataclass(frozen=True)
class Choice:
    purpose: str
    state: str
    notice_version: str
    at: datetime
    gpc: bool | None


def normalise_email(email: str) -> str:
    return email.strip().lower()


class ConsentLedger:
    """Records and reads consent; every write tells the decision cache."""

    def __init__(self, store: Store, policy: Policy, subjects: ErasureLedger, audit: AuditLog, *,
                 subject_secret: str, clock: Clock, on_change: Callable[[str], None]) -> None:
        self.store = store
        self.policy = policy
        self.subjects = subjects  # keys people by keyed hashes (pledge.retention.ledger)
        self.audit = audit
        self.subject_secret = subject_secret
        self.now = clock
        self.on_change = on_change  # told the subject key of every write (the decision cache)

    # -- keys and proof -------------------------------------------------------------
    def subject_key(self, email: str) -> str:
        """The person's key under the newest subject key (what new records are written with)."""
        return self.subjects.keys_for({"email": normalise_email(email)})["email"]

    def subject_keys(self, email: str) -> list[str]:
        """The person's key under every subject key, newest first: reads find records
        written before a subject key rotation too."""
        return self.subjects.every_key("email", normalise_email(email))

    def proof(self, ip: str | None, user_agent: str | None) -> str | None:
        if not ip and not user_agent:
            return None
        msg = f"consent-proof:{ip or ''}|{user_agent or ''}".encode()
        return hmac.new(self.subject_secret.encode(), msg, hashlib.sha256).hexdigest()

    def check_purpose(self, purpose: str) -> None:
        """A policy purpose key, or ``cookies.<category>`` for a cookie category."""
        policy = self.policy
        if purpose.startswith(COOKIE_PREFIX):
            keys = [c.key for c in policy.cookies]
            if purpose[len(COOKIE_PREFIX):] in keys:
                return
            raise UnknownPurpose(f"no cookie category {purpose!r}; known: "
                                 + ", ".join(COOKIE_PREFIX + k for k in keys))
        known = [p.key for p in policy.purposes]
        if purpose not in known:
            raise UnknownPurpose(f"no purpose {purpose!r}; known: {', '.join(known)}")

    # -- writing ----------------------------------------------------------------------
    def record(self, email: str, purpose: str, state: str, *, notice_version: str | None = None,
               method: str = "api", channel: str = "api", gpc: bool | None = None,
               ip: str | None = None, user_agent: str | None = None, actor: str = "subject",
               conn: Connection | None = None) -> dict[str, Any]:
        """Append one choice and move the current state; returns the history row."""
        return self.record_many(email, {purpose: state}, notice_version=notice_version, method=method,
                                channel=channel, gpc=gpc, ip=ip, user_agent=user_agent, actor=actor,
                                conn=conn)[0]

    def record_many(self, email: str, choices: dict[str, str], *, notice_version: str | None = None,
                    method: str = "api", channel: str = "api", gpc: bool | None = None,
                    ip: str | None = None, user_agent: str | None = None, actor: str = "subject",
                    conn: Connection | None = None) -> list[dict[str, Any]]:
        """Several choices from one action (a banner, a preference form), one transaction."""
        if not email or "@" not in email:
            raise ValueError(f"{email!r} is not an email address")
        for purpose, state in choices.items():
            self.check_purpose(purpose)
            if state not in STATES:
                raise ValueError(f"state {state!r} is not one of {', '.join(STATES)}")
        key = self.subject_key(email)
        version = notice_version or self.policy.version
        proof = self.proof(ip, user_agent)
        at = self.now()
        rows: list[dict[str, Any]] = []
        if conn is None:
            with self.store.begin() as own:
                rows = self._write(own, key, choices, version, method, channel, gpc, proof, at, actor)
        else:
            rows = self._write(conn, key, choices, version, method, channel, gpc, proof, at, actor)
        self.on_change(key)
        return rows

    def record_receipt(self, receipt: str, choices: dict[str, str], *, notice_version: str | None = None,
                       gpc: bool | None = None, actor: str = "visitor") -> list[dict[str, Any]]:
        """A visitor without a token: their banner choices under a random receipt id
        (``rcpt_…``), with no email, address or browser string (``proof`` stays empty)."""
        if not receipt.startswith(RECEIPT_PREFIX) or len(receipt) > 64:
            raise ValueError(f"{receipt!r} is not a receipt id")
        for purpose, state in choices.items():
            self.check_purpose(purpose)
            if state not in STATES:
                raise ValueError(f"state {state!r} is not one of {', '.join(STATES)}")
        with self.store.begin() as conn:
            return self._write(conn, receipt, choices, notice_version or self.policy.version, "cookie_banner",
                               "web", gpc, None, self.now(), actor)

    def _write(self, conn: Connection, key: str, choices: dict[str, str], version: str, method: str,
               channel: str, gpc: bool | None, proof: str | None, at: datetime,
               actor: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for purpose, state in choices.items():
            values = dict(subject_key=key, purpose=purpose, notice_version=version, state=state,
                          method=method[:40], channel=channel[:40], at=at, gpc=gpc, proof=proof,
                          actor=actor[:200])
            inserted = conn.execute(insert(consent_records).values(**values)).inserted_primary_key
            rec_id = int(inserted[0]) if inserted else 0
            current = dict(state=state, notice_version=version, gpc=gpc, at=at, record_id=rec_id)
            done = conn.execute(update(consent_current).where(
                consent_current.c.subject_key == key, consent_current.c.purpose == purpose,
            ).values(**current))
            if done.rowcount == 0:
                conn.execute(insert(consent_current).values(subject_key=key, purpose=purpose, **current))
            rows.append({"id": rec_id, **values})
        versions.bump(conn, key)  # every process's cached decisions for this person are stale now
        self.audit.record("consent.record", actor=actor, target=key[:16], conn=conn,
                                 details={"choices": choices, "method": method, "channel": channel,
                                          "notice_version": version, "gpc": gpc})
        return rows

    # -- reading ----------------------------------------------------------------------
    def current(self, email: str) -> dict[str, Choice]:
        """The newest choice per purpose for one person."""
        return self.current_by_key(self.subject_keys(email))

    def current_by_key(self, key: str | Sequence[str]) -> dict[str, Choice]:
        """The newest choice per purpose under ``key`` (or any of several keys of one person)."""
        q = select(consent_current).where(key_clause(consent_current.c.subject_key, key))
        if not isinstance(key, str) and len(key) > 1:  # the newest row per purpose wins
            q = q.order_by(consent_current.c.at, consent_current.c.record_id)
        with self.store.connect() as conn:
            return {r.purpose: Choice(r.purpose, r.state, r.notice_version, r.at, r.gpc)
                    for r in conn.execute(q)}

    def latest_gpc(self, key: str | Sequence[str]) -> bool | None:
        """The GPC signal on the person's newest record that carried one."""
        q = (select(consent_records.c.gpc).where(key_clause(consent_records.c.subject_key, key),
                                                 consent_records.c.gpc.is_not(None))
             .order_by(consent_records.c.id.desc()).limit(1))
        with self.store.connect() as conn:
            value = conn.execute(q).scalar()
        return None if value is None else bool(value)

    @staticmethod
    def records_of(keys: Sequence[str] | BindParameter[Any]) -> ColumnElement[bool]:
        """The condition on ``consent_records`` for one person's records: their
        :meth:`subject_keys` (or a parameter that will give them)."""
        return key_clause(consent_records.c.subject_key, keys)

    def history(self, email: str, *, conn: Connection | None = None) -> list[dict[str, Any]]:
        """Every record for one person, oldest first, without the subject key (read on ``conn`` if given)."""
        q = select(consent_records).where(self.records_of(self.subject_keys(email))).order_by(consent_records.c.id)
        if conn is not None:
            rows = [dict(r._mapping) for r in conn.execute(q)]
        else:
            with self.store.connect() as own:
                rows = [dict(r._mapping) for r in own.execute(q)]
        out = []
        for r in rows:
            out.append({
                "purpose": r["purpose"], "state": r["state"], "notice_version": r["notice_version"],
                "method": r["method"], "channel": r["channel"], "at": _iso(r["at"]),
                "gpc": r["gpc"], "proof": r["proof"], "recorded_by": r["actor"],
            })
        return out


def _iso(at: datetime) -> str:
    return at.isoformat() if at.tzinfo else at.isoformat() + "Z"


def consent_history(engine: Context, email: str, *, conn: Connection | None = None) -> list[dict[str, Any]]:
    """A person's consent history for their access package (oldest first)."""
    return engine.consent.history(email, conn=conn)
