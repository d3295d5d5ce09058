"""``Connector.read()`` and ``Store.read()`` (#19, :mod:`pledge.autocommit`): reads outside a transaction only where that changes nothing.

On PostgreSQL at READ COMMITTED every statement takes its own snapshot, in a transaction or
not, so the handle is in autocommit (no ``BEGIN``/``COMMIT`` round trips). At a stricter
level a transaction's reads share one snapshot, and the handle keeps it: a row another
connection commits between two reads is not seen by the second. The rows read are the same
on every engine."""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from pledge.connectors.sql import SqlConnector
from pledge.store import Store


def _connector(url: str) -> SqlConnector:
    eng = create_engine(url)
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE people (id INTEGER PRIMARY KEY, email VARCHAR(100))"))
        conn.execute(text("INSERT INTO people (id, email) VALUES (1, 'a@example.org'), (2, 'b@example.org')"))
    return SqlConnector(eng)


def _ids(connector: SqlConnector, conn: object) -> list[int]:
    return sorted(int(r["id"]) for r in connector.select_in(conn, "people", "id", [1, 2, 3]))


def _add_third(url: str) -> None:
    other = create_engine(url)
    with other.begin() as conn:
        conn.execute(text("INSERT INTO people (id, email) VALUES (3, 'c@example.org')"))
    other.dispose()


def test_read_gives_the_same_rows_on_every_engine(any_db_url: str) -> None:
    connector = _connector(any_db_url)
    try:
        with connector.read() as conn:
            assert _ids(connector, conn) == [1, 2]
    finally:
        connector.engine.dispose()


def test_at_read_committed_postgresql_reads_outside_a_transaction(postgres_url: str) -> None:
    connector = _connector(postgres_url)
    try:
        with connector.read() as conn:
            assert conn.default_isolation_level == "READ COMMITTED"
            assert conn.connection.driver_connection.autocommit  # type: ignore[union-attr]
            assert _ids(connector, conn) == [1, 2]
            _add_third(postgres_url)
            assert _ids(connector, conn) == [1, 2, 3]  # as a READ COMMITTED transaction would see it too
    finally:
        connector.engine.dispose()


def _strict(url: str) -> str:
    return make_url(url).update_query_dict(
        {"options": "-c default_transaction_isolation=repeatable\\ read"}).render_as_string(hide_password=False)


def test_at_a_stricter_level_postgresql_reads_keep_one_snapshot(postgres_url: str) -> None:
    strict = _strict(postgres_url)
    connector = _connector(strict)
    try:
        with connector.read() as conn:
            assert conn.default_isolation_level == "REPEATABLE READ"
            assert _ids(connector, conn) == [1, 2]
            _add_third(strict)
            assert _ids(connector, conn) == [1, 2]  # the snapshot of the first read
    finally:
        connector.engine.dispose()


def test_the_store_reads_the_same_way(postgres_url: str) -> None:
    """The store's reads (a person's consent, restriction and objection records for their
    access package are read on one of them) keep one snapshot at a stricter level too."""
    strict = _strict(postgres_url)
    _connector(strict).engine.dispose()  # the people table
    store = Store(strict, auto_upgrade=False)
    try:
        with store.read() as conn:
            assert conn.scalar(text("SELECT count(*) FROM people")) == 2
            _add_third(strict)
            assert conn.scalar(text("SELECT count(*) FROM people")) == 2
        with store.read() as conn:
            assert conn.scalar(text("SELECT count(*) FROM people")) == 3
    finally:
        store.dispose()


def test_a_streamed_scan_on_a_read_handle_gets_a_transaction_of_its_own(any_db_url: str) -> None:
    """``selection.scan`` streams through a server-side cursor, which needs a transaction;
    on a handle from ``read()`` (autocommit on PostgreSQL) it gets one of its own, and a
    bounded scan (``stream=False``) reads at once, on every engine."""
    from pledge.dataplane import selection

    connector = _connector(any_db_url)
    try:
        with connector.read() as conn:
            streamed = sorted(int(r["id"]) for r in selection.scan(connector, conn, "people", ["id", "email"]))
            at_once = sorted(int(r["id"]) for r in selection.scan(connector, conn, "people", ["id"], stream=False))
        assert streamed == at_once == [1, 2]
    finally:
        connector.engine.dispose()


def test_find_matches_the_same_rows_on_every_engine_and_one_sql_on_postgresql(any_db_url: str) -> None:
    """#19: on PostgreSQL ``find`` binds the values as one array (``= ANY``): the same SQL for
    one value or many (prepared once by the server). The rows are what a plain ``IN`` query
    gives, on every engine; case folding still matches; a value longer than the column or
    beyond BIGINT matches nothing instead of failing."""
    from sqlalchemy import event

    connector = _connector(any_db_url)
    sent: list[str] = []
    event.listen(connector.engine, "before_cursor_execute",
                 lambda _c, _cur, stmt, *_: sent.append(stmt) if "people" in stmt else None)
    try:
        with connector.engine.connect() as conn:
            expected = sorted(conn.execute(text("SELECT id FROM people WHERE email IN ('a@example.org', "
                                                "'b@example.org')")).scalars())
        with connector.read() as conn:
            def ids(column: str, values: list[object], fold: bool = False) -> list[int]:
                return sorted(int(r["id"]) for r in connector.find(conn, "people", column, values, fold_case=fold))

            assert ids("email", ["a@example.org"]) == [1]
            assert ids("email", ["a@example.org", "b@example.org", "z@example.org"]) == expected == [1, 2]
            assert ids("email", ["B@Example.ORG"], fold=True) == [2]
            assert ids("email", ["x" * 500 + "@example.org", "a@example.org"]) == [1]  # longer than VARCHAR(100)
            assert ids("id", [2**70, 1, "2"]) == [1, 2]  # beyond BIGINT: no match, no error
        finds = [s for s in sent if "email" in s.split("WHERE")[-1] and not s.startswith("SELECT id FROM")][:2]
        if any_db_url.startswith("postgresql"):
            assert len(finds) == 2 and finds[0] == finds[1] and "ANY" in finds[0], finds
    finally:
        connector.engine.dispose()
