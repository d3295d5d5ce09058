"""Masks and deletes by row key, through the connectors: what erasure and retention write.

The statements are those of :mod:`pledge.rights.masking` (one ``UPDATE … SET a = CASE …``
or ``DELETE`` per table and batch of keys, composite keys as row values); callers name a
collection and keys, never a table object, so that only the data plane and the connectors
touch the platform's tables (``tests/test_boundaries.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pledge.connectors.base import Connector, ConnectorError, Handle
from pledge.connectors.sql import SqlConnector
from pledge.rights.masking import MaskResult, delete_rows, mask_rows, plan_columns

__all__ = ["delete", "mask", "planned"]


def _sql(connector: Connector) -> SqlConnector:
    if not isinstance(connector, SqlConnector):
        raise ConnectorError(f"database {connector.name!r}: masking needs a SQL connector")
    return connector


def planned(connector: Connector, collection: str, strategies: Mapping[str, str],
            protect: Iterable[str] = ()) -> tuple[dict[str, str], dict[str, str]]:
    """Each requested column to the strategy masking will really apply, and why the others are
    left as they are (:func:`pledge.rights.masking.plan_columns` on the live table)."""
    return plan_columns(_sql(connector).table(collection), strategies, protect)


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


def _keys(keys: Sequence[Any], names: Sequence[str]) -> list[Any]:
    """Keys as masking wants them: bare values for a one-column key, tuples for a composite one."""
    if len(names) == 1:
        return [k[0] if isinstance(k, list | tuple) else k for k in keys]
    return [tuple(k) for k in keys]
