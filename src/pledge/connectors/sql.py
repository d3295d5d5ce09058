"""A SQLAlchemy Core connector: one code path for SQLite, PostgreSQL and MariaDB.

Tables are reflected once, on first use, and cached until :meth:`SqlConnector.refresh`
(the data plane calls it when :meth:`SqlConnector.fingerprint` changes). Reads are
``SELECT … WHERE col IN (…)`` over batches of values; large batches are streamed
(server-side cursors on PostgreSQL and MariaDB, ``yield_per`` everywhere), so a large result
never sits in memory twice, while a small lookup stays one round trip.

Rows are named by their row key, composite or not, and matched set-based with
:func:`key_in`: ``(a, b) IN ((…), (…))`` on PostgreSQL and MariaDB (both use the key's
index), preceded by ``a IN (…)`` so that SQLite, which scans for a bare row-value ``IN``,
searches the key's index too. Never one statement per row.

Case-insensitive lookups (the email rule) compare ``lower(column) IN (lower-cased values)``,
which an expression index on ``lower(column)`` serves on PostgreSQL and SQLite; a MariaDB
column whose collation already ignores case (``*_ci``, the default) is compared as it is, so
its ordinary index serves. Either way the rows are re-checked in Python
(:class:`pledge.dataplane.identity.Wanted`).
"""

from __future__ import annotations

import hashlib
import re
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Enum,
    MetaData,
    Select,
    String,
    Table,
    UniqueConstraint,
    and_,
    any_,
    bindparam,
    delete,
    func,
    inspect,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Engine as SAEngine
from sqlalchemy.exc import NoSuchTableError, SAWarning
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import TableClause

from pledge.autocommit import reading, streamed
from pledge.connectors.base import (
    DEFAULT_BATCH,
    CaseMatch,
    Connector,
    ConnectorError,
    Find,
    Handle,
    Key,
    LiveCollection,
    LiveField,
    Row,
    batched,
)
from pledge.datamap.types import live_family
from pledge.dataplane.identity import Wanted
from pledge.direct import Direct

STREAM_CHUNK = 1000
#: Batches with at least this many values are read through a server-side cursor. Small
#: batches (one person's handful of keys) are buffered: on PostgreSQL a named cursor
#: costs extra round trips (DECLARE, FETCH, CLOSE) that would triple a small lookup.
STREAM_FROM = 100
#: Tables that belong to tools, not to the platform.
TOOL_TABLES = {"alembic_version", "sqlite_sequence", "spatial_ref_sys"}


def key_in(table: Table | TableClause, pk_columns: Sequence[str], keys: Sequence[Key]) -> ColumnElement[bool]:
    """``WHERE`` the row key is one of ``keys`` (tuples in ``pk_columns`` order), set-based.

    One column: ``a IN (…)``. Several: ``a IN (…) AND (a, b) IN ((…), …)`` — a row-value
    ``IN`` that PostgreSQL and MariaDB answer from the key's index, with the leading column's
    ``IN`` so that SQLite (which scans for a bare row-value ``IN``) searches the index too.
    Keep ``len(keys) * len(pk_columns)`` under the engine's parameter limit (batch).
    """
    if not pk_columns:
        raise ConnectorError(f"table {table.name!r}: no row key to match rows by")
    cols = [table.c[c] for c in pk_columns]
    if len(cols) == 1:
        return cols[0].in_([k[0] for k in keys])
    firsts = list(dict.fromkeys(k[0] for k in keys))
    return and_(cols[0].in_(firsts), tuple_(*cols).in_([tuple(k) for k in keys]))


#: the values a BIGINT holds: an identity value outside them matches no integer column
_INT64 = (-(2**63), 2**63 - 1)


def _array_of(column_type: Any, lower: bool) -> ARRAY[Any] | None:
    """The array type that ``= ANY(:wanted)`` binds for a column of this type on PostgreSQL:
    BIGINT[] for an integer column, unbounded VARCHAR[] for text (a value longer than the
    column then matches nothing instead of failing the cast); None (``IN`` instead) for
    any other type."""
    family = "string" if lower else live_family(column_type)
    if family == "integer":
        return ARRAY(BigInteger())
    if family == "string" and not isinstance(column_type, Enum):
        return ARRAY(String())
    return None


