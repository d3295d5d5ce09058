"""Rectification (GDPR Art. 16, CCPA right to correct): update named fields, validated.

``rectify(engine, identities, {"name": "Ann Smith", "main.users.phone": "+48 500 100 200"})``

* A field is named ``field``, ``collection.field`` or ``database.collection.field``. A
  bare name must be declared in exactly one collection holding the person's rows (a
  collection that carries an identity field, such as ``users``, wins a tie).
* The field must be declared ``rectifiable: true`` in the dataset; keys, references and
  system columns (a status, a last sign-in) never are. The value is checked against the live column: its type (integer, number,
  date, time, yes/no), its length, NOT NULL, and the format of emails and phone numbers.
* All changes are validated before any is written; then each database is updated in
  one transaction, one UPDATE per collection, field and batch of keys (composite keys as
  row values). The report gives old -> new per row; the audit entry names the fields and
  row counts, never the values.
* A real run is recorded in the erasure ledger: keyed hashes of every identity of the
  person (user id included) and the new values sealed with the deployment's encryption
  keys, so ``pledge ledger replay`` re-applies it after a backup restore.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, Date, DateTime, Enum, Integer, Numeric, String

from pledge.connectors.base import batched
from pledge.datamap.model import Collection, DataField
from pledge.dataplane import selection, writes
from pledge.dataplane.schema import live_column
from pledge.dataplane.selection import KeyIn
from pledge.emails import EMAIL_RE
from pledge.errors import InvalidInput
from pledge.rights.locate import Located, locate

if TYPE_CHECKING:
    from pledge.context import Context

PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()./-]{4,30}$")


class RectifyError(InvalidInput):
    """A change that cannot be applied; names the field and what would be valid."""


class NothingToRectify(RectifyError):
    """The person has no rows where the field lives (nothing about them to correct)."""


@dataclass
class _Change:
    database: str
    collection: str
    field: str
    raw: str
    value: Any = None


def _candidates(engine: Context, name: str) -> list[tuple[str, Collection, DataField]]:
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


def _resolve(engine: Context, name: str, found: set[str]) -> tuple[str, Collection, DataField]:
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


def _rectifiable(engine: Context, name: str, found: set[str]) -> tuple[str, Collection, DataField, Any]:
    """The declared field ``name`` names, if it may be rectified, with its live column."""
    database, coll, f = _resolve(engine, name, found)
    where = f"{database}.{coll.name}.{f.name}"
    if f.primary_key or f.references:
        raise RectifyError(f"{where}: keys and references cannot be rectified")
    if not f.rectifiable:
        raise RectifyError(f"{where}: not declared rectifiable in the dataset")
    column = live_column(engine.connectors.get(database), coll.name, f.name)
    if column is None:
        raise RectifyError(f"{where}: declared in the dataset but missing from the live table")
    return database, coll, f, column


def check_change(engine: Context, name: str, raw: str) -> Any:
    """The value ``raw`` would be written as, if ``name`` may be rectified (no person needed)."""
    database, coll, f, column = _rectifiable(engine, name, set())
    return validate_value(f, column, raw, f"{database}.{coll.name}.{f.name}")


def rectify(engine: Context, identities: Mapping[str, Any], changes: Mapping[str, str], *,
            actor: str = "system", plan: bool = False, record: bool = True) -> dict[str, Any]:
    """Apply ``changes`` (field name -> new value) to the person's rows; see the module docstring.

    A real run is written to the erasure ledger (``source: rectify``: the person's keyed
    identities and the new values sealed), so that ``pledge ledger replay`` re-applies it
    after a backup restore; ``record=False`` is that replay.
    """
    if not changes:
        raise RectifyError("give at least one change, e.g. --set name='Ann Smith'")
    located = locate(engine, identities)
    found = set(located.collections())
    todo: list[_Change] = []
    for name, raw in changes.items():
        database, coll, f, column = _rectifiable(engine, name, found)
        where = f"{database}.{coll.name}.{f.name}"
        if f"{database}.{coll.name}" not in found:
            raise NothingToRectify(f"{where}: the person has no rows in {database}.{coll.name}")
        change = _Change(database, coll.name, f.name, raw)
        change.value = validate_value(f, column, raw, where)
        todo.append(change)
    person = person_identities(engine, located) if record and not plan else {}
    by_db: dict[str, list[_Change]] = defaultdict(list)
    for c in todo:
        by_db[c.database].append(c)
    results: list[dict[str, Any]] = []
    for database, items in by_db.items():
        connector = engine.connectors.get(database)
        with connector.begin() as conn:
            for c in items:
                names = list(located.primary_keys.get(f"{database}.{c.collection}") or connector.row_key(c.collection))
                keys = [tuple(k) for k in located.keys(f"{database}.{c.collection}")]
                old: dict[Any, Any] = {}
                for chunk in batched(keys, 500):
                    for r in selection.rows(connector, conn, c.collection, KeyIn(tuple(chunk), tuple(names)),
                                            [*names, c.field]):
                        old[tuple(r[n] for n in names)] = r[c.field]
                changed = [k for k in keys if k in old and old[k] != c.value]
                if changed and not plan:
                    writes.set_values(connector, conn, c.collection, changed, {c.field: c.value}, key=names)
                results.append({
                    "field": f"{database}.{c.collection}.{c.field}", "rows": len(changed),
                    "changes": [{"id": list(k) if len(k) > 1 else k[0], "old": old[k], "new": c.value}
                                for k in changed],
                    "unchanged": len(keys) - len(changed),
                })
    report = {"dry_run": plan, "changes": results, "rows": sum(r["rows"] for r in results)}
    if not plan:
        subject = engine.ledger.keys_for({k: str(v) for k, v in identities.items()})
        if record:
            from pledge.retention.ledger import record_rectification
            from pledge.rights.vault import Vault

            sealed = Vault(engine.keys).seal(dict(changes)).decode("ascii")
            record_rectification(engine.ledger, person, sealed=sealed, fields=[r["field"] for r in results],
                                 reference=f"rectify:{next(iter(subject.values()), '')[:16]}")
        engine.audit.record("rights.rectify", actor=actor, target=next(iter(subject.values()), ""),
                            details={"fields": {r["field"]: r["rows"] for r in results},
                                     **({} if record else {"replayed": True})})
    return report


def person_identities(engine: Context, located: Located) -> dict[str, list[str]]:
    """Every normalised identity of the person in ``located`` (whole rows): the ones given,
    and those of the rows of tables of people that match them (their user id, phone…)."""
    from pledge.rights.erasure_rows import Ownership

    rows: dict[str, dict[Any, dict[str, Any]]] = {}
    for coll_key in located.collections():
        pk = located.primary_keys.get(coll_key) or []
        rows[coll_key] = {tuple(r.get(c) for c in pk) if pk else i: r for i, r in enumerate(located.rows[coll_key])}
    own = Ownership(engine.dataset, located.plan, rows, {})
    own.compute(located.identities)
    return own.found
