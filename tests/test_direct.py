"""Prebuilt statements run on psycopg directly (pledge.direct, #19): the same rows as through
SQLAlchemy (its type conversions in and out applied), the same events, SQLAlchemy's errors,
and SQLAlchemy itself wherever the direct run would not be exact. Real PostgreSQL (and
SQLite, where nothing is direct)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    TypeDecorator,
    Uuid,
    any_,
    bindparam,
    cast,
    create_engine,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DataError, MultipleResultsFound, NoResultFound

from pledge.connectors.base import Find
from pledge.connectors.sql import SqlConnector
from pledge.direct import Direct


class Shouted(TypeDecorator[str]):
    """Stored lower case, read upper case: both conversions happen in Python."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else value.lower()

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else value.upper()


meta = MetaData()
things = Table(
    "things", meta,
    Column("id", Integer, primary_key=True),
    Column("name", String(40)),
    Column("price", Numeric(10, 2)),
    Column("ratio", Numeric(10, 4, asdecimal=False)),
    Column("seen", DateTime(timezone=True)),
    Column("naive", DateTime),
    Column("doc", JSON),
    Column("ok", Boolean),
    Column("ref", Uuid),
    Column("loud", Shouted),
)
ROWS = [
    {"id": 1, "name": "ąę one", "price": Decimal("12.50"), "ratio": 0.25, "seen": dt.datetime(2026, 1, 2, 3, 4, 5,
     tzinfo=dt.UTC), "naive": dt.datetime(2026, 1, 2), "doc": {"a": [1, 2]}, "ok": True,
     "ref": uuid.UUID(int=7), "loud": "MiXed"},
    {"id": 2, "name": None, "price": None, "ratio": None, "seen": None, "naive": None, "doc": None, "ok": None,
     "ref": None, "loud": None},
    {"id": 3, "name": "three", "price": Decimal("0.01"), "ratio": 1.5, "seen": dt.datetime(2026, 12, 7, tzinfo=dt.UTC),
     "naive": dt.datetime(1999, 12, 31, 23, 59), "doc": ["x"], "ok": False, "ref": uuid.UUID(int=9), "loud": "b"},
]
BY_IDS = select(things).where(things.c.id == any_(bindparam("ids", type_=ARRAY(Integer))))
BY_LOUD = select(things.c.id, things.c.loud).where(things.c.loud == bindparam("loud"))


def _engine(url: str) -> Any:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(things), ROWS)
    return engine


def test_a_direct_run_gives_what_sqlalchemy_gives_with_every_conversion_applied(postgres_url: str) -> None:
    engine = _engine(postgres_url)
    direct = Direct(engine.dialect)
    try:
        assert direct.plan(BY_IDS) is not None and direct.plan(BY_LOUD) is not None
        with engine.connect() as conn:
            through_sa = [dict(r._mapping) for r in conn.execute(BY_IDS, {"ids": [1, 2, 3, 4]})]
            for _ in range(7):  # psycopg prepares a statement on its fifth run: the same rows after
                assert list(direct.rows(conn, BY_IDS, {"ids": [1, 2, 3, 4]})) == through_sa
            assert sorted(through_sa, key=lambda r: r["id"])[0]["loud"] == "MIXED"  # read upper case
            # the bind processor ran: "MIXED" was stored, and is looked up, lower case
            assert list(direct.rows(conn, BY_LOUD, {"loud": "MIXED"})) == [{"id": 1, "loud": "MIXED"}]
            assert list(direct.rows(conn, BY_IDS, {"ids": []})) == []
    finally:
        engine.dispose()


def test_a_direct_run_is_seen_by_cursor_listeners_and_skips_sqlalchemys_execution(postgres_url: str) -> None:
    engine = _engine(postgres_url)
    direct = Direct(engine.dialect)
    cursor_level: list[str] = []
    statement_level: list[Any] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _cur, sql, *_: cursor_level.append(sql))
    event.listen(engine, "before_execute", lambda _c, stmt, *_: statement_level.append(stmt))
    try:
        with engine.connect() as conn:
            assert [r["id"] for r in direct.rows(conn, BY_IDS, {"ids": [3]})] == [3]
        assert statement_level == [] and len(cursor_level) == 1 and "= ANY" in cursor_level[0]
    finally:
        engine.dispose()


