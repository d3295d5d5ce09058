"""Which rows: selections described as data, compiled to set-based SQL here.

Retention sweeps, legal holds and proofs say *which rows* of a collection they mean with a
small predicate algebra — pure data, no SQL — and run it through the operations below, so
that only the data plane and the connectors build statements against the platform
(``tests/test_boundaries.py``), and another kind of store can interpret the same
predicates its own way:

* :class:`Before` — a clock (a column, ``coalesce`` of several, or a column reached through
  declared references, :class:`Hop`: order lines dated by their invoice) is set and earlier
  than a moment. It is two-valued: a row without a clock, or whose reference leads nowhere,
  is simply not before;
* :class:`Dated` — that clock is set (reached through the same hops): with ``Not`` it names
  the rows an exemption cannot keep, having no date to count from;
* :class:`Condition` — the validated condition language (:mod:`pledge.dataplane.condition`);
* :class:`Unmasked` — some field still holds a value that masking takes away;
* :class:`Cmp`, :class:`IsNull`, :class:`OneOf` — one column compared with a value;
* :class:`KeyIn` — the row key (or other columns) is one of a set of tuples, matched as row
  values (:func:`pledge.connectors.sql.key_in`); :class:`KeyRange` bounds the leading
  column of the row key (how a sweep is split into tasks);
* :class:`All`, :class:`AnyOf`, :class:`Not`.

Rows are named by their row key (:meth:`pledge.connectors.base.Connector.row_key`), composite
or not; key order is the row key's column order, and keyset pages compare row values
(``a > x OR (a = x AND b > y)``, led by ``a >= x`` so every engine uses the key's index).
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, Union

from sqlalchemy import (
    DateTime,
    String,
    Table,
    and_,
    case,
    delete,
    exists,
    false,
    func,
    not_,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.sql.elements import ColumnElement

from pledge.autocommit import streamed
from pledge.connectors.base import Connector, ConnectorError, Handle, Key, Row, batched
from pledge.connectors.sql import SqlConnector, key_in
from pledge.dataplane.condition import parse_condition

__all__ = ["All", "AnyOf", "Before", "Cmp", "Condition", "Dated", "Hop", "IsNull", "KeyIn", "KeyRange", "Not", "OneOf", "Pred",
           "Unmasked",
           "check", "count", "counts", "delete_selected", "dump_key", "exists_where", "family", "first_key", "keys", "linked",
           "load_key", "maximum", "oldest", "rows", "scan", "sql"]

Expr = ColumnElement[Any]


# -- the predicates ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Hop:
    """From ``columns`` of the current row to the row of ``target`` whose ``target_columns`` hold them."""

    columns: tuple[str, ...]
    target: str
    target_columns: tuple[str, ...]


@dataclass(frozen=True)
class Before:
    """The clock (``columns``, coalesced, of the row reached through ``hops``) is set and before ``moment``."""

    columns: tuple[str, ...]
    moment: datetime
    hops: tuple[Hop, ...] = ()


@dataclass(frozen=True)
class Dated:
    """The clock (``columns``, coalesced, of the row reached through ``hops``) is set. A row
    whose reference is empty or leads nowhere is not dated."""

    columns: tuple[str, ...]
    hops: tuple[Hop, ...] = ()


@dataclass(frozen=True)
class Condition:
    text: str


@dataclass(frozen=True)
class Unmasked:
    """Some field still holds what masking takes away: ``strategies`` as masking will really
    apply them (``null``, ``redact``, ``hmac``), and ``detach`` links still set."""

    strategies: tuple[tuple[str, str], ...]
    detach: tuple[str, ...] = ()


@dataclass(frozen=True)
class KeyIn:
    """``columns`` (default: the row key) hold one of ``keys`` (tuples); every column set."""

    keys: tuple[Key, ...]
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cmp:
    """``column op value`` (``<``, ``<=``, ``>``, ``>=``, ``=``, ``!=``); a date compared with a
    datetime column counts from its midnight. NULL never compares: wrap in :class:`IsNull`."""

    column: str
    op: str
    value: Any


@dataclass(frozen=True)
class IsNull:
    column: str


@dataclass(frozen=True)
class OneOf:
    """``column`` holds one of ``values`` (text lower-cased on both sides with ``fold_case``)."""

    column: str
    values: tuple[Any, ...]
    fold_case: bool = False


@dataclass(frozen=True)
class KeyRange:
    """The leading row-key column lies in ``[low, high]`` (None: open on that side)."""

    low: Any = None
    high: Any = None


@dataclass(frozen=True)
class All:
    parts: tuple[Pred, ...] = ()


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Pred, ...] = ()


@dataclass(frozen=True)
class Not:
    part: Pred


Pred = Union[Before, Dated, Condition, Unmasked, Cmp, IsNull, OneOf, KeyIn, KeyRange, All, AnyOf, Not]  # noqa: UP007
_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "=": operator.eq, "!=": operator.ne}


# -- compiling ----------------------------------------------------------------------------------
def _sql(connector: Connector) -> SqlConnector:
    if not isinstance(connector, SqlConnector):
        raise ConnectorError(f"database {connector.name!r}: selections by time and condition need a SQL connector")
    return connector


def _moment(connector: SqlConnector, moment: datetime) -> datetime:
    """Aware UTC on PostgreSQL, naive UTC elsewhere (SQLite and MariaDB store naive UTC)."""
    aware = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    return aware if connector.dialect == "postgresql" else aware.replace(tzinfo=None)


def _col(table: Table, name: str) -> Any:
    if name not in table.c:
        raise ConnectorError(f"table {table.name!r} has no column {name!r}; it has {', '.join(table.c.keys())}")
    return table.c[name]


def _clock(table: Table, columns: Sequence[str]) -> Any:
    cols = [_col(table, c) for c in columns]
    return cols[0] if len(cols) == 1 else func.coalesce(*cols)


def _set(cols: Sequence[Any]) -> list[Expr]:
    return [c.is_not(None) for c in cols]


def _before(connector: SqlConnector, table: Table, p: Before) -> Expr:
    def before(last: Table) -> Expr:
        clock = _clock(last, p.columns)
        return and_(clock.is_not(None), clock < _moment(connector, p.moment))
    return _through(connector, table, p.hops, before)


def _dated(connector: SqlConnector, table: Table, p: Dated) -> Expr:
    return _through(connector, table, p.hops, lambda last: _clock(last, p.columns).is_not(None))


def _through(connector: SqlConnector, table: Table, hops: Sequence[Hop], last: Callable[[Table], Expr]) -> Expr:
    """``last`` holds for the row reached from ``table`` through ``hops`` (two-valued: a link
    that is empty or leads nowhere is simply false)."""
    if not hops:
        return last(table)
    # innermost first: the rows of the last table that qualify, then back hop by hop
    tables = [table, *[connector.table(h.target) for h in hops]]
    cond = last(tables[-1])
    for i in range(len(hops) - 1, -1, -1):
        hop, here, there = hops[i], tables[i], tables[i + 1]
        targets = [_col(there, c) for c in hop.target_columns]
        sub = select(*targets).where(cond, *_set(targets))
        mine = [_col(here, c) for c in hop.columns]
        match = mine[0].in_(sub) if len(mine) == 1 else tuple_(*mine).in_(sub)
        cond = and_(*_set(mine), match)
    return cond


def _unmasked(table: Table, p: Unmasked) -> Expr:
    from pledge.dataplane.masking import redact_value  # the values masking writes

    parts: list[Expr] = []
    for name, strategy in p.strategies:
        col = _col(table, name)
        if strategy == "null":
            parts.append(col.is_not(None))
        elif strategy == "hmac":
            parts.append(and_(col.is_not(None), not_(col.startswith("pz_", autoescape=True))))
        elif isinstance(col.type, String):
            parts.append(and_(col.is_not(None), not_(col.startswith("[redacted", autoescape=True))))
        else:
            parts.append(and_(col.is_not(None), col != redact_value(col, None, False)))
    parts.extend(_col(table, name).is_not(None) for name in p.detach)
    return or_(*parts) if parts else false()


def _key_cols(connector: SqlConnector, table: Table) -> list[Any]:
    names = connector.row_key(table.name)
    if not names:
        raise ConnectorError(f"table {table.name!r}: no row key to name its rows by")
    return [_col(table, c) for c in names]


def sql(connector: Connector, collection: str, pred: Pred) -> Expr:
    """``pred`` as a SQL expression over the live table ``collection``."""
    sc = _sql(connector)
    return _compile(sc, sc.table(collection), pred)


def _compile(connector: SqlConnector, table: Table, pred: Pred) -> Expr:
    if isinstance(pred, Before):
        return _before(connector, table, pred)
    if isinstance(pred, Dated):
        return _dated(connector, table, pred)
    if isinstance(pred, Condition):
        return parse_condition(pred.text, table)
    if isinstance(pred, Unmasked):
        return _unmasked(table, pred)
    if isinstance(pred, Cmp):
        col = _col(table, pred.column)
        value = pred.value
        if isinstance(value, date) and not isinstance(value, datetime) and isinstance(col.type, DateTime):
            value = datetime.combine(value, time())
        elif isinstance(value, datetime):
            value = _moment(connector, value)
        return _OPS[pred.op](col, value)  # type: ignore[no-any-return]
    if isinstance(pred, IsNull):
        return _col(table, pred.column).is_(None)  # type: ignore[no-any-return]
    if isinstance(pred, OneOf):
        col = _col(table, pred.column)
        if not pred.values:
            return false()
        if pred.fold_case:
            return func.lower(col).in_([v.lower() if isinstance(v, str) else v for v in pred.values])
        return col.in_(list(pred.values))  # type: ignore[no-any-return]
    if isinstance(pred, KeyIn):
        if not pred.keys:
            return false()
        names = list(pred.columns) or connector.row_key(table.name)
        return and_(*_set([_col(table, c) for c in names]), key_in(table, names, [tuple(k) for k in pred.keys]))
    if isinstance(pred, KeyRange):
        lead = _key_cols(connector, table)[0]
        parts = ([lead >= pred.low] if pred.low is not None else []) + \
            ([lead <= pred.high] if pred.high is not None else [])
        return and_(*parts) if parts else true()
    if isinstance(pred, All):
        return and_(*[_compile(connector, table, p) for p in pred.parts]) if pred.parts else true()
    if isinstance(pred, AnyOf):
        return or_(*[_compile(connector, table, p) for p in pred.parts]) if pred.parts else false()
    if isinstance(pred, Not):
        return not_(_compile(connector, table, pred.part))
    raise TypeError(f"not a selection: {pred!r}")


def _after(cols: Sequence[Any], key: Key, inclusive: bool = False) -> Expr:
    """The row key is after ``key`` (or equal, ``inclusive``), as row values."""
    ors: list[Expr] = []
    for i, col in enumerate(cols):
        eq = [cols[j] == key[j] for j in range(i)]
        ors.append(and_(*eq, col > key[i]))
    if inclusive:
        ors.append(and_(*[c == v for c, v in zip(cols, key, strict=True)]))
    return and_(cols[0] >= key[0], or_(*ors))


def _upto(cols: Sequence[Any], key: Key) -> Expr:
    """The row key is at or before ``key``."""
    ors: list[Expr] = [and_(*[c == v for c, v in zip(cols, key, strict=True)])]
    for i, col in enumerate(cols):
        ors.append(and_(*[cols[j] == key[j] for j in range(i)], col < key[i]))
    return and_(cols[0] <= key[0], or_(*ors))


def _key(value: Any) -> Key:
    return tuple(value) if isinstance(value, list | tuple) else (value,)


# -- operations ----------------------------------------------------------------------------------
def check(connector: Connector, collection: str, pred: Pred) -> None:
    """Compile ``pred`` once, so a bad condition or column is refused before anything runs."""
    sql(connector, collection, pred)


def count(connector: Connector, conn: Handle, collection: str, pred: Pred) -> int:
    sc = _sql(connector)
    table = sc.table(collection)
    return int(conn.execute(select(func.count()).select_from(table).where(_compile(sc, table, pred))).scalar() or 0)


def counts(connector: Connector, conn: Handle, collection: str, preds: Mapping[str, Pred]) -> dict[str, int]:
    """How many rows satisfy each of ``preds``, in one statement."""
    sc = _sql(connector)
    table = sc.table(collection)
    names = list(preds)
    if not names:
        return {}
    cols = [func.coalesce(func.sum(case((_compile(sc, table, preds[n]), 1), else_=0)), 0) for n in names]
    row = conn.execute(select(*cols).select_from(table)).one()
    return {n: int(v or 0) for n, v in zip(names, row, strict=True)}


def keys(connector: Connector, conn: Handle, collection: str, pred: Pred, *, after: Key | None = None,
         upto: Key | None = None, limit: int | None = None, offset: int = 0, descending: bool = False) -> list[Key]:
    """Row keys (tuples in row-key order) of the rows satisfying ``pred``, in key order,
    after ``after`` and at or before ``upto``."""
    sc = _sql(connector)
    table = sc.table(collection)
    cols = _key_cols(sc, table)
    q = select(*cols).where(_compile(sc, table, pred))
    if after is not None:
        q = q.where(_after(cols, _key(after)))
    if upto is not None:
        q = q.where(_upto(cols, _key(upto)))
    q = q.order_by(*[c.desc() for c in cols] if descending else cols)
    if offset:
        q = q.offset(offset)
    if limit is not None:
        q = q.limit(limit)
    return [tuple(r) for r in conn.execute(q)]


def first_key(connector: Connector, conn: Handle, collection: str, pred: Pred, *, after: Key | None = None,
              last: bool = False) -> Key | None:
    """The first (or ``last``) row key satisfying ``pred`` after ``after``; None when none does."""
    found = keys(connector, conn, collection, pred, after=after, limit=1, descending=last)
    return found[0] if found else None


def delete_selected(connector: Connector, conn: Handle, collection: str, pred: Pred, *,
                    after: Key | None = None, first: Key | None = None, upto: Key | None = None) -> int:
    """``DELETE`` the rows satisfying ``pred`` with a row key after ``after`` (or from ``first``)
    and at or before ``upto``: one statement. Returns the rows deleted."""
    sc = _sql(connector)
    table = sc.table(collection)
    cols = _key_cols(sc, table)
    parts = [_compile(sc, table, pred)]
    if after is not None:
        parts.append(_after(cols, _key(after)))
    elif first is not None:
        parts.append(_after(cols, _key(first), inclusive=True))
    if upto is not None:
        parts.append(_upto(cols, _key(upto)))
    return max(conn.execute(delete(table).where(and_(*parts))).rowcount or 0, 0)


def exists_where(connector: Connector, conn: Handle, collection: str, pred: Pred) -> bool:
    sc = _sql(connector)
    table = sc.table(collection)
    return bool(conn.execute(select(exists().where(_compile(sc, table, pred)))).scalar())


def oldest(connector: Connector, conn: Handle, collection: str, pred: Pred, clock: Before) -> Any:
    """The earliest clock value among the rows satisfying ``pred`` (read through the clock's hops)."""
    sc = _sql(connector)
    table = sc.table(collection)
    joined: Any = table
    here = table
    for hop in clock.hops:
        there = sc.table(hop.target)
        joined = joined.join(there, and_(*[_col(here, a) == _col(there, b)
                                           for a, b in zip(hop.columns, hop.target_columns, strict=True)]))
        here = there
    return conn.execute(select(func.min(_clock(here, clock.columns))).select_from(joined)
                        .where(_compile(sc, table, pred))).scalar()


def linked(connector: Connector, conn: Handle, collection: str, columns: Sequence[str], values: Sequence[Key],
           flags: Mapping[str, Pred] | None = None) -> Iterator[tuple[Key, Key, dict[str, bool]]]:
    """Rows of ``collection`` whose ``columns`` hold one of ``values`` (tuples; a foreign key into
    a parent's row key): ``(row key, link value, {flag: whether the row satisfies it})``.
    One ``SELECT`` per batch of values."""
    sc = _sql(connector)
    table = sc.table(collection)
    kcols = _key_cols(sc, table)
    lcols = [_col(table, c) for c in columns]
    named = list((flags or {}).items())
    extra = [case((_compile(sc, table, p), 1), else_=0).label(f"f{i}") for i, (_n, p) in enumerate(named)]
    size = max(1, sc.batch_size // max(1, len(columns)))
    wanted = sorted({tuple(v) for v in values}, key=repr)
    for chunk in batched(wanted, size):
        stmt = select(*kcols, *lcols, *extra).where(key_in(table, list(columns), list(chunk)))
        for row in conn.execute(stmt):
            n, m = len(kcols), len(lcols)
            yield (tuple(row[:n]), tuple(row[n:n + m]),
                   {name: bool(row[n + m + i]) for i, (name, _p) in enumerate(named)})


def scan(connector: Connector, conn: Handle, collection: str, columns: Sequence[str],
         pred: Pred | None = None, chunk: int = 5000, *, distinct: bool = False,
         order_folded: str | None = None, stream: bool = True) -> Iterator[Row]:
    """Every row (``columns`` of it) satisfying ``pred``, streamed in chunks (a full scan);
    ``distinct`` drops repeated rows in the database; ``order_folded`` orders by that column
    lower-cased (people by email, each engine alike). ``stream=False`` reads the answer in
    one go, for a ``pred`` that bounds it (a person's keys): a server-side cursor costs
    round trips of its own (declare, fetch, close) and a transaction (#19)."""
    sc = _sql(connector)
    table = sc.table(collection)
    stmt = select(*[_col(table, c) for c in dict.fromkeys(columns)])
    if pred is not None:
        stmt = stmt.where(_compile(sc, table, pred))
    if distinct:
        stmt = stmt.distinct()
    if order_folded is not None:
        stmt = stmt.order_by(func.lower(_col(table, order_folded)))
    if not stream:
        for row in conn.execute(stmt):
            yield dict(row._mapping)
        return
    yield from streamed(conn, stmt, None, chunk)


def rows(connector: Connector, conn: Handle, collection: str, pred: Pred, columns: Sequence[str],
         limit: int | None = None) -> list[Row]:
    """``columns`` of the rows satisfying ``pred``, in row-key order (the key's columns included)."""
    sc = _sql(connector)
    table = sc.table(collection)
    kcols = _key_cols(sc, table)
    names = list(dict.fromkeys([*(c.name for c in kcols), *columns]))
    q = select(*[_col(table, c) for c in names]).where(_compile(sc, table, pred)).order_by(*kcols)
    if limit is not None:
        q = q.limit(limit)
    return [dict(r._mapping) for r in conn.execute(q)]


def maximum(connector: Connector, conn: Handle, collection: str, column: str) -> Any:
    sc = _sql(connector)
    return conn.execute(select(func.max(_col(sc.table(collection), column)))).scalar()


def dump_key(key: Key) -> Any:
    """A row key as JSON (checkpoints, ledger scopes, reports): the value of a one-column key,
    a list for a composite one; dates and times as ISO text, decimals and uuids as text."""
    values = [v.isoformat() if isinstance(v, datetime | date | time) else
              str(v) if isinstance(v, Decimal | uuid.UUID) else v for v in key]
    return values[0] if len(values) == 1 else values


def load_key(connector: Connector, collection: str, value: Any) -> Key | None:
    """A key written by :func:`dump_key` back as a tuple of the columns' own types."""
    if value is None:
        return None
    raw = tuple(value) if isinstance(value, list | tuple) else (value,)
    out: list[Any] = []
    for name, v in zip(connector.row_key(collection), raw, strict=False):
        kind = family(connector, collection, name) if isinstance(v, str) else None
        if kind == "datetime":
            v = datetime.fromisoformat(v)
        elif kind == "date":
            v = date.fromisoformat(v)
        elif kind == "time":
            v = time.fromisoformat(v)
        elif kind == "uuid":
            v = uuid.UUID(v)
        elif kind == "float":
            v = Decimal(v)
        out.append(v)
    return tuple(out)


def family(connector: Connector, collection: str, column: str) -> str | None:
    """The type family of a live column (``integer``, ``string``, …); None when it is missing."""
    live = connector.describe(collection)
    found = live.fields.get(column) if live is not None else None
    return found.family if found is not None else None
