"""The outbox's statements (:mod:`pledge.outbox`), each built once per shape with bound
parameters (#19: building a statement cost about as much as running it): the sender's look
for due rows, its claims (one row, or a few in one statement), the ends of a claim, and
the insert that skips a message already queued."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Select, and_, bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from pledge.store.bound import set_columns
from pledge.store.conflicts import insert_skipping_taken
from pledge.store.tables.outbox import outbox as table

__all__ = ["RELEASE_MANY", "SENT_MANY", "due_query", "finish_query", "insert_once", "take_many_query", "take_query"]


@lru_cache(maxsize=8)
def due_query(waiting: bool, limit: int) -> Select[Any]:
    """The sender's look for due rows, built once per shape (#19: building a statement cost
    about as much as running it); ``:now`` is the due time, ``:clock`` the lease's."""
    queued: Any = table.c.status == "queued"
    if not waiting:
        queued = and_(queued, table.c.next_attempt_at <= bindparam("now"))
    return (select(table.c.id)
            .where(or_(queued, and_(table.c.status == "sending", table.c.claimed_until < bindparam("clock"))))
            .order_by(table.c.next_attempt_at, table.c.id).limit(limit))


def _take(rows: Any, force: bool) -> Any:
    """The claim of ``rows`` (a WHERE on the id) for this sender until ``:lease_end``: a row
    waiting and due by ``:now`` (``force``: due or not), or one whose claim ran out."""
    waiting: Any = table.c.status == "queued"
    if not force:
        waiting = and_(waiting, table.c.next_attempt_at <= bindparam("now"))
    stale = and_(table.c.status == "sending", table.c.claimed_until < bindparam("now"))
    return (update(table).where(rows, or_(waiting, stale))
            .values(status="sending", claimed_until=bindparam("lease_end", type_=table.c.claimed_until.type),
                    attempts=table.c.attempts + 1))


@lru_cache(maxsize=4)
def take_query(force: bool, returning: bool) -> Any:
    """Take row ``:oid``; ``returning`` gives its attempts and sealed message back."""
    take = _take(table.c.id == bindparam("oid"), force)
    return take.returning(table.c.attempts, table.c.message) if returning else take


@lru_cache(maxsize=4)
def take_many_query(force: bool) -> Any:
    """Take the rows ``:oids`` (expanding), returning each one's id, attempts and sealed
    message: one statement for a few rows (#19)."""
    return _take(table.c.id.in_(bindparam("oids", expanding=True)), force).returning(
        table.c.id, table.c.attempts, table.c.message)


#: rows ``:oids`` sent: claim ended, the message cleared (one statement for a few rows, #19)
SENT_MANY = (update(table).where(table.c.id.in_(bindparam("oids", expanding=True)), table.c.status == "sending")
              .values(status="sent", sent_at=bindparam("v_sent_at", type_=table.c.sent_at.type), message=None,
                      next_attempt_at=None, last_error=None, claimed_until=None))
#: rows ``:oids`` claimed but not tried (the relay stopped first): waiting again, the claim's
#: attempt given back
RELEASE_MANY = (update(table).where(table.c.id.in_(bindparam("oids", expanding=True)), table.c.status == "sending")
                 .values(status="queued", claimed_until=None, attempts=table.c.attempts - 1))


@lru_cache(maxsize=8)
def finish_query(columns: tuple[str, ...]) -> Any:
    """End the claim on row ``:oid`` and set ``columns`` (parameters ``v_<column>``)."""
    return (update(table).where(table.c.id == bindparam("oid"), table.c.status == "sending")
            .values(claimed_until=None, **set_columns(table, columns)))


@lru_cache(maxsize=4)
def _returning_id(skipping: Any) -> Any:
    return skipping.returning(table.c.id)


def insert_once(conn: Connection, values: dict[str, Any], run: Callable[..., Any]) -> int | None:
    """Insert the row unless one for the same (reference, recipient) exists; its id, or None.

    PostgreSQL and SQLite: ``INSERT … ON CONFLICT DO NOTHING RETURNING id``, one statement,
    run by ``run(conn, statement, values)`` (the store's :meth:`~pledge.store.Store.run`).
    Elsewhere (MariaDB) a savepoint catches the unique-key error, so the caller's transaction
    survives it."""
    skipping = insert_skipping_taken(conn.dialect.name, table, ("reference", "recipient_key"))
    if skipping is not None:
        row = run(conn, _returning_id(skipping), values).first()
        return None if row is None else int(row[0])
    try:
        with conn.begin_nested():
            res = conn.execute(insert(table).values(**values))
    except IntegrityError:
        return None
    return int(res.inserted_primary_key[0])  # type: ignore[index]
