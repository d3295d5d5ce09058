"""Masking strategies, applied set-based to a batch of rows in one table (data plane).

The statement builders that :mod:`pledge.dataplane.writes` calls; they live in the data
plane because only it and the connectors build statements against the platform
(``tests/test_boundaries.py``). Callers outside name a collection and keys through
:mod:`pledge.dataplane.writes`.

Strategies (see ``pledge.datamap.model.Strategy``):

- ``delete``: remove the row (:func:`delete_rows`). As a *field* strategy it means
  "delete the value" and behaves as ``null``.
- ``null``: set NULL; a NOT NULL text column falls back to ``redact``.
- ``hmac``: a keyed pseudonym of the value (``pz_<hex>``), keyed per deployment by its
  newest subject key (``pledge.keys``). Equal values give equal pseudonyms, so pseudonymised
  data still joins (until the subject key rotates: later pseudonyms differ); a value
  that already is a pseudonym is left as it is, so masking twice is a no-op.
- ``redact``: a fixed mask (``[redacted]``); in a UNIQUE column the row's key is
  added so that rows stay distinct.
- ``fake``: a generated stand-in, seeded by the table, column and primary key, so a
  re-run writes exactly the same value.

A NOT NULL number, date, time or yes/no column is never overwritten with a made-up
zero: the record it belongs to would no longer add up (an invoice total of 0.00 beside
lines that keep their prices). Such a column is left as it is and reported as kept
(:func:`plan_columns`); a nullable one is set NULL.

Every call issues one UPDATE (or DELETE) per table and batch:
``UPDATE t SET a = CASE WHEN key = … THEN … END, b = NULL WHERE key IN (…)``, never one
statement per row. A key is the primary key, or the key fields the data map declares for
a table without one; a composite key is matched as a row value, ``(a, b) IN ((…), (…))``.
Primary keys and foreign-key columns are never masked; foreign keys may only be
*detached* (set NULL) on request. The same code runs on SQLite, PostgreSQL and MariaDB.
:func:`effect` and :func:`masked_value` say, before anything runs, exactly what a value
becomes, so a dry run and a report can be exact.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Enum,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    UniqueConstraint,
    and_,
    bindparam,
    case,
    delete,
    select,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from pledge.connectors.sql import key_in as sql_key_in
from pledge.errors import InvalidInput

BATCH_SIZE = 500
PSEUDONYM_PREFIX = "pz_"
REDACTED = "[redacted]"
_PSEUDONYM_RE = re.compile(r"^pz_[0-9a-f]{6,}$")
MASKING_STRATEGIES = ("null", "hmac", "redact", "fake")


class MaskingError(InvalidInput):
    """A masking request that cannot be applied as asked."""


@dataclass
class MaskResult:
    """What one masking call did."""

    table: str
    rows: int = 0
    #: column -> the strategy actually applied (a NOT NULL column asked for null gets redact)
    applied: dict[str, str] = field(default_factory=dict)
    #: column -> why it was not touched
    skipped: dict[str, str] = field(default_factory=dict)
    detached: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.table, "rows": self.rows, "applied": dict(self.applied),
                "skipped": dict(self.skipped), "detached": list(self.detached)}


# -- reflection helpers -----------------------------------------------------------------
def reflect_table(conn: Connection, name: str, metadata: MetaData | None = None) -> Table:
    """The live table ``name`` (columns, keys, unique constraints and indexes)."""
    return Table(name, metadata or MetaData(), autoload_with=conn)


def key_columns(table: Table, names: Sequence[str] | None = None) -> list[Column[Any]]:
    """The columns that key a row: ``names`` (a data map's declared key), else the primary key."""
    cols = [table.c[n] for n in names] if names else list(table.primary_key.columns)
    if not cols:
        raise MaskingError(f"table {table.name!r} has no primary key; declare its key fields "
                           "(primary_key: true) in the data map so that rows can be named")
    return cols


def primary_key_column(table: Table) -> Column[Any]:
    cols = list(table.primary_key.columns)
    if len(cols) != 1:
        raise MaskingError(f"table {table.name!r}: expected a one-column primary key, "
                           f"found {[c.name for c in cols] or 'none'}")
    return cols[0]


def key_in(cols: Sequence[Column[Any]], keys: Sequence[Any]) -> ColumnElement[bool]:
    """``key IN (…)``; a composite key as a row value, with the data plane's helper
    (:func:`pledge.connectors.sql.key_in`: ``a IN (…) AND (a, b) IN ((…), …)``, so every
    engine searches the key's index)."""
    if len(cols) == 1:
        return cols[0].in_(list(keys))
    table = cols[0].table
    return sql_key_in(table, [c.name for c in cols], [tuple(k) for k in keys])


def key_is(cols: Sequence[Column[Any]], key: Any) -> ColumnElement[bool]:
    """``key = value`` (one row), for CASE branches."""
    if len(cols) == 1:
        return cols[0] == bindparam(None, key, type_=cols[0].type)
    return and_(*[c == bindparam(None, v, type_=c.type) for c, v in zip(cols, key, strict=True)])


def row_key(cols: Sequence[Any], row: Sequence[Any]) -> Any:
    """A row's key: the value for a one-column key, a tuple for a composite one."""
    return row[0] if len(cols) == 1 else tuple(row[:len(cols)])


def protected_columns(table: Table) -> set[str]:
    """Primary-key and foreign-key columns: never masked."""
    out = {c.name for c in table.primary_key.columns}
    for fk in table.foreign_keys:
        out.add(fk.parent.name)
    return out


def unique_columns(table: Table) -> set[str]:
    """Columns that are unique on their own (constraint or unique index)."""
    out: set[str] = set()
    for cons in table.constraints:
        if isinstance(cons, UniqueConstraint) and len(cons.columns) == 1:
            out.update(c.name for c in cons.columns)
    for idx in table.indexes:
        if idx.unique and len(idx.columns) == 1:
            out.update(c.name for c in idx.columns)
    return out


def _is_text(col: Column[Any]) -> bool:
    return isinstance(col.type, String) and not isinstance(col.type, Enum)


def _max_length(col: Column[Any]) -> int | None:
    length = getattr(col.type, "length", None)
    return int(length) if length else None


def _fit(value: str, col: Column[Any]) -> str:
    length = _max_length(col)
    return value[:length] if length else value


# -- value makers -------------------------------------------------------------------------
def hmac_pseudonym(secret: str, value: Any, length: int | None = None) -> str:
    """The keyed pseudonym of ``value``; a pseudonym maps to itself."""
    text = str(value)
    if _PSEUDONYM_RE.match(text):
        return text
    digest = hmac.new(secret.encode(), b"pledge-pseudonym:" + text.encode(), hashlib.sha256).hexdigest()
    size = 32 if length is None else max(6, min(32, length - len(PSEUDONYM_PREFIX)))
    return PSEUDONYM_PREFIX + digest[:size]


def _seed(secret: str, *parts: Any) -> int:
    msg = ":".join(str(p) for p in parts).encode()
    return int.from_bytes(hmac.new(secret.encode(), msg, hashlib.sha256).digest()[:8], "big")


class _Faker:
    """One seeded Faker, made lazily (building one costs tens of milliseconds)."""

    def __init__(self) -> None:
        self._faker: Any = None

    def get(self, seed: int) -> Any:
        if self._faker is None:
            from faker import Faker

            self._faker = Faker()
        self._faker.seed_instance(seed)
        return self._faker


def fake_value(col: Column[Any], seed: int, fakers: _Faker, unique: bool = False) -> Any:
    """A plausible stand-in for one value of ``col``, fixed by ``seed``."""
    name = col.name.lower()
    if isinstance(col.type, DateTime):
        return datetime(1970, 1, 1) + timedelta(seconds=seed % (50 * 365 * 86400))
    if isinstance(col.type, Date):
        return date(1950, 1, 1) + timedelta(days=seed % (50 * 365))
    if isinstance(col.type, Boolean):
        return False
    if isinstance(col.type, Integer | Numeric):
        return 0
    if not _is_text(col):
        return None
    tag = f"{seed:016x}"[:10]
    if "email" in name:
        value = f"erased.{tag}@example.invalid"
    else:
        f = fakers.get(seed)
        if "phone" in name:
            value = f.phone_number()
        elif name == "ip" or name.startswith("ip_") or name.endswith("_ip"):
            value = f.ipv4_private()
        elif "address" in name:
            value = f.address().replace("\n", ", ")
        elif "name" in name:
            value = f.name()
        elif "company" in name:
            value = f.company()
        elif "user_agent" in name:
            value = f.user_agent()
        else:
            value = f.sentence(nb_words=6)
        if unique:
            value = f"{value} {tag}"
    return _fit(value, col)


def _key_text(key: Any) -> str:
    return "-".join(str(k) for k in key) if isinstance(key, tuple) else str(key)


def redact_value(col: Column[Any], pk: Any, unique: bool) -> Any:
    if isinstance(col.type, DateTime):
        return datetime(1970, 1, 1)
    if isinstance(col.type, Date):
        return date(1970, 1, 1)
    if isinstance(col.type, Boolean):
        return False
    if isinstance(col.type, Integer | Numeric):
        return 0
    if not _is_text(col):
        return None
    return _fit(f"[redacted-{_key_text(pk)}]" if unique else REDACTED, col)


# -- what a value becomes ----------------------------------------------------------------------
def effect(col: Column[Any], strategy: str, unique: bool = False) -> str:
    """What a column becomes under an applied strategy, in words for plans and reports:
    ``null``, ``[redacted]`` (``[redacted-<key>]`` in a unique column), ``hash`` (a keyed
    pseudonym ``pz_…``) or ``fake`` (a generated stand-in)."""
    if strategy == "null":
        return "null"
    if strategy == "hmac":
        return "hash"
    if strategy == "fake":
        return "fake"
    return "[redacted-<key>]" if unique else REDACTED


def masked_value(col: Column[Any], strategy: str, key: Any, current: Any, *, secret: str, table: str,
                 unique: bool, fakers: _Faker | None = None) -> Any:
    """The value ``current`` becomes in the row ``key`` (exactly what :func:`mask_rows` writes)."""
    if strategy == "null":
        return None
    if strategy == "hmac":
        return None if current is None else hmac_pseudonym(secret, current, _max_length(col))
    if strategy == "fake":
        return fake_value(col, _seed(secret, table, col.name, key), fakers or _Faker(), unique=unique)
    return redact_value(col, key, unique and _is_text(col))


# -- the statements ---------------------------------------------------------------------------
def batched(items: Sequence[Any], size: int = BATCH_SIZE) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def delete_rows(conn: Connection, table: Table, pks: Sequence[Any], batch_size: int = BATCH_SIZE, *,
                key: Sequence[str] | None = None) -> int:
    """``DELETE FROM t WHERE key IN (…)`` per batch; returns the rows removed."""
    cols = key_columns(table, key)
    removed = 0
    for batch in batched(list(pks), batch_size):
        res = conn.execute(delete(table).where(key_in(cols, batch)))
        removed += max(res.rowcount or 0, 0)
    return removed


def plan_columns(table: Table, strategies: Mapping[str, str],
                 protect: Iterable[str] = ()) -> tuple[dict[str, str], dict[str, str]]:
    """Each requested column to the strategy it will really get, or why it is left as it is.

    A NOT NULL text column asked for null gets ``redact``; a NOT NULL number, date or
    yes/no column is kept (a made-up zero would leave its record inconsistent); a nullable
    one asked for anything but null gets null; a column the live table lacks is an error
    (a misspelt data map must not give a false "done").
    """
    protected = protected_columns(table) | set(protect)
    applied: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for name, strategy in strategies.items():
        if strategy == "retain":
            continue
        if strategy == "delete":
            strategy = "null"
        if strategy not in MASKING_STRATEGIES:
            raise MaskingError(f"{table.name}.{name}: unknown strategy {strategy!r}; "
                               f"use one of {', '.join(MASKING_STRATEGIES)}, delete or retain")
        if name not in table.c:
            raise MaskingError(f"{table.name}.{name}: the data map names a column the live table does not "
                               f"have (columns: {', '.join(table.c.keys())})")
        col = table.c[name]
        if name in protected:
            skipped[name] = "primary or foreign key: never masked"
            continue
        if isinstance(col.type, Enum | JSON) and not (strategy == "null" and col.nullable):
            skipped[name] = f"{type(col.type).__name__} column can only be set NULL"
            continue
        if not _is_text(col):
            if not col.nullable:
                skipped[name] = "NOT NULL non-text column: kept (a made-up zero would break its record)"
                continue
            strategy = "null"
        if strategy == "null" and not col.nullable:
            strategy = "redact"
        applied[name] = strategy
    return applied, skipped


#: the name the retention rules import
_plan_columns = plan_columns


def _per_row(col: Column[Any], strategy: str, unique: bool) -> bool:
    return strategy in ("hmac", "fake") or (strategy == "redact" and unique and _is_text(col))


def mask_rows(conn: Connection, table: Table, pks: Sequence[Any], strategies: Mapping[str, str], *,
              secret: str, detach: Sequence[str] = (), protect: Iterable[str] = (),
              batch_size: int = BATCH_SIZE, key: Sequence[str] | None = None) -> MaskResult:
    """Mask ``strategies`` (column -> strategy) in the rows keyed ``pks``.

    ``detach`` names nullable foreign-key columns to set NULL in the same statement
    (so that a parent row can be deleted while this row stays). ``protect`` adds
    columns that must never change (declared references). ``key`` names the key columns
    (default: the primary key); keys of a composite key are tuples. One UPDATE per batch.
    """
    result = MaskResult(table=table.name)
    applied, skipped = plan_columns(table, strategies, protect)
    result.applied, result.skipped = applied, skipped
    for name in detach:
        col = table.c[name]
        if not col.nullable:
            raise MaskingError(f"{table.name}.{name} is NOT NULL: it cannot be detached")
        result.detached.append(name)
    if not pks or not (applied or result.detached):
        return result
    cols = key_columns(table, key)
    uniques = unique_columns(table)
    per_row = [n for n, s in applied.items() if _per_row(table.c[n], s, n in uniques)]
    hmac_cols = [n for n in per_row if applied[n] == "hmac"]
    fakers = _Faker()
    for batch in batched(list(pks), batch_size):
        keys = list(batch)
        current: dict[Any, Any] = {}
        if hmac_cols:
            rows = conn.execute(select(*cols, *[table.c[n] for n in hmac_cols]).where(key_in(cols, keys)))
            current = {row_key(cols, r): r[len(cols):] for r in rows}
            keys = [k for k in keys if k in current]
            if not keys:
                continue
        values: dict[str, ColumnElement[Any] | Any] = {}
        for name, strategy in applied.items():
            col = table.c[name]
            if name not in per_row:
                values[name] = None if strategy == "null" else redact_value(col, None, False)
                continue
            mapping: dict[Any, Any] = {}
            for k in keys:
                old = current[k][hmac_cols.index(name)] if strategy == "hmac" else None
                mapping[k] = masked_value(col, strategy, k, old, secret=secret, table=table.name,
                                          unique=name in uniques, fakers=fakers)
            values[name] = case(
                *[(key_is(cols, k), bindparam(None, v, type_=col.type)) for k, v in mapping.items()],
                else_=col,
            )
        for name in result.detached:
            values[name] = None
        res = conn.execute(update(table).where(key_in(cols, keys)).values(values))
        result.rows += max(res.rowcount or 0, 0)
    return result
