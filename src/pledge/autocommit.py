"""Statements outside a transaction, where that changes nothing they see or do (#19).

PostgreSQL at READ COMMITTED, its default, takes a snapshot per statement inside a
transaction or not, so reads need no ``BEGIN``/``COMMIT`` round trips there; a single
write statement is atomic on its own at any level. Elsewhere, and on PostgreSQL at a
stricter level where a transaction's reads share one snapshot, these are ordinary
transactions. The store (:class:`pledge.store.Store`) and the SQL connector
(:class:`pledge.connectors.sql.SqlConnector`) both use them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Engine

__all__ = ["reading", "single_statement", "streamed"]


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads only: in autocommit on PostgreSQL at READ COMMITTED; otherwise
    its reads run in the one transaction the connection begins (rolled back at the end).
    Never write through it."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql" and conn.default_isolation_level == "READ COMMITTED":
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


@contextmanager
def single_statement(engine: Engine) -> Iterator[Connection]:
    """A connection for one write statement that is its own transaction: in autocommit on
    PostgreSQL; elsewhere a transaction committed at the end. Two statements through it on
    PostgreSQL would be two transactions: use it only where one statement does the whole write."""
    if engine.dialect.name != "postgresql":
        with engine.begin() as conn:
            yield conn
        return
    with engine.connect() as conn:
        yield conn.execution_options(isolation_level="AUTOCOMMIT")


def streamed(conn: Connection, stmt: Any, params: Mapping[str, Any] | None, chunk: int) -> Iterator[dict[str, Any]]:
    """The rows of ``stmt`` as dicts, through a server-side cursor ``chunk`` rows at a time.
    Such a cursor lives in a transaction: on a handle from :func:`reading` in autocommit, the
    statement gets a transaction of its own (it sees what it would see there)."""
    options = {"stream_results": True, "yield_per": chunk}
    if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        with conn.engine.begin() as own:
            for row in own.execute(stmt, params, execution_options=options):
                yield dict(row._mapping)
        return
    # per statement: Connection.execution_options() would change the caller's connection
    for row in conn.execute(stmt, params, execution_options=options):
        yield dict(row._mapping)