def test_a_driver_error_comes_as_sqlalchemys_and_the_connection_goes_on(postgres_url: str) -> None:
    engine = _engine(postgres_url)
    direct = Direct(engine.dialect)
    by_text = select(things.c.id).where(things.c.id == cast(bindparam("id", type_=String), Integer))
    try:
        with engine.connect() as conn:
            with pytest.raises(DataError):
                list(direct.rows(conn, by_text, {"id": "not a number"}))
            conn.rollback()
            assert [r["id"] for r in direct.rows(conn, BY_IDS, {"ids": [1]})] == [1]
    finally:
        engine.dispose()


def test_what_would_not_be_exact_goes_through_sqlalchemy(postgres_url: str, tmp_path: Path) -> None:
    expanding = select(things.c.id).where(things.c.id.in_(bindparam("ids", expanding=True)))
    engine = _engine(postgres_url)
    lite = _engine(f"sqlite:///{tmp_path / 'lite.db'}")
    try:
        direct = Direct(engine.dialect)
        assert direct.plan(expanding) is None  # its SQL is rendered at every execution
        with engine.connect() as conn:
            assert sorted(r["id"] for r in direct.rows(conn, expanding, {"ids": [1, 3]})) == [1, 3]
        on_sqlite = Direct(lite.dialect)
        plain = select(things.c.id, things.c.loud).where(things.c.id == bindparam("id"))
        assert on_sqlite.plan(plain) is None
        with lite.connect() as conn:
            assert list(on_sqlite.rows(conn, plain, {"id": 1})) == [{"id": 1, "loud": "MIXED"}]
    finally:
        engine.dispose()
        lite.dispose()


