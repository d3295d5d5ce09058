"""Helpers for the erasure tests: snapshots of a whole database, identifier scans."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, MetaData, inspect, select, text
from sqlalchemy.engine import Engine as SAEngine

from pledge.engine import Engine
from pledge.rights.erasure import erase

Eraser = Callable[[Engine, Mapping[str, Any]], dict[str, Any]]


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


def exempt_rows(report: dict[str, Any]) -> set[tuple[str, Any]]:
    """(table, pk) of rows the report keeps with a reason: retained rows, and masked rows kept
    under an exemption (their covered fields stay, by law)."""
    out = listed(report, "retained")
    for e in report["masked"]:
        if e.get("exemption"):
            out.update((e["collection"].split(".", 1)[1], k) for k in e["ids"])
    return out


def count_rows(conn: Connection, table: str) -> int:
    return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0)


def check_erased(engine: Engine, users_table: str, before: dict[str, Any], after: dict[str, Any],
                 person: dict[str, Any], report: dict[str, Any]) -> None:
    eng = engine.platform_engine(engine.dataset.databases[0].name)
    kept = exempt_rows(report)
    # rows the report lists as staying: the person's kept rows, and other people's rows whose
    # NOT NULL link to the person cannot be cut (the person's row they point at is anonymised)
    staying = listed(report, "masked", "retained", "others")
    touched = listed(report, "deleted", "masked", "retained")
    for col in ("email", "phone", "name", "person_tag", "person_name"):
        ident = person.get(col)
        if not ident:
            continue
        # rows of other people that happened to hold the same value (a common name) are fine
        others = {r for r in rows_holding(before, ident) if r not in touched}
        assert rows_holding(after, ident) - kept - others == set(), (col, rows_holding(after, ident) - kept)
    if "id" in person and users_table:
        # the id may stay only in rows the report lists as kept (an anonymised row others still need)
        holding = rows_with_id(after, links_to(eng, users_table), users_table, person["id"])
        assert holding <= staying, holding - staying
    for table, rows in before.items():
        for key, row in rows.items():
            if (table, key) not in touched:
                assert after[table].get(key) == row, (table, key)
    for table, key in listed(report, "deleted"):
        assert key not in after[table]


def erase_and_check(engine: Engine, users_table: str, uid: Any, eraser: Eraser) -> dict[str, Any]:
    """Erase the user ``uid`` by email with ``eraser`` (in-process ``erase`` or ``erase_fanout``)
    and check the outcome against the dry run and the database before and after; returns the report."""
    eng = engine.platform_engine(engine.dataset.databases[0].name)
    before = snapshot(eng)
    person = before[users_table][uid]
    dry = erase(engine, {"email": person["email"]}, plan=True)
    assert snapshot(eng) == before
    report = eraser(engine, {"email": person["email"]})
    assert fk_enforced(eng)
    after = snapshot(eng)
    for outcome in ("deleted", "masked", "retained"):
        assert listed(dry, outcome) == listed(report, outcome)
    assert report["totals"]["deleted"] > 0
    check_erased(engine, users_table, before, after, person, report)
    for entry in report["retained"]:
        assert entry["reason"]
        if entry.get("exemption"):
            assert entry["law"] == engine.policy.exemption(entry["exemption"]).law
    return report