@dataclass(frozen=True)
class _Lookup:
    """A :meth:`SqlConnector.find` made ready: its statement, its batches of values, and
    what it keeps of the rows that come back."""

    stmt: Select[Any]
    chunks: list[list[Any]]
    match: str
    wanted: Wanted
    drop_match: bool  # the match column was read only to re-check the rows

    def kept(self, rows: Iterable[Row]) -> Iterator[Row]:
        """The rows that match under the identity rule (whatever the collation said)."""
        for row in rows:
            if row.get(self.match) not in self.wanted:
                continue
            if self.drop_match:
                row.pop(self.match, None)
            yield row


def _naive_utc(moment: Any) -> Any:
    if isinstance(moment, datetime) and moment.tzinfo is not None:
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment


class SqlConnector(Connector):
    def __init__(self, engine: SAEngine, name: str = "main", batch_size: int = DEFAULT_BATCH) -> None:
        super().__init__()
        self.engine = engine
        self.name = name
        self.batch_size = batch_size
        self._lock = threading.RLock()
        self._reset()

    def _reset(self) -> None:
        self._metadata = MetaData()
        self._tables: dict[str, Table] = {}
        self._described: dict[str, LiveCollection | None] = {}
        self._names: list[str] | None = None
        self._ci: dict[str, set[str]] = {}
        self._finds: dict[tuple[str, str, tuple[str, ...] | None, bool], Select[Any]] = {}
        self._direct = Direct(self.engine.dialect)  # the plans of the statements in _finds
        self.row_keys = {}
        self.schema_state = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def begin(self) -> AbstractContextManager[Connection]:
        return self.engine.begin()

    def read(self) -> AbstractContextManager[Connection]:
        """For reads only, outside any transaction where that changes nothing they see
        (:func:`pledge.autocommit.reading`: PostgreSQL at READ COMMITTED; elsewhere one
        transaction for all of them)."""
        return reading(self.engine)

    @contextmanager
    def bulk(self, checkpoint_pages: int = 0) -> Iterator[Connection]:
        """One connection for many short transactions. On SQLite with ``checkpoint_pages`` its
        WAL is checkpointed every that many pages instead of after each commit (a checkpoint
        waits for two fsyncs); the old setting comes back and the WAL is checkpointed at the end."""
        with self.engine.connect() as conn:
            old = None
            if conn.dialect.name == "sqlite" and checkpoint_pages:
                old = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
                conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={int(checkpoint_pages)}")
                conn.commit()
            try:
                yield conn
            finally:
                if old is not None:
                    conn.rollback()
                    conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={int(old)}")
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
                    conn.commit()

    def is_database(self, url: str) -> bool:
        return self.engine.url.render_as_string(hide_password=False) == url

    def ping(self) -> None:
        """``SELECT 1`` on a fresh pooled connection (the readiness probe)."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    # -- describe ---------------------------------------------------------------------------
    def refresh(self) -> None:
        with self._lock:
            self._reset()

    def tables(self) -> list[str]:
        with self._lock:
            if self._names is None:
                self._names = sorted(n for n in inspect(self.engine).get_table_names() if n not in TOOL_TABLES)
            return list(self._names)

    def table(self, collection: str) -> Table:
        """The reflected table, cached after the first look."""
        found = self._tables.get(collection)
        if found is not None:
            return found
        with self._lock:
            if collection not in self._tables:
                try:
                    with warnings.catch_warnings():
                        # SQLite reflection skips indexes on expressions (the lower(email) ones
                        # datamap check asks for) with a warning; case_match() finds them instead
                        warnings.filterwarnings("ignore", "Skipped unsupported reflection", SAWarning)
                        self._tables[collection] = Table(collection, self._metadata, autoload_with=self.engine)
                except NoSuchTableError as exc:
                    raise ConnectorError(
                        f"database {self.name!r} has no table {collection!r} (the data map names it)"
                    ) from exc
            return self._tables[collection]

    def describe(self, collection: str) -> LiveCollection | None:
        if collection in self._described:
            return self._described[collection]
        with self._lock:
            try:
                table = self.table(collection)
            except ConnectorError:
                self._described[collection] = None
                return None
            fields = {c.name: LiveField(c.name, live_family(c.type), str(c.type), bool(c.nullable),
                                        bool(c.primary_key)) for c in table.columns}
            unique: list[tuple[str, ...]] = []
            for cons in table.constraints:
                if isinstance(cons, UniqueConstraint):
                    unique.append(tuple(c.name for c in cons.columns))
            for idx in table.indexes:
                cols = [e for e in idx.expressions if getattr(e, "table", None) is table]
                if idx.unique and cols and len(cols) == len(idx.expressions):
                    unique.append(tuple(c.name for c in idx.columns))
            fks = tuple((tuple(e.parent.name for e in fk.elements), fk.elements[0].column.table.name,
                         tuple(e.column.name for e in fk.elements)) for fk in table.foreign_key_constraints
                        if fk.elements)
            live = LiveCollection(collection, fields, tuple(c.name for c in table.primary_key.columns),
                                  tuple(dict.fromkeys(u for u in unique if u)), fks)
            self._described[collection] = live
            return live

    def columns(self, collection: str) -> list[str]:
        return [c.name for c in self.table(collection).columns]

    def primary_key(self, collection: str) -> list[str]:
        return [c.name for c in self.table(collection).primary_key.columns]

    def fingerprint(self) -> str:
        """A digest of the live catalogue: tables, columns, types, nullability, keys and indexes.

        SQLite: ``PRAGMA schema_version`` (bumped by every schema change). PostgreSQL and
        MariaDB: one catalogue query, hashed here."""
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                return f"sqlite:{conn.exec_driver_sql('PRAGMA schema_version').scalar()}"
            rows: Sequence[Any] | None
            if self.dialect == "postgresql":
                rows = conn.execute(text(_PG_FINGERPRINT)).all()
            elif self.dialect in ("mysql", "mariadb"):
                rows = conn.execute(text(_MYSQL_FINGERPRINT)).all()
            else:  # another engine: table names only
                rows = None
            values = [(n,) for n in inspect(conn).get_table_names()] if rows is None else \
                [tuple(r) for r in rows]
        digest = hashlib.sha256()
        for row in sorted(tuple(str(v) for v in r) for r in values):
            digest.update("\x1f".join(row).encode())
            digest.update(b"\x1e")
        return f"{self.dialect}:{digest.hexdigest()}"

    def case_insensitive_columns(self, collection: str) -> set[str]:
        """Columns whose collation compares text case-insensitively (MariaDB/MySQL ``*_ci``)."""
        if self.dialect not in ("mysql", "mariadb"):
            return set()
        if collection not in self._ci:
            with self.engine.connect() as conn:
                rows = conn.execute(text(
                    "SELECT COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS "
                    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t"), {"t": collection}).all()
            self._ci[collection] = {str(r[0]) for r in rows if r[1] and str(r[1]).lower().endswith("_ci")}
        return self._ci[collection]

    def case_match(self, collection: str, column: str) -> CaseMatch:
        native = column in self.case_insensitive_columns(collection)
        with self.engine.connect() as conn:
            if self.dialect in ("mysql", "mariadb"):
                rows = conn.execute(text(
                    "SELECT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
                    "AND TABLE_NAME = :t AND COLUMN_NAME = :c AND SEQ_IN_INDEX = 1"),
                    {"t": collection, "c": column}).all()
                collation = conn.execute(text(
                    "SELECT COLLATION_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
                    "AND TABLE_NAME = :t AND COLUMN_NAME = :c"), {"t": collection, "c": column}).scalar()
                return CaseMatch(native, bool(rows) and native,
                                 f"collation {collation}" + (f", index {rows[0][0]}" if rows else ", no index"))
            if self.dialect == "postgresql":
                defs = [str(r[0]) for r in conn.execute(text(
                    "SELECT indexdef FROM pg_indexes WHERE schemaname = ANY (current_schemas(false)) "
                    "AND tablename = :t"), {"t": collection})]
            elif self.dialect == "sqlite":
                defs = [str(r[0]) for r in conn.execute(text(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :t AND sql IS NOT NULL"),
                    {"t": collection})]
            else:
                defs = []
        pattern = re.compile(r"lower\s*\(\s*\(?\s*[\"`]?" + re.escape(column) + r"[\"`]?\s*\)?", re.IGNORECASE)
        hit = next((d for d in defs if pattern.search(d)), None)
        return CaseMatch(False, hit is not None, hit or "no index on lower(" + column + ")")

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

    # -- read ---------------------------------------------------------------------------------
    def _stream(self, conn: Connection, stmt: Any, size: int, params: dict[str, Any] | None = None, *,
                built_once: bool = False) -> Iterator[Row]:
        """A batch of ``size`` values or more streams through a server-side cursor; a small one
        is read at once, a statement ``built_once`` (kept by this connector) on the driver
        directly where that is exact (:mod:`pledge.direct`, #19)."""
        if size >= STREAM_FROM:
            yield from streamed(conn, stmt, params, STREAM_CHUNK)
            return
        if built_once:
            yield from self._direct.rows(conn, stmt, params)
            return
        for row in conn.execute(stmt, params):
            yield dict(row._mapping)

    def _find_statement(self, collection: str, match: str, picked: tuple[str, ...] | None,
                        lower: bool) -> Select[Any]:
        """``SELECT <picked, or every column> WHERE [lower(]match[)] IN :wanted``, built once
        per shape (#19: building a statement cost as much as running it) and run with the
        values as an expanding parameter (SQLAlchemy's compiled cache then knows it too).

        On PostgreSQL an integer or text column is matched with ``= ANY(:wanted)``, the
        values one array parameter: the same SQL for any number of values, so the server
        prepares it once, and SQLAlchemy renders nothing per call (an expanding parameter
        is rendered again at every execution)."""
        shape = (collection, match, picked, lower)
        stmt = self._finds.get(shape)
        if stmt is None:
            table = self.table(collection)
            key = self._column(collection, match)
            cols = [self._column(collection, c) for c in picked] if picked is not None else [table]
            matched = func.lower(key) if lower else key
            array = _array_of(key.type, lower) if self.dialect == "postgresql" else None
            cond = matched == any_(bindparam("wanted", type_=array)) if array is not None else \
                matched.in_(bindparam("wanted", expanding=True))
            stmt = select(*cols).where(cond)
            self._finds[shape] = stmt
        return stmt

    def _lookup(self, collection: str, match: str, values: Sequence[Any], columns: Sequence[str] | None,
                fold_case: bool) -> _Lookup:
        key = self._column(collection, match)
        fold = fold_case and live_family(key.type) == "string"
        wanted_cols = list(dict.fromkeys(columns)) if columns else None
        picked = [*(wanted_cols or []), *([] if wanted_cols is None or match in wanted_cols else [match])]
        coerced = self.coerce(collection, match, values)
        if fold:
            coerced = [v.lower() if isinstance(v, str) else v for v in coerced]
        coerced = list(dict.fromkeys(coerced))
        wanted = Wanted(coerced, fold)
        stmt = self._find_statement(collection, match, tuple(picked) if wanted_cols else None,
                                    fold and match not in self.case_insensitive_columns(collection))
        if live_family(key.type) == "integer":  # no integer column holds the rest (a driver refuses them)
            coerced = [v for v in coerced if not isinstance(v, int) or _INT64[0] <= v <= _INT64[1]]
        return _Lookup(stmt, [list(chunk) for chunk in batched(coerced, self.batch_size)], match, wanted,
                       wanted_cols is not None and match not in wanted_cols)

    def find(self, conn: Handle, collection: str, match: str, values: Sequence[Any],
             columns: Sequence[str] | None = None, *, fold_case: bool = False) -> Iterator[Row]:
        yield from self._found(conn, self._lookup(collection, match, values, columns, fold_case))

    def _found(self, conn: Handle, lookup: _Lookup) -> Iterator[Row]:
        for chunk in lookup.chunks:
            yield from lookup.kept(self._stream(conn, lookup.stmt, len(chunk), {"wanted": chunk}, built_once=True))

    def find_each(self, conn: Handle, finds: Sequence[Find]) -> list[list[Row]]:
        """:meth:`find` for each of ``finds``; the lookups of one small batch each (a person's
        handful of values) are sent to the server together where the driver can (one round
        trip for all of them: :meth:`pledge.direct.Direct.rows_each`, #19), the rest in turn."""
        lookups = [self._lookup(f.collection, f.match, f.values, f.columns, f.fold_case) for f in finds]
        small = [i for i, lk in enumerate(lookups) if len(lk.chunks) == 1 and len(lk.chunks[0]) < STREAM_FROM]
        sent: dict[int, list[Row]] = {}
        if len(small) > 1:
            sent = dict(zip(small, self._direct.rows_each(
                conn, [(lookups[i].stmt, {"wanted": lookups[i].chunks[0]}) for i in small]), strict=True))
        return [list(lookup.kept(sent[i])) if i in sent else list(self._found(conn, lookup))
                for i, lookup in enumerate(lookups)]

    def fetch(self, conn: Handle, collection: str, keys: Sequence[Key],
              columns: Sequence[str] | None = None) -> Iterator[Row]:
        table = self.table(collection)
        pk = self.row_key(collection)
        cols = [self._column(collection, c) for c in dict.fromkeys(columns)] if columns else list(table.columns)
        size = max(1, self.batch_size // max(1, len(pk)))
        for chunk in batched(list(dict.fromkeys(tuple(k) for k in keys)), size):
            yield from self._stream(conn, select(*cols).where(key_in(table, pk, chunk)), len(chunk))

    def find_between(self, conn: Handle, collection: str, column: str, low: Any, high: Any,
                     columns: Sequence[str] | None = None) -> Iterator[Row]:
        table = self.table(collection)
        col = self._column(collection, column)
        if not getattr(col.type, "timezone", False):
            low, high = _naive_utc(low), _naive_utc(high)
        cols = [self._column(collection, c) for c in dict.fromkeys(columns)] if columns else list(table.columns)
        yield from self._stream(conn, select(*cols).where(col >= low, col <= high), STREAM_FROM)

    # -- write ----------------------------------------------------------------------------------
    def _key_batches(self, collection: str, keys: Sequence[Key]) -> Iterator[Sequence[Key]]:
        pk = self.row_key(collection)
        size = max(1, self.batch_size // max(1, len(pk)))
        yield from batched(list(dict.fromkeys(tuple(k) for k in keys)), size)

    def update_keys(self, conn: Handle, collection: str, keys: Sequence[Key], values: Mapping[str, Any]) -> int:
        table = self.table(collection)
        pk = self.row_key(collection)
        for name in values:
            self._column(collection, name)
        changed = 0
        for chunk in self._key_batches(collection, keys):
            changed += max(conn.execute(update(table).where(key_in(table, pk, chunk)).values(dict(values)))
                           .rowcount or 0, 0)
        return changed

    def advance_keys(self, conn: Handle, collection: str, keys: Sequence[Key], column: str, value: Any) -> int:
        table = self.table(collection)
        pk = self.row_key(collection)
        col = self._column(collection, column)
        if not getattr(col.type, "timezone", False):
            value = _naive_utc(value)
        changed = 0
        for chunk in self._key_batches(collection, keys):
            stmt = update(table).where(key_in(table, pk, chunk), or_(col.is_(None), col < value)).values(
                {column: value})
            changed += max(conn.execute(stmt).rowcount or 0, 0)
        return changed

    def delete_keys(self, conn: Handle, collection: str, keys: Sequence[Key]) -> int:
        table = self.table(collection)
        pk = self.row_key(collection)
        gone = 0
        for chunk in self._key_batches(collection, keys):
            gone += max(conn.execute(delete(table).where(key_in(table, pk, chunk))).rowcount or 0, 0)
        return gone


# One row per column, index and constraint of the tables in the search path; hashed by the caller.
_PG_FINGERPRINT = """
SELECT 'c', c.relname, a.attnum::text, a.attname, a.atttypid::text, a.attnotnull::text
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relnamespace IN (SELECT oid FROM pg_namespace WHERE nspname = ANY (current_schemas(false)))
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'i', c.relname, i.indexrelid::text, i.indkey::text, i.indisunique::text,
       coalesce(pg_get_expr(i.indexprs, i.indrelid), '')
FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
WHERE c.relnamespace IN (SELECT oid FROM pg_namespace WHERE nspname = ANY (current_schemas(false)))
UNION ALL
SELECT 'k', c.relname, k.conname, k.contype::text, coalesce(k.conkey::text, ''), k.confrelid::text
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
WHERE c.relnamespace IN (SELECT oid FROM pg_namespace WHERE nspname = ANY (current_schemas(false)))
"""

_MYSQL_FINGERPRINT = """
SELECT 'c', TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COALESCE(COLLATION_NAME, '')
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()
UNION ALL
SELECT 'i', TABLE_NAME, INDEX_NAME, CAST(NON_UNIQUE AS CHAR), CAST(SEQ_IN_INDEX AS CHAR), COALESCE(COLUMN_NAME, '')
FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()
UNION ALL
SELECT 'k', TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, COALESCE(REFERENCED_TABLE_NAME, ''),
       COALESCE(REFERENCED_COLUMN_NAME, '')
FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE()
"""