def test_the_connectors_find_runs_directly_on_postgresql(postgres_url: str) -> None:
    engine = _engine(postgres_url)
    engine.dispose()
    connector = SqlConnector(create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://")))
    executed: list[Any] = []
    event.listen(connector.engine, "before_execute", lambda _c, stmt, *_: executed.append(stmt))
    try:
        with connector.read() as conn:
            found = list(connector.find(conn, "things", "id", [1, 3]))
        assert sorted(r["id"] for r in found) == [1, 3]
        assert sorted(found, key=lambda r: r["id"])[0]["price"] == Decimal("12.50")
        assert not [s for s in executed if "things" in str(s)]  # not through Connection.execute
    finally:
        connector.engine.dispose()


notes = Table(
    "notes", meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("body", String(40)),
    Column("loud", Shouted),
    Column("kind", String(10), server_default="plain"),
)


def test_a_direct_write_stores_and_returns_what_sqlalchemy_does(postgres_url: str) -> None:
    """:meth:`Direct.execute`: an INSERT of every column type stores what SQLAlchemy's stores;
    one without ``values()`` sets only the columns given (the database fills the others);
    RETURNING rows read by attribute, position and ``_mapping``; an UPDATE's row count."""
    from sqlalchemy import update

    engine = _engine(postgres_url)
    direct = Direct(engine.dialect)
    add = insert(things)
    add_note = insert(notes).returning(notes.c.id, notes.c.loud, notes.c.kind)
    rename = update(things).where(things.c.id == bindparam("i")).values(name=bindparam("n"))
    try:
        assert direct.plan(add, tuple(ROWS[0])) is not None and direct.plan(rename, ("i", "n")) is not None
        assert direct.plan(add_note, ("body", "loud")) is not None  # all three run direct
        with engine.begin() as conn:
            for row in ROWS:
                direct.execute(conn, add, {**row, "id": row["id"] + 100})
            through_sa = [dict(r._mapping) for r in conn.execute(select(things).where(things.c.id < 100)
                                                                 .order_by(things.c.id))]
            direct_rows = [{**dict(r._mapping), "id": r.id - 100} for r in conn.execute(
                select(things).where(things.c.id > 100).order_by(things.c.id))]
            assert direct_rows == through_sa
            assert conn.execute(select(things.c.loud).where(things.c.id == 101)).scalar() == "MIXED"
            first = direct.execute(conn, add_note, {"body": "a", "loud": "Hey"}).first()
            assert first is not None and first.loud == "HEY" and first.kind == "plain" and first.id >= 1
            assert first._mapping == {"id": first.id, "loud": "HEY", "kind": "plain"} and first[1] == "HEY"
            again = direct.execute(conn, add_note, {"body": "b", "loud": "x"})
            assert again.scalar() == first.id + 1 and len(again.all()) == 1
            assert direct.execute(conn, rename, {"i": 101, "n": "renamed"}).rowcount == 1
            assert direct.execute(conn, rename, {"i": 999, "n": "nobody"}).rowcount == 0
            assert direct.execute(conn, rename, {"i": 999, "n": "nobody"}).first() is None
            assert conn.execute(select(things.c.name).where(things.c.id == 101)).scalar() == "renamed"
            with pytest.raises(AttributeError):
                _ = first.nothing
            by_id = select(notes.c.body).where(notes.c.id >= bindparam("low"))
            assert direct.execute(conn, by_id, {"low": first.id + 1}).one() == ("b",)
            with pytest.raises(NoResultFound):
                direct.execute(conn, by_id, {"low": first.id + 2}).one()
            with pytest.raises(MultipleResultsFound):
                direct.execute(conn, by_id, {"low": first.id}).one()
    finally:
        engine.dispose()


def test_a_direct_write_first_on_a_connection_is_committed_by_its_commit(postgres_url: str) -> None:
    """SQLAlchemy begins a connection's transaction at its first statement, so ``commit()``
    commits it; a direct run does the same. After an error, the next statement of the
    transaction fails as it fails through SQLAlchemy."""
    from sqlalchemy import update
    from sqlalchemy.exc import InternalError

    engine = _engine(postgres_url)
    direct = Direct(engine.dialect)
    rename = update(things).where(things.c.id == bindparam("i")).values(name=bindparam("n"))
    by_text = select(things.c.id).where(things.c.id == cast(bindparam("id", type_=String), Integer))
    try:
        with engine.connect() as conn:
            assert direct.execute(conn, rename, {"i": 1, "n": "kept"}).rowcount == 1
            conn.commit()
        with engine.connect() as conn:
            assert conn.execute(select(things.c.name).where(things.c.id == 1)).scalar() == "kept"
        for run in (conn_execute, direct.execute):
            with engine.begin() as conn:
                with pytest.raises(DataError):
                    run(conn, by_text, {"id": "not a number"})
                with pytest.raises(InternalError, match="current transaction is aborted"):
                    run(conn, rename, {"i": 1, "n": "lost"})
                conn.rollback()
        with engine.connect() as conn:
            assert conn.execute(select(things.c.name).where(things.c.id == 1)).scalar() == "kept"
    finally:
        engine.dispose()


def conn_execute(conn: Any, stmt: Any, params: Any) -> Any:
    return conn.execute(stmt, params)


def _sends_and_reads(engine: Any) -> list[str]:
    log: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *_: log.append("send"))
    event.listen(engine, "after_cursor_execute", lambda *_: log.append("read"))
    return log


def test_statements_sent_together_each_give_their_own_rows_all_sent_before_any_is_read(postgres_url: str) -> None:
    """#19: Direct.rows_each sends its statements in one pipeline: every one is sent before any
    result is read (the listeners see all the sends first), and each gets the rows, converted,
    that it gets alone."""
    engine = _engine(postgres_url)
    direct = Direct(engine.dialect)
    asks: list[tuple[Any, dict[str, Any]]] = [(BY_IDS, {"ids": [1, 3]}), (BY_LOUD, {"loud": "MIXED"}),
                                              (BY_IDS, {"ids": []}), (BY_IDS, {"ids": [2]})]
    try:
        with engine.connect() as conn:
            alone = [list(direct.rows(conn, stmt, params)) for stmt, params in asks]
            log = _sends_and_reads(engine)
            for _ in range(7):  # psycopg prepares a statement on its fifth run: the same rows after
                log.clear()
                assert direct.rows_each(conn, asks) == alone
                assert log == ["send"] * 4 + ["read"] * 4, log
        assert alone[1] == [{"id": 1, "loud": "MIXED"}] and alone[2] == []
    finally:
        engine.dispose()


