"""A SQLAlchemy Core connector: one code path for SQLite, PostgreSQL and MariaDB.

Tables are reflected once, on first use, and cached. Reads are ``SELECT … WHERE col IN
(…)`` over batches of values; large batches are streamed (server-side cursors on
PostgreSQL and MariaDB, ``yield_per`` everywhere), so a large result never sits in memory
twice, while a small lookup stays one round trip.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, MetaData, Table, select
from sqlalchemy.engine import Engine as SAEngine
from sqlalchemy.exc import NoSuchTableError

from pledge.connectors.base import DEFAULT_BATCH, Connector, ConnectorError, Row, batched

STREAM_CHUNK = 1000
#: Batches with at least this many values are read through a server-side cursor. Small
#: batches (one person's handful of keys) are buffered: on PostgreSQL a named cursor
#: costs extra round trips (DECLARE, FETCH, CLOSE) that would triple a small lookup.
STREAM_FROM = 100


class SqlConnector(Connector):
    def __init__(self, engine: SAEngine, name: str = "main", batch_size: int = DEFAULT_BATCH) -> None:
        self.engine = engine
        self.name = name
        self.batch_size = batch_size
        self._metadata = MetaData()
        self._tables: dict[str, Table] = {}

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def begin(self) -> AbstractContextManager[Connection]:
        return self.engine.begin()

    def table(self, collection: str) -> Table:
        """The reflected table, cached after the first look."""
        if collection not in self._tables:
            try:
                self._tables[collection] = Table(collection, self._metadata, autoload_with=self.engine)
            except NoSuchTableError as exc:
                raise ConnectorError(
                    f"database {self.name!r} has no table {collection!r} (the data map names it)"
                ) from exc
        return self._tables[collection]

    def columns(self, collection: str) -> list[str]:
        return [c.name for c in self.table(collection).columns]

    def primary_key(self, collection: str) -> list[str]:
        return [c.name for c in self.table(collection).primary_key.columns]

    def _column(self, collection: str, column: str) -> Any:
        table = self.table(collection)
        if column not in table.c:
            raise ConnectorError(
                f"table {self.name}.{collection} has no column {column!r}; "
                f"it has {', '.join(table.c.keys())}"
            )
        return table.c[column]

    def coerce(self, collection: str, column: str, values: Sequence[Any]) -> list[Any]:
        col = self._column(collection, column)
        try:
            pytype: type | None = col.type.python_type
        except NotImplementedError:
            pytype = None
        out: list[Any] = []
        for v in values:
            if v is None:
                continue
            if pytype is int and not isinstance(v, int):
                try:
                    v = int(str(v).strip())
                except ValueError:
                    continue
            elif pytype is str and not isinstance(v, str):
                v = str(v)
            out.append(v)
        return out

    def select_in(self, conn: Connection, collection: str, match: str, values: Sequence[Any],
                  columns: Sequence[str] | None = None) -> Iterator[Row]:
        table = self.table(collection)
        key = self._column(collection, match)
        cols = [self._column(collection, c) for c in columns] if columns else list(table.columns)
        values = self.coerce(collection, match, values)
        for chunk in batched(values, self.batch_size):
            stmt = select(*cols).where(key.in_(chunk))
            # per statement: Connection.execution_options() would change the caller's connection
            options = {"stream_results": True, "yield_per": STREAM_CHUNK} if len(chunk) >= STREAM_FROM else {}
            result = conn.execute(stmt, execution_options=options)
            for row in result:
                yield dict(row._mapping)
