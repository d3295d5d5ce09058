"""Rectification (GDPR Art. 16, CCPA right to correct): update named fields, validated.

``rectify(engine, identities, {"name": "Ann Smith", "main.users.phone": "+48 500 100 200"})``

* A field is named ``field``, ``collection.field`` or ``database.collection.field``. A
  bare name must be declared in exactly one collection holding the person's rows (a
  collection that carries an identity field, such as ``users``, wins a tie).
* The field must be declared in the dataset and be neither a primary key nor a
  reference. The value is checked against the live column: its type (integer, number,
  date, time, yes/no), its length, NOT NULL, and the format of emails and phone numbers.
* All changes are validated before any is written; then each database is updated in
  one transaction, one UPDATE per collection and field. The report gives old -> new per
  row; the audit entry names the fields and row counts, never the values.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, Date, DateTime, Enum, Integer, Numeric, String, select, update

from pledge.datamap.model import Collection, DataField
from pledge.emails import EMAIL_RE
from pledge.rights.locate import locate

if TYPE_CHECKING:
    from pledge.connectors.sql import SqlConnector
    from pledge.engine import Engine

PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()./-]{4,30}$")


class RectifyError(ValueError):
    """A change that cannot be applied; names the field and what would be valid."""


@dataclass
class _Change:
    database: str
    collection: str
    field: str
    raw: str
    value: Any = None


def _candidates(engine: Engine, name: str) -> list[tuple[str, Collection, DataField]]:
    parts = name.split(".")
    out: list[tuple[str, Collection, DataField]] = []
    for db in engine.dataset.databases:
        if len(parts) == 3 and db.name != parts[0]:
            continue
        for coll in db.collections:
            if len(parts) >= 2 and coll.name != parts[-2]:
                continue
            if coll.has_field(parts[-1]):
                out.append((db.name, coll, coll.field(parts[-1])))
    return out


def _resolve(engine: Engine, name: str, found: set[str]) -> tuple[str, Collection, DataField]:
    cands = _candidates(engine, name)
    if not cands:
        raise RectifyError(f"{name!r} is not a field declared in the dataset; name it as field, "
                           "collection.field or database.collection.field")
    if len(cands) > 1:
        have = [c for c in cands if f"{c[0]}.{c[1].name}" in found] or cands
        people = [c for c in have if any(f.identity for f in c[1].fields)]
        cands = people if len(people) == 1 else have
    if len(cands) > 1:
        opts = ", ".join(f"{d}.{c.name}.{f.name}" for d, c, f in cands)
        raise RectifyError(f"{name!r} is ambiguous; name one of: {opts}")
    return cands[0]


def _is_email(f: DataField) -> bool:
    return f.identity == "email" or "email" in f.name.lower() or any(c.endswith(".email") for c in f.categories)


def _is_phone(f: DataField) -> bool:
    return f.identity == "phone" or "phone" in f.name.lower() or any("phone" in c for c in f.categories)


def validate_value(f: DataField, column: Any, raw: str, where: str) -> Any:
    """``raw`` converted to the column's type, or a :class:`RectifyError` saying why not."""
    text = raw.strip()
    if text == "":
        if column.nullable:
            return None
        raise RectifyError(f"{where}: a value is required (the column is NOT NULL)")
    ctype = column.type
    try:
        if isinstance(ctype, Boolean):
            low = text.lower()
            if low not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return low in ("true", "1", "yes")
        if isinstance(ctype, Integer):
            return int(text)
        if isinstance(ctype, Numeric):
            return Decimal(text)
        if isinstance(ctype, DateTime):
            return datetime.fromisoformat(text)
        if isinstance(ctype, Date):
            return date.fromisoformat(text)
    except (ValueError, InvalidOperation):
        kind = type(ctype).__name__.lower()
        example = {"boolean": "true or false", "integer": "42", "numeric": "19.99", "datetime":
                   "2026-01-31T12:00:00", "date": "1990-05-17"}.get(kind, "")
        raise RectifyError(f"{where}: {raw!r} is not a valid {kind}" + (f", e.g. {example}" if example else "")
                           ) from None
    if isinstance(ctype, Enum) and ctype.enums and text not in ctype.enums:
        raise RectifyError(f"{where}: {raw!r} is not one of {', '.join(ctype.enums)}")
    if isinstance(ctype, String):
        length = getattr(ctype, "length", None)
        if length and len(text) > length:
            raise RectifyError(f"{where}: at most {length} characters, got {len(text)}")
    if _is_email(f) and not EMAIL_RE.match(text):
        raise RectifyError(f"{where}: {raw!r} is not an email address, e.g. ann@example.org")
    if _is_phone(f) and not PHONE_RE.match(text):
        raise RectifyError(f"{where}: {raw!r} is not a phone number, e.g. +48 500 100 200")
    return text


def rectify(engine: Engine, identities: Mapping[str, Any], changes: Mapping[str, str], *,
            actor: str = "system", plan: bool = False) -> dict[str, Any]:
    """Apply ``changes`` (field name -> new value) to the person's rows; see the module docstring."""
    if not changes:
        raise RectifyError("give at least one change, e.g. --set name='Ann Smith'")
    located = locate(engine, identities, columns="keys")
    found = set(located.collections())
    todo: list[_Change] = []
    for name, raw in changes.items():
        database, coll, f = _resolve(engine, name, found)
        where = f"{database}.{coll.name}.{f.name}"
        if f.primary_key or f.references:
            raise RectifyError(f"{where}: keys and references cannot be rectified")
        if f"{database}.{coll.name}" not in found:
            raise RectifyError(f"{where}: the person has no rows in {database}.{coll.name}")
        connector: SqlConnector = engine.connectors.get(database)  # type: ignore[assignment]
        table = connector.table(coll.name)
        if f.name not in table.c:
            raise RectifyError(f"{where}: declared in the dataset but missing from the live table")
        change = _Change(database, coll.name, f.name, raw)
        change.value = validate_value(f, table.c[f.name], raw, where)
        todo.append(change)
    by_db: dict[str, list[_Change]] = defaultdict(list)
    for c in todo:
        by_db[c.database].append(c)
    results: list[dict[str, Any]] = []
    for database, items in by_db.items():
        connector = engine.connectors.get(database)  # type: ignore[assignment]
        with connector.begin() as conn:
            for c in items:
                table = connector.table(c.collection)
                pkcol = next(iter(table.primary_key.columns))
                keys = [k[0] for k in located.keys(f"{database}.{c.collection}")]
                col = table.c[c.field]
                old = {r[0]: r[1] for r in conn.execute(select(pkcol, col).where(pkcol.in_(keys)))}
                changed = [k for k in keys if k in old and old[k] != c.value]
                if changed and not plan:
                    conn.execute(update(table).where(pkcol.in_(changed)).values({c.field: c.value}))
                results.append({
                    "field": f"{database}.{c.collection}.{c.field}", "rows": len(changed),
                    "changes": [{"id": k, "old": old[k], "new": c.value} for k in changed],
                    "unchanged": len(keys) - len(changed),
                })
    report = {"dry_run": plan, "changes": results, "rows": sum(r["rows"] for r in results)}
    if not plan:
        subject = engine.ledger.keys_for({k: str(v) for k, v in identities.items()})
        engine.audit.record("rights.rectify", actor=actor, target=next(iter(subject.values()), ""),
                            details={"fields": {r["field"]: r["rows"] for r in results}})
    return report
