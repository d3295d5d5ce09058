"""Restriction (Art. 18) and objection (Art. 21), recorded per person and per purpose.

Nothing in the platform's databases changes: a restriction or an objection is a record
in Pledge's store (``restrictions`` / ``objections``), keyed by the person's
``subject_key`` (the keyed HMAC of their email, never the address itself). The
consent engine reads :func:`active_restrictions` and :func:`active_objections` to
turn them into purpose decisions. Every change is written to the audit log in the
same transaction, and moves the person's version counter (:mod:`pledge.consent.versions`)
there too, so every process decides anew at once. New rows use the newest subject key; reads (and lifting, withdrawing)
match the person under every subject key, so records from before a rotation still apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import BindParameter, ColumnElement, Connection, and_, insert, select, update

from pledge.consent import versions
from pledge.emails import is_email_address
from pledge.errors import InvalidInput
from pledge.retention.ledger import key_clause
from pledge.store.tables.rights import objections, restrictions

if TYPE_CHECKING:
    from pledge.context import Context


class RightsInputError(InvalidInput):
    """A request that names an unknown purpose or gives an unusable identity."""


def subject_key_for(engine: Context, email: str) -> str:
    """The store key of a person: keyed HMAC of their (normalised) email."""
    email = email.strip()
    if not is_email_address(email):
        raise RightsInputError(f"{email!r} is not an email address")
    return engine.ledger.keys_for({"email": email})["email"]


def subject_keys_for(engine: Context, email: str) -> list[str]:
    """The person's store key under every subject key, newest first."""
    email = email.strip()
    if not is_email_address(email):
        raise RightsInputError(f"{email!r} is not an email address")
    return engine.ledger.every_key("email", email)


def _check_purpose(engine: Context, purpose: str) -> None:
    try:
        engine.policy.purpose(purpose)
    except KeyError as exc:
        raise RightsInputError(str(exc.args[0])) from exc


def _row(r: Any) -> dict[str, Any]:
    return dict(r._mapping)


Keys = str | Sequence[str] | BindParameter[Any]


def restrictions_in_force(key: Keys) -> ColumnElement[bool]:
    """The condition on ``restrictions`` for a person's restrictions in force."""
    return and_(key_clause(restrictions.c.subject_key, key), restrictions.c.lifted_at.is_(None))


def objections_in_force(key: Keys) -> ColumnElement[bool]:
    """The condition on ``objections`` for a person's objections in force."""
    return and_(key_clause(objections.c.subject_key, key), objections.c.withdrawn_at.is_(None))


def _active_restrictions(conn: Connection, key: Keys) -> list[dict[str, Any]]:
    q = select(restrictions).where(restrictions_in_force(key)).order_by(restrictions.c.id)
    return [_row(r) for r in conn.execute(q)]


def _active_objections(conn: Connection, key: Keys) -> list[dict[str, Any]]:
    q = select(objections).where(objections_in_force(key)).order_by(objections.c.id)
    return [_row(r) for r in conn.execute(q)]


def active_restrictions(engine: Context, subject_key: Keys, *, conn: Connection | None = None) -> list[dict[str, Any]]:
    """Restrictions in force for a person; ``purpose`` None means every purpose (read on ``conn`` if given)."""
    if conn is not None:
        return _active_restrictions(conn, subject_key)
    with engine.store.connect() as own:
        return _active_restrictions(own, subject_key)


def active_objections(engine: Context, subject_key: Keys, *, conn: Connection | None = None) -> list[dict[str, Any]]:
    """Objections in force for a person, one per purpose (read on ``conn`` if given)."""
    if conn is not None:
        return _active_objections(conn, subject_key)
    with engine.store.connect() as own:
        return _active_objections(own, subject_key)


def is_restricted(engine: Context, subject_key: Keys, purpose: str) -> bool:
    """Whether processing for ``purpose`` is restricted or objected to."""
    rs = active_restrictions(engine, subject_key)
    if any(r["purpose"] in (None, purpose) for r in rs):
        return True
    return any(o["purpose"] == purpose for o in active_objections(engine, subject_key))