def test_an_error_among_statements_sent_together_is_sqlalchemys_and_what_follows_it_never_runs(
        postgres_url: str) -> None:
    engine = _engine(postgres_url)
    direct = Direct(engine.dialect)
    by_text = select(things.c.id).where(things.c.id == cast(bindparam("id", type_=String), Integer))
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SEQUENCE IF EXISTS probe_seq")
        conn.exec_driver_sql("CREATE SEQUENCE probe_seq")
    counted = select(func.nextval("probe_seq"))
    try:
        with engine.connect() as conn:
            log = _sends_and_reads(engine)
            with pytest.raises(DataError) as raised:
                direct.rows_each(conn, [(BY_IDS, {"ids": [1]}), (by_text, {"id": "not a number"}), (counted, {})])
            assert "CAST" in str(raised.value.statement)  # the statement that failed is named
            assert log == ["send"] * 3, log  # nothing read is handed out
            conn.rollback()  # and the connection goes on
            again = [(BY_IDS, {"ids": [1]}), (BY_IDS, {"ids": [2]})]
            assert direct.rows_each(conn, again) == [list(direct.rows(conn, s, p)) for s, p in again]
        with engine.connect() as conn:  # the sequence was never advanced: its nextval never ran
            assert conn.exec_driver_sql("SELECT is_called FROM probe_seq").scalar() is False
    finally:
        engine.dispose()


def test_the_connectors_find_each_matches_find_sending_the_small_lookups_together(postgres_url: str) -> None:
    engine = _engine(postgres_url)
    engine.dispose()
    connector = SqlConnector(create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://")))
    many = list(range(1, 200))  # a batch this large is streamed through a cursor of its own, not sent together
    finds = [Find("things", "id", [3, 1]), Find("things", "name", ["ĄĘ ONE", "three"], ["id"], fold_case=True),
             Find("things", "id", many, ["id", "name"]), Find("things", "id", ["x"]), Find("things", "id", [2])]
    try:
        with connector.read() as conn:
            one_by_one = [list(connector.find(conn, f.collection, f.match, f.values, f.columns,
                                              fold_case=f.fold_case)) for f in finds]
            log = _sends_and_reads(connector.engine)
            assert connector.find_each(conn, finds) == one_by_one
        assert [sorted(r["id"] for r in rows) for rows in one_by_one] == [[1, 3], [1, 3], [1, 2, 3], [], [2]]
        assert log.index("read") == 3, log  # the three small lookups with values, sent before any is read
    finally:
        connector.engine.dispose()


@pytest.mark.parametrize("autocommit", [True, False])
def test_a_pipeline_that_fails_where_a_statement_would_be_prepared_leaves_no_broken_connection(
        postgres_url: str, autocommit: bool) -> None:
    """psycopg prepares a statement on its sixth run; when that run is in a pipeline after a
    failing statement, the server skips the prepare but psycopg records it as done. In a
    transaction the rollback clears the record; in autocommit the connection is discarded, so
    the pool's next connection runs the statement (found by a review, #19)."""
    engine = _engine(postgres_url)
    engine.dispose()
    engine = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"), pool_size=1,
                           max_overflow=0)
    direct = Direct(engine.dialect)
    by_text = select(things.c.id).where(things.c.id == cast(bindparam("id", type_=String), Integer))
    options = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    try:
        with engine.connect() as c:
            conn = c.execution_options(**options)
            for _ in range(5):
                assert [r["id"] for r in direct.rows(conn, BY_IDS, {"ids": [1]})] == [1]
            with pytest.raises(DataError):  # the sixth run of BY_IDS is the one psycopg prepares
                direct.rows_each(conn, [(by_text, {"id": "x"}), (BY_IDS, {"ids": [2]})])
            conn.rollback()
        for _ in range(3):  # later requests, on the pool's one connection
            with engine.connect() as c:
                conn = c.execution_options(**options)
                assert [r["id"] for r in direct.rows(conn, BY_IDS, {"ids": [3]})] == [3]
                assert direct.rows_each(conn, [(BY_IDS, {"ids": [1]}), (BY_IDS, {"ids": [2]})]) == [
                    list(direct.rows(conn, BY_IDS, {"ids": [1]})), list(direct.rows(conn, BY_IDS, {"ids": [2]}))]
    finally:
        engine.dispose()
