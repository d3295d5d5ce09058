"""The live schema is checked before anything runs.

:func:`require_live_schema` compares every database of the data map with its live store —
collections, fields, ``data_type``, keys (the row-key rule of :mod:`pledge.dataplane.rowkey`),
references and the ``facts:`` block — with :func:`pledge.datamap.check.compare_live`, the
same comparison ``pledge datamap check`` makes. Any error refuses the run with
:class:`SchemaMismatch`, which names ``file:line``, the field and the live columns. It also
sets each connector's row keys (``Connector.row_keys``) for reads, masks and deletes.

Every rights run calls it (through :func:`pledge.dataplane.resolve.resolve`, which locate,
access, erasure and rectification use), and so do retention sweeps, breach impact and proof
runs.

**Cache and refresh.** The result is kept per connector, that is per engine and process,
with the store's schema *fingerprint* (``Connector.fingerprint``: ``PRAGMA schema_version``
on SQLite, a digest of the catalogue's columns, indexes and constraints on PostgreSQL and
MariaDB). Within :data:`PROBE_SECONDS` of the last probe the cached verdict is reused
without a query; after that one cheap fingerprint query decides: unchanged, the verdict
stands; changed (a migration ran), the connector forgets its reflected tables and the
comparison runs again. So a schema change is noticed at most :data:`PROBE_SECONDS` later,
and a steady schema costs one small query per second at most. A mismatch is never reused
without a probe: a run retried after the schema is fixed sees the fix at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from time import monotonic
from typing import TYPE_CHECKING, Any

from pledge.connectors.base import Connector, ConnectorError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from pledge.context import Context
    from pledge.datamap.check import Finding
    from pledge.datamap.discover import EngineLike
    from pledge.datamap.model import Dataset

__all__ = ["PROBE_SECONDS", "SchemaMismatch", "live_column", "live_connector", "live_errors", "require_live_schema"]

#: How long a verdict is reused before the fingerprint is probed again.
PROBE_SECONDS = 1.0

_LOCK = threading.Lock()


class SchemaMismatch(ConnectorError):
    """The data map does not match the live schema; nothing was run. ``findings`` says where."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        lines = [f"  {f.where + ': ' if f.where else ''}{f.path}: {f.message} ({f.code})" for f in findings]
        super().__init__(
            "the data map does not match the live database, so nothing was run:\n" + "\n".join(lines)
            + "\nFix the data map (or the database), then check with: pledge datamap check")


@dataclass
class _Verdict:
    fingerprint: str
    probed: float
    errors: list[Finding]
    dataset: int  # id() of the dataset it was made for


def _static_errors(dataset: Dataset) -> list[Finding]:
    from pledge.datamap.check import Finding, _where

    out: list[Finding] = []
    for src, ref in dataset.references():
        if not dataset.has(ref.field):
            out.append(Finding("unknown-reference", "error", src,
                               f"references {ref.field}, which the dataset does not declare", _where(dataset, src)))
    return out


def live_errors(dataset: Dataset, database: str, connector: Connector) -> list[Finding]:
    """The errors of :func:`~pledge.datamap.check.compare_live` for one database; sets the
    connector's row keys on the way."""
    from pledge.datamap.check import compare_live

    keys: dict[str, tuple[str, ...]] = {}
    findings = compare_live(dataset, database, connector, row_keys=keys)
    connector.row_keys = keys
    return [f for f in findings if f.severity == "error"]


def _verdict(dataset: Dataset, database: str, connector: Connector) -> list[Finding]:
    state = connector.schema_state
    now = monotonic()
    # a clean verdict is reused briefly; a mismatch is probed again every time, so a run
    # retried right after the schema is fixed is not refused on a stale verdict
    if isinstance(state, _Verdict) and state.dataset == id(dataset) and not state.errors \
            and now - state.probed < PROBE_SECONDS:
        return state.errors
    fingerprint = connector.fingerprint()
    if isinstance(state, _Verdict) and state.dataset == id(dataset) and state.fingerprint == fingerprint:
        state.probed = now
        return state.errors
    if isinstance(state, _Verdict):
        connector.refresh()  # the schema changed: forget what was reflected before
    errors = live_errors(dataset, database, connector)
    connector.schema_state = _Verdict(fingerprint, now, errors, id(dataset))
    return errors


def require_live_schema(engine: Context, databases: Iterable[str] | None = None) -> None:
    """Refuse (:class:`SchemaMismatch`) unless the data map matches the live schema of every
    database (or only ``databases``). Cached per process; see the module docstring."""
    dataset = engine.dataset
    names = list(databases) if databases is not None else [d.name for d in dataset.databases]
    errors: list[Finding] = []
    for name in names:
        connector = engine.connectors.get(name)
        with _LOCK:
            errors.extend(_verdict(dataset, name, connector))
    errors.extend(_static_errors(dataset))
    if errors:
        raise SchemaMismatch(errors)


def live_column(connector: Connector, collection: str, field: str) -> Any | None:
    """The live column ``collection.field`` — its SQL type (length, enum values) and
    nullability — from the connector's cached reflection (refreshed with the schema, see the
    module notes); None when the table or column is missing. For validating values before
    they are written (rectification, the request centre's form)."""
    from pledge.connectors.sql import SqlConnector

    if not isinstance(connector, SqlConnector):
        return None
    try:
        table = connector.table(collection)
    except ConnectorError:
        return None
    return table.c.get(field)


@contextmanager
def live_connector(source: EngineLike, database: str) -> Iterator[tuple[Connector, Engine]]:
    """A SQL connector (and its engine) on the database ``source`` names — an engine, a
    connection, an inspector or a URL, as ``pledge datamap check`` is given — for comparing the
    data map with the live schema; an engine made here from a URL is disposed afterwards."""
    from sqlalchemy.engine import Connection
    from sqlalchemy.engine import Engine as SAEngine
    from sqlalchemy.engine.reflection import Inspector

    from pledge.connectors.sql import SqlConnector
    from pledge.extras import create_engine

    made: SAEngine | None = None
    if isinstance(source, str):
        eng = made = create_engine(source)
    elif isinstance(source, SAEngine):
        eng = source
    elif isinstance(source, Connection):
        eng = source.engine
    elif isinstance(source, Inspector) and isinstance(source.bind, SAEngine | Connection):
        eng = source.bind if isinstance(source.bind, SAEngine) else source.bind.engine
    else:
        raise TypeError(f"cannot check against {type(source).__name__}")
    try:
        yield SqlConnector(eng, database), eng
    finally:
        if made is not None:
            made.dispose()