def restrict(engine: Context, email: str, purpose: str | None = None, *, reason: str = "",
             actor: str = "system") -> dict[str, Any]:
    """Record an Art. 18 restriction (all purposes when ``purpose`` is None).

    Asking again for a restriction already in force returns it unchanged.
    """
    key = subject_key_for(engine, email)
    if purpose is not None:
        _check_purpose(engine, purpose)
    with engine.store.begin() as conn:
        for r in _active_restrictions(conn, subject_keys_for(engine, email)):
            if r["purpose"] == purpose:
                return {"action": "restrict", "subject_key": key, "purpose": purpose,
                        "id": r["id"], "created": False}
        res = conn.execute(insert(restrictions).values(
            subject_key=key, purpose=purpose, reason=reason, created_at=engine.now()))
        rid = int(res.inserted_primary_key[0])  # type: ignore[index]
        versions.bump(conn, key)  # decisions in every process see it at once
        engine.audit.record("rights.restrict", actor=actor, target=key,
                            details={"purpose": purpose, "reason": reason, "restriction_id": rid}, conn=conn)
    return {"action": "restrict", "subject_key": key, "purpose": purpose, "id": rid, "created": True}


def lift_restriction(engine: Context, email: str, purpose: str | None = None, *,
                     actor: str = "system") -> dict[str, Any]:
    """Lift restrictions in force: the one for ``purpose``, or every one when None."""
    key = subject_key_for(engine, email)
    with engine.store.begin() as conn:
        ids = [r["id"] for r in _active_restrictions(conn, subject_keys_for(engine, email))
               if purpose is None or r["purpose"] == purpose]
        if ids:
            conn.execute(update(restrictions).where(restrictions.c.id.in_(ids)).values(lifted_at=engine.now()))
            versions.bump(conn, key)
            engine.audit.record("rights.restrict.lift", actor=actor, target=key,
                                details={"purpose": purpose, "restriction_ids": ids}, conn=conn)
    return {"action": "lift", "subject_key": key, "purpose": purpose, "lifted": ids}


def object_to(engine: Context, email: str, purpose: str, *, reason: str = "",
              actor: str = "system") -> dict[str, Any]:
    """Record an Art. 21 objection to one purpose (idempotent while in force)."""
    key = subject_key_for(engine, email)
    _check_purpose(engine, purpose)
    p = engine.policy.purpose(purpose)
    # Art. 21(1) covers legitimate interests and public task; 21(2) any direct marketing.
    absolute = p.data_use.startswith("marketing")
    grounded = absolute or p.objectable or p.legal_basis in ("legitimate_interests", "public_task")
    with engine.store.begin() as conn:
        for o in _active_objections(conn, subject_keys_for(engine, email)):
            if o["purpose"] == purpose:
                return {"action": "object", "subject_key": key, "purpose": purpose, "id": o["id"],
                        "created": False, "absolute": absolute, "art21_applies": grounded}
        res = conn.execute(insert(objections).values(
            subject_key=key, purpose=purpose, reason=reason, created_at=engine.now()))
        oid = int(res.inserted_primary_key[0])  # type: ignore[index]
        versions.bump(conn, key)
        engine.audit.record("rights.object", actor=actor, target=key,
                            details={"purpose": purpose, "reason": reason, "objection_id": oid,
                                     "absolute": absolute, "art21_applies": grounded}, conn=conn)
    return {"action": "object", "subject_key": key, "purpose": purpose, "id": oid, "created": True,
            "absolute": absolute, "art21_applies": grounded}


def withdraw_objection(engine: Context, email: str, purpose: str, *, actor: str = "system") -> dict[str, Any]:
    """Withdraw the person's objection to ``purpose``."""
    key = subject_key_for(engine, email)
    with engine.store.begin() as conn:
        ids = [o["id"] for o in _active_objections(conn, subject_keys_for(engine, email)) if o["purpose"] == purpose]
        if ids:
            conn.execute(update(objections).where(objections.c.id.in_(ids)).values(withdrawn_at=engine.now()))
            versions.bump(conn, key)
            engine.audit.record("rights.object.withdraw", actor=actor, target=key,
                                details={"purpose": purpose, "objection_ids": ids}, conn=conn)
    return {"action": "withdraw", "subject_key": key, "purpose": purpose, "withdrawn": ids}
