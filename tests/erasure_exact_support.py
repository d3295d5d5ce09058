"""Helpers for the exact-erasure tests: whole-database snapshots keyed by each table's own
key (composite keys as tuples, declared keys for tables without one), a before/after diff,
the check that a report equals that diff field by field, and a restore of a snapshot."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import MetaData, delete, insert, select
from sqlalchemy.engine import Engine as SAEngine

from pledge.engine import Engine
from pledge.settings import Config, Settings

Snap = dict[str, dict[Any, dict[str, Any]]]


def snap(eng: SAEngine, declared: Mapping[str, list[str]] | None = None) -> Snap:
    """Every row of every table by its key (values exactly as the driver returns them)."""
    md = MetaData()
    md.reflect(eng)
    out: Snap = {}
    with eng.connect() as conn:
        for name, table in md.tables.items():
            cols = [c.name for c in table.primary_key.columns] or list((declared or {}).get(name, []))
            if not cols:
                cols = [c.name for c in table.columns]
            rows: dict[Any, dict[str, Any]] = {}
            for r in conn.execute(select(table)):
                m = dict(r._mapping)
                key = m[cols[0]] if len(cols) == 1 else tuple(m[c] for c in cols)
                assert key not in rows, f"{name}: two rows share the key {key!r}"
                rows[key] = m
            out[name] = rows
    return out


def restore(eng: SAEngine, saved: Snap) -> None:
    """Put ``saved`` back: every table emptied (children first), then refilled (parents first)."""
    md = MetaData()
    md.reflect(eng)
    with eng.begin() as conn:
        for table in reversed(md.sorted_tables):
            conn.execute(delete(table))
        for table in md.sorted_tables:
            rows = list(saved.get(table.name, {}).values())
            if rows:
                conn.execute(insert(table), rows)


def _key(k: Any) -> Any:
    return tuple(k) if isinstance(k, list) else k


def entries_rows(report: dict[str, Any], *outcomes: str) -> dict[tuple[str, Any], dict[str, Any]]:
    """(table, key) -> the report entry that lists it, for ``outcomes``."""
    out: dict[tuple[str, Any], dict[str, Any]] = {}
    for o in outcomes:
        for e in report.get(o, []):
            for k in e["ids"]:
                rid = (e["collection"].split(".", 1)[1], _key(k))
                assert rid not in out, f"{rid} listed twice"
                out[rid] = e
    return out


def diff(before: Snap, after: Snap) -> tuple[set[tuple[str, Any]], dict[tuple[str, Any], set[str]]]:
    """Rows gone, and rows changed with the columns that changed."""
    gone: set[tuple[str, Any]] = set()
    changed: dict[tuple[str, Any], set[str]] = {}
    for table, rows in before.items():
        for key, row in rows.items():
            new = after.get(table, {}).get(key)
            if new is None:
                gone.add((table, key))
                continue
            cols = {c for c, v in row.items() if _norm(new[c]) != _norm(v)}
            if cols:
                changed[(table, key)] = cols
        for key in after.get(table, {}):
            assert key in rows, f"{table}: row {key!r} appeared"
    return gone, changed


def _norm(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def assert_report_is_diff(report: dict[str, Any], before: Snap, after: Snap) -> None:
    """The report says exactly what happened: rows deleted are gone, rows masked changed in
    exactly the listed fields (to what ``fields`` says), everything else is unchanged."""
    gone, changed = diff(before, after)
    deleted = entries_rows(report, "deleted")
    masked = entries_rows(report, "masked")
    assert set(deleted) == gone, (set(deleted) ^ gone)
    assert set(masked) == set(changed), (set(masked) ^ set(changed))
    for rid, entry in masked.items():
        table, key = rid
        fields = dict(entry.get("fields", {}))
        detached = set(entry.get("detached", []))
        assert changed[rid] == set(fields) | detached, (rid, changed[rid], fields, detached)
        new = after[table][key]
        for col in detached:
            assert new[col] is None, (rid, col)
        for col, became in fields.items():
            value = new[col]
            if became == "null":
                assert value is None, (rid, col, value)
            elif became.startswith("[redacted"):
                assert isinstance(value, str) and value.startswith("[redacted"), (rid, col, value)
            elif became == "hash":
                assert isinstance(value, str) and value.startswith("pz_"), (rid, col, value)
            else:
                assert became == "fake" and value is not None, (rid, col, became, value)
    for rid in entries_rows(report, "retained", "others"):
        table, key = rid
        assert after[table].get(key) == before[table][key], rid
    assert report["totals"]["deleted"] == len(gone)
    assert report["totals"]["masked"] == len(changed)


def make_engine(base: Path, url: str, dataset: dict[str, Any], policy: dict[str, Any],
                now: datetime | Callable[[], datetime]) -> Engine:
    """An engine on ``url`` with this data map and policy; ``now`` is a moment or a clock."""
    base.mkdir(parents=True, exist_ok=True)
    (base / "policy.yaml").write_text(yaml.safe_dump(policy))
    (base / "dataset.yaml").write_text(yaml.safe_dump(dataset, sort_keys=False))
    cfg = Config(name="exact", policy=base / "policy.yaml", dataset=base / "dataset.yaml",
                 platform_url=url, store_url=f"sqlite:///{base / 'store.db'}", base_dir=base)
    return Engine(cfg, Settings(environment="test"), clock=now if callable(now) else (lambda: now))


def holds_value(saved: Snap, needle: Any, *, skip: set[tuple[str, Any]] = frozenset(),  # type: ignore[assignment]
                columns: Mapping[str, set[str]] | None = None) -> set[tuple[str, Any, str]]:
    """(table, key, column) whose value equals ``needle`` (text: case-insensitively)."""
    out: set[tuple[str, Any, str]] = set()
    text = needle.lower() if isinstance(needle, str) else None
    for table, rows in saved.items():
        for key, row in rows.items():
            if (table, key) in skip:
                continue
            for col, value in row.items():
                if columns is not None and col not in columns.get(table, set()):
                    continue
                if text is not None and isinstance(value, str) and value.lower() == text or text is None and value == needle and not isinstance(value, bool):
                    out.add((table, key, col))
    return out
