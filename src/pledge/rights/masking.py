"""Masking strategies, applied set-based to a batch of rows in one table.

Strategies (see ``pledge.datamap.model.Strategy``):

- ``delete``: remove the row (:func:`delete_rows`). As a *field* strategy it means
  "delete the value" and behaves as ``null``.
- ``null``: set NULL; a NOT NULL column falls back to ``redact``.
- ``hmac``: a keyed pseudonym of the value (``pz_<hex>``), keyed per deployment by the
  engine's secret. Equal values give equal pseudonyms, so pseudonymised data still
  joins; a value that already is a pseudonym is left as it is, so masking twice is a
  no-op.
- ``redact``: a fixed mask (``[redacted]``); in a UNIQUE column the row's key is
  added so that rows stay distinct.
- ``fake``: a generated stand-in, seeded by the table, column and primary key, so a
  re-run writes exactly the same value.

Every call issues one UPDATE (or DELETE) per table and batch:
``UPDATE t SET a = CASE id WHEN … THEN … END, b = NULL WHERE id IN (…)``, never one
statement per row. Primary keys and foreign-key columns are never masked; foreign
keys may only be *detached* (set NULL) on request. The same code runs on SQLite,
PostgreSQL and MariaDB.
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
    bindparam,
    case,
    delete,
    select,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

BATCH_SIZE = 500
PSEUDONYM_PREFIX = "pz_"
REDACTED = "[redacted]"
_PSEUDONYM_RE = re.compile(r"^pz_[0-9a-f]{6,}$")
MASKING_STRATEGIES = ("null", "hmac", "redact", "fake")


class MaskingError(ValueError):
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


def primary_key_column(table: Table) -> Column[Any]:
    cols = list(table.primary_key.columns)
    if len(cols) != 1:
        raise MaskingError(f"table {table.name!r}: set-based erasure needs a one-column primary key, "
                           f"found {[c.name for c in cols] or 'none'}")
    return cols[0]


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
    return _fit(f"[redacted-{pk}]" if unique else REDACTED, col)


# -- the statements ---------------------------------------------------------------------------
def batched(items: Sequence[Any], size: int = BATCH_SIZE) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def delete_rows(conn: Connection, table: Table, pks: Sequence[Any], batch_size: int = BATCH_SIZE) -> int:
    """``DELETE FROM t WHERE pk IN (…)`` per batch; returns the rows removed."""
    pk = primary_key_column(table)
    removed = 0
    for batch in batched(list(pks), batch_size):
        res = conn.execute(delete(table).where(pk.in_(list(batch))))
        removed += max(res.rowcount or 0, 0)
    return removed


def _plan_columns(table: Table, strategies: Mapping[str, str],
                  protect: Iterable[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Each requested column to the strategy it will really get, or why it is skipped."""
    protected = protected_columns(table) | set(protect)
    uniques = unique_columns(table)
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
            skipped[name] = "no such column in the live table"
            continue
        col = table.c[name]
        if name in protected:
            skipped[name] = "primary or foreign key: never masked"
            continue
        if isinstance(col.type, Enum | JSON) and not (strategy == "null" and col.nullable):
            skipped[name] = f"{type(col.type).__name__} column can only be set NULL"
            continue
        if strategy == "null" and not col.nullable:
            strategy = "redact"
        if strategy == "hmac" and not _is_text(col):
            strategy = "null" if col.nullable else "redact"
        if strategy == "redact" and not _is_text(col) and col.nullable:
            strategy = "null"
        if strategy == "redact" and name in uniques:
            strategy = "redact"  # per row, keyed by pk (see redact_value)
        applied[name] = strategy
    return applied, skipped


def _per_row(col: Column[Any], strategy: str, unique: bool) -> bool:
    return strategy in ("hmac", "fake") or (strategy == "redact" and unique and _is_text(col))


def mask_rows(conn: Connection, table: Table, pks: Sequence[Any], strategies: Mapping[str, str], *,
              secret: str, detach: Sequence[str] = (), protect: Iterable[str] = (),
              batch_size: int = BATCH_SIZE) -> MaskResult:
    """Mask ``strategies`` (column -> strategy) in the rows with primary keys ``pks``.

    ``detach`` names nullable foreign-key columns to set NULL in the same statement
    (so that a parent row can be deleted while this row stays). ``protect`` adds
    columns that must never change (declared references). One UPDATE per batch.
    """
    result = MaskResult(table=table.name)
    applied, skipped = _plan_columns(table, strategies, protect)
    result.applied, result.skipped = applied, skipped
    for name in detach:
        col = table.c[name]
        if not col.nullable:
            raise MaskingError(f"{table.name}.{name} is NOT NULL: it cannot be detached")
        result.detached.append(name)
    if not pks or not (applied or result.detached):
        return result
    pk = primary_key_column(table)
    uniques = unique_columns(table)
    per_row = [n for n, s in applied.items() if _per_row(table.c[n], s, n in uniques)]
    hmac_cols = [n for n in per_row if applied[n] == "hmac"]
    fakers = _Faker()
    for batch in batched(list(pks), batch_size):
        keys = list(batch)
        current: dict[Any, Any] = {}
        if hmac_cols:
            rows = conn.execute(select(pk, *[table.c[n] for n in hmac_cols]).where(pk.in_(keys)))
            current = {r[0]: r for r in rows}
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
            for key in keys:
                if strategy == "hmac":
                    old = current[key][hmac_cols.index(name) + 1]
                    mapping[key] = None if old is None else hmac_pseudonym(secret, old, _max_length(col))
                elif strategy == "fake":
                    mapping[key] = fake_value(col, _seed(secret, table.name, name, key), fakers,
                                              unique=name in uniques)
                else:
                    mapping[key] = redact_value(col, key, True)
            values[name] = case(
                *[(pk == bindparam(None, k, type_=pk.type), bindparam(None, v, type_=col.type))
                  for k, v in mapping.items()],
                else_=col,
            )
        for name in result.detached:
            values[name] = None
        res = conn.execute(update(table).where(pk.in_(keys)).values(values))
        result.rows += max(res.rowcount or 0, 0)
    return result
