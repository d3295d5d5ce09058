"""Masks and deletes by row key, through the connectors: what erasure and retention write.

The statements are those of :mod:`pledge.dataplane.masking` (one ``UPDATE … SET a = CASE …``
or ``DELETE`` per table and batch of keys, composite keys as row values); callers name a
collection and keys, never a table object, so that only the data plane and the connectors
touch the platform's tables (``tests/test_boundaries.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import update as sa_update

from pledge.connectors.base import Connector, ConnectorError, Handle, batched
from pledge.connectors.sql import SqlConnector, key_in
from pledge.dataplane.masking import (
    MaskResult,
    _Faker,
    _is_text,
    delete_rows,
    effect,
    mask_rows,
    masked_value,
    plan_columns,
    unique_columns,
)

__all__ = ["MaskPreview", "delete", "mask", "planned", "set_values"]


def _sql(connector: Connector) -> SqlConnector:
    if not isinstance(connector, SqlConnector):
        raise ConnectorError(f"database {connector.name!r}: masking needs a SQL connector")
    return connector


def planned(connector: Connector, collection: str, strategies: Mapping[str, str],
            protect: Iterable[str] = ()) -> tuple[dict[str, str], dict[str, str]]:
    """Each requested column to the strategy masking will really apply, and why the others are
    left as they are (:func:`pledge.dataplane.masking.plan_columns` on the live table)."""
    return plan_columns(_sql(connector).table(collection), strategies, protect)


class MaskPreview:
    """What masking would write in one live collection, predicted before anything runs (the
    erasure planner's dry run): the same rules as :func:`mask`, read off the live table."""

    def __init__(self, connector: Connector, collection: str) -> None:
        self.collection = collection
        self._table = _sql(connector).table(collection)
        self.unique = unique_columns(self._table)

    def has(self, column: str) -> bool:
        return column in self._table.c

    def is_text(self, column: str) -> bool:
        """A free-text column (not an enum): the only kind a kept record may lose."""
        return column in self._table.c and _is_text(self._table.c[column])

    def nullable(self, column: str) -> bool:
        return column in self._table.c and bool(self._table.c[column].nullable)

    def plan(self, strategies: Mapping[str, str], protect: Iterable[str] = ()) -> tuple[dict[str, str], dict[str, str]]:
        """:func:`planned`: each column to the strategy really applied, and why others are kept."""
        return plan_columns(self._table, strategies, protect)

    def value(self, column: str, strategy: str, key: Any, current: Any, *, secret: str,
              fakers: _Faker | None = None) -> Any:
        """Exactly what ``current`` becomes in the row ``key``."""
        return masked_value(self._table.c[column], strategy, key, current, secret=secret, table=self.collection,
                            unique=column in self.unique, fakers=fakers)

    def effect(self, column: str, strategy: str) -> str:
        """What the column becomes, in words (``null``, ``[redacted]``, ``hash``, ``fake``)."""
        return effect(self._table.c[column], strategy, column in self.unique)


def mask(connector: Connector, conn: Handle, collection: str, keys: Sequence[Any], strategies: Mapping[str, str],
         *, secret: str, detach: Sequence[str] = (), key: Sequence[str] | None = None) -> MaskResult:
    """Mask ``strategies`` and cut ``detach`` links in the rows named by ``keys`` (a value for a
    one-column key, a tuple for a composite one; ``key`` names the columns, default the row key)."""
    sc = _sql(connector)
    names = list(key) if key else sc.row_key(collection)
    return mask_rows(conn, sc.table(collection), _keys(keys, names), strategies, secret=secret, detach=detach,
                     key=names)


def delete(connector: Connector, conn: Handle, collection: str, keys: Sequence[Any], *,
           key: Sequence[str] | None = None) -> int:
    """Delete the rows named by ``keys``; one statement per batch. Returns the rows deleted."""
    sc = _sql(connector)
    names = list(key) if key else sc.row_key(collection)
    return delete_rows(conn, sc.table(collection), _keys(keys, names), key=names)


def set_values(connector: Connector, conn: Handle, collection: str, keys: Sequence[Any], values: Mapping[str, Any],
               *, key: Sequence[str] | None = None) -> int:
    """Set ``values`` (column -> value) on the rows named by ``keys`` (tuples in ``key`` order,
    default the row key): one ``UPDATE … WHERE key IN (…)`` per batch, composite keys as row
    values. Returns the rows changed. (Rectification writes through this.)"""
    sc = _sql(connector)
    names = list(key) if key else sc.row_key(collection)
    table = sc.table(collection)
    for name in values:
        if name not in table.c:
            raise ConnectorError(f"table {sc.name}.{collection} has no column {name!r}; "
                                 f"it has {', '.join(table.c.keys())}")
    wanted = list(dict.fromkeys(tuple(k) if isinstance(k, list | tuple) else (k,) for k in keys))
    changed = 0
    for chunk in batched(wanted, max(1, sc.batch_size // max(1, len(names)))):
        stmt = sa_update(table).where(key_in(table, names, list(chunk))).values(dict(values))
        changed += max(conn.execute(stmt).rowcount or 0, 0)
    return changed


def _keys(keys: Sequence[Any], names: Sequence[str]) -> list[Any]:
    """Keys as masking wants them: bare values for a one-column key, tuples for a composite one."""
    if len(names) == 1:
        return [k[0] if isinstance(k, list | tuple) else k for k in keys]
    return [tuple(k) for k in keys]
