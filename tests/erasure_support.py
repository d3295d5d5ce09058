"""Helpers for the erasure tests: snapshots of a whole database, identifier scans."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, MetaData, inspect, select, text
from sqlalchemy.engine import Engine as SAEngine


def snapshot(eng: SAEngine) -> dict[str, dict[Any, dict[str, Any]]]:
    """Every row of every table, by primary key (values as strings, engine-neutral)."""
    md = MetaData()
    md.reflect(eng)
    out: dict[str, dict[Any, dict[str, Any]]] = {}
    with eng.connect() as conn:
        for name, table in md.tables.items():
            pk = next(iter(table.primary_key.columns)).name
            out[name] = {r._mapping[pk]: {k: _norm(v) for k, v in r._mapping.items()}
                         for r in conn.execute(select(table))}
    return out


def _norm(value: Any) -> Any:
    if value is None or isinstance(value, int | str | bool):
        return value
    return str(value)


def fk_enforced(eng: SAEngine) -> bool:
    """Whether the engine enforces foreign keys on a fresh connection."""
    with eng.connect() as conn:
        if eng.dialect.name == "sqlite":
            return bool(conn.execute(text("PRAGMA foreign_keys")).scalar())
        if eng.dialect.name in ("mysql", "mariadb"):
            return bool(conn.execute(text("SELECT @@foreign_key_checks")).scalar())
        return True  # PostgreSQL cannot turn them off per session without superuser triggers


def links_to(eng: SAEngine, parent: str) -> list[tuple[str, str]]:
    """(table, column) pairs with a live foreign key to ``parent``."""
    insp = inspect(eng)
    out = []
    for name in insp.get_table_names():
        for fk in insp.get_foreign_keys(name):
            if fk["referred_table"] == parent:
                out.extend((name, c) for c in fk["constrained_columns"])
    return out


def rows_holding(snap: dict[str, dict[Any, dict[str, Any]]], needle: str) -> set[tuple[str, Any]]:
    """(table, pk) of rows with a text value that contains ``needle`` (case-insensitive)."""
    needle = needle.lower()
    return {(t, k) for t, rows in snap.items() for k, row in rows.items()
            if any(isinstance(v, str) and needle in v.lower() for v in row.values())}


def rows_with_id(snap: dict[str, dict[Any, dict[str, Any]]], links: list[tuple[str, str]],
                 parent: str, value: Any) -> set[tuple[str, Any]]:
    """Rows whose primary key is ``value`` in ``parent``, or whose FK column holds it."""
    out = {(parent, value)} if value in snap.get(parent, {}) else set()
    for table, col in links:
        out.update((table, k) for k, row in snap[table].items() if row[col] == value)
    return out


def listed(report: dict[str, Any], *outcomes: str) -> set[tuple[str, Any]]:
    """(table, pk) of every row a report lists under ``outcomes``."""
    return {(e["collection"].split(".", 1)[1], k) for o in outcomes for e in report[o] for k in e["ids"]}


def count_rows(conn: Connection, table: str) -> int:
    return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0)
