"""Audit entries written together (``AuditLog.batch``, #19): the same chain, fewer statements.

Entries recorded inside a batch get their ids and HMACs as they are recorded (each over the
one before it) and are written with one INSERT and one head update when the block ends (one
statement for both on PostgreSQL); the
chain verifies like one written entry by entry, a tampered entry of a batch is still named,
and a block that fails writes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event, text
from sqlalchemy.engine.default import CACHE_HIT

from pledge.audit import AuditLog, entry_hash
from pledge.store import Store

KEY = "k" * 32


def _log(url: str) -> tuple[Store, AuditLog]:
    store = Store(url)
    return store, AuditLog(store, lambda: datetime(2026, 1, 1, tzinfo=UTC), keys=[KEY])


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 's.db'}"
    return str(request.getfixturevalue("postgres_url"))


def test_batch_chains_like_single_entries_and_writes_once(url: str) -> None:
    store, log = _log(url)
    log.record("before", target="t0")
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(str(a[2]).split()[0]))
    with store.begin() as conn, log.batch(conn):
        ids = [log.record("in.batch", target=f"t{i}", details={"i": i}, conn=conn) for i in range(1, 4)]
    assert ids == [2, 3, 4]
    # one head read (locked), one INSERT of the three entries, one head update; on PostgreSQL
    # the INSERT and the update are one statement (WITH entries AS (INSERT …) UPDATE audit_head …)
    writes = [s for s in statements if s in ("SELECT", "INSERT", "UPDATE", "WITH")]
    assert writes == (["SELECT", "WITH"] if store.engine.dialect.name == "postgresql"
                      else ["SELECT", "INSERT", "UPDATE"])
    log.record("after", target="t5")
    assert log.verify() == []
    rows = list(reversed(log.entries()))
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5]
    assert [r["action"] for r in rows] == ["before", "in.batch", "in.batch", "in.batch", "after"]
    for prev, row in zip(rows, rows[1:], strict=False):
        assert row["prev_hash"] == prev["hash"]
    store.dispose()


def test_a_batch_of_a_size_seen_before_is_not_compiled_again(url: str) -> None:
    """SQLAlchemy compiles a statement once and then finds it in its cache, unless the
    statement cannot be cached (a multi-VALUES INSERT cannot): then every batch paid for a
    compilation (#19)."""
    store, log = _log(url)
    log.record("first", target="t0")
    hits: list[bool] = []

    def seen(conn: object, cursor: object, statement: str, params: object, context: Any, many: bool) -> None:
        if statement.split()[0] in ("WITH", "INSERT") and "audit_log" in statement:
            # no context: run on the driver directly (PostgreSQL), from the plan of its first run
            hits.append(context is None or context.cache_hit is CACHE_HIT)

    event.listen(store.engine, "before_cursor_execute", seen)
    plans = []
    for n in range(3):
        with store.begin() as conn, log.batch(conn):
            for i in range(3):
                log.record("in.batch", target=f"b{n}.{i}", conn=conn)
        plans.append(len(store._direct._plans))  # noqa: SLF001 - the direct runs' compilations
    assert hits[1:] == [True, True] and len(hits) == 3
    assert plans[1:] == plans[:1] * 2, plans
    assert log.verify() == []
    store.dispose()


def test_a_tampered_entry_of_a_batch_is_named(url: str) -> None:
    store, log = _log(url)
    with store.begin() as conn, log.batch(conn):
        for i in range(3):
            log.record("in.batch", target=f"t{i}", details={"i": i}, conn=conn)
    assert log.verify() == []
    with store.begin() as conn:
        conn.execute(text("UPDATE audit_log SET target = 'forged' WHERE id = 2"))
    assert [p.entry_id for p in log.verify()] == [2]
    with store.begin() as conn:  # a rewrite without the key does not verify either
        forged = entry_hash(b"not the key", 2, datetime(2026, 1, 1, tzinfo=UTC), "system", "in.batch", "forged",
                            {"i": 1}, "0" * 64)
        conn.execute(text("UPDATE audit_log SET hash = :h WHERE id = 2"), {"h": forged})
    assert 2 in [p.entry_id for p in log.verify()]
    store.dispose()


def test_a_failed_batch_writes_nothing(url: str) -> None:
    store, log = _log(url)
    log.record("first")
    with pytest.raises(RuntimeError), store.begin() as conn, log.batch(conn):
        log.record("lost", conn=conn)
        raise RuntimeError("the transaction fails")
    assert [e["action"] for e in log.entries()] == ["first"]
    assert log.record("next") == 2
    assert log.verify() == []
    store.dispose()


def test_a_statement_that_returns_the_head_columns_locks_and_reads_the_head(url: str) -> None:
    """#19: a request's move (its UPDATE locks the request first) returns the audit head,
    locked next, so the batch chains from it without a read of its own (PostgreSQL); where
    there are no such columns the batch reads the head as before. Both chains verify."""
    store, log = _log(url)
    with store.begin() as conn:
        conn.execute(text("CREATE TABLE moved (id INTEGER PRIMARY KEY, v INTEGER)"))
        conn.execute(text("INSERT INTO moved VALUES (1, 0)"))
    moved = sa.table("moved", sa.column("id"), sa.column("v"))
    with store.begin() as conn, log.batch(conn):  # a fresh log: no head row yet
        head = log.head_columns(conn)
        if head:
            got = conn.execute(sa.update(moved).where(moved.c.id == 1).values(v=1).returning(*head)).one()
            assert got.audit_last_id is None
            log.head_from(conn, got)  # nothing to take: the batch reads (and creates) the head
        else:
            conn.execute(sa.update(moved).where(moved.c.id == 1).values(v=1))
        assert log.record("first", conn=conn) == 1
    statements: list[str] = []
    for n in range(2, 4):
        last_hash = log.entries(limit=1)[0]["hash"]
        statements.clear()
        listener = lambda *a: statements.append(str(a[2]).split()[0])  # noqa: E731
        event.listen(store.engine, "before_cursor_execute", listener)
        with store.begin() as conn, log.batch(conn):
            head = log.head_columns(conn)
            if head:
                got = conn.execute(sa.update(moved).where(moved.c.id == 1).values(v=n).returning(*head)).one()
                assert (got.audit_last_id, got.audit_hash) == (n - 1, last_hash)
                log.head_from(conn, got)
                assert log.head_columns(conn) == ()  # read once per batch
            else:
                conn.execute(sa.update(moved).where(moved.c.id == 1).values(v=n))
            assert log.record("moved", target=f"t{n}", conn=conn) == n
        event.remove(store.engine, "before_cursor_execute", listener)
        writes = [s for s in statements if s in ("SELECT", "INSERT", "UPDATE", "WITH")]
        assert writes == (["UPDATE", "WITH"] if store.engine.dialect.name == "postgresql"
                          else ["UPDATE", "SELECT", "INSERT", "UPDATE"])
    assert [r["id"] for r in reversed(log.entries())] == [1, 2, 3]
    assert log.verify() == []
    store.dispose()
