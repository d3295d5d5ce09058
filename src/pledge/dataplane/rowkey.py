"""Row identity for any table: which columns name one row, and when a table is refused.

The rule (also in ``docs/datamap.md``, *Row keys*):

1. A table with a primary key is named by it, one column or several. A data map that marks
   ``primary_key: true`` on other columns is refused (``primary-key-mismatch``): reads,
   masks and deletes would name rows by columns the database does not keep unique.
2. A table **without** a primary key is named by the columns the data map marks
   ``primary_key: true`` only if the live table has a UNIQUE constraint or unique index on
   exactly those columns and none of them may be NULL. Without a declaration, a unique
   key of NOT NULL columns is used (the shortest, then by name), and ``datamap check``
   warns so that it gets declared.
3. Otherwise the table is **refused up front** (``no-row-key``): nothing tells two rows apart
   safely, and a mask or delete aimed at one person's row could hit another's. The fix is
   named: add a primary key, or a unique index on NOT NULL columns and mark them
   ``primary_key: true``, or leave the table out of the data map if it holds nothing personal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pledge.connectors.base import LiveCollection


@dataclass(frozen=True)
class RowKey:
    """The decision for one table: ``columns`` (empty when refused), and why."""

    columns: tuple[str, ...]
    #: "primary key", "declared unique key", "unique key"; or the refusal's finding code
    source: str
    #: a problem to report (None when all is well), with its severity and the fix
    code: str | None = None
    severity: str = "error"
    message: str = ""


def _names(cols: Sequence[str]) -> str:
    return ", ".join(cols)


def decide(table: str, declared: Sequence[str], live: LiveCollection) -> RowKey:
    """The row key of ``table`` from the data map's declared key and the live table."""
    declared = list(declared)
    if live.primary_key:
        if declared and set(declared) != set(live.primary_key):
            return RowKey(live.primary_key, "primary key", "primary-key-mismatch", "error",
                          f"declares primary key ({_names(declared)}) but the live primary key of {table!r} "
                          f"is ({_names(live.primary_key)}); mark exactly {_names(live.primary_key)} "
                          "with primary_key: true")
        return RowKey(live.primary_key, "primary key")
    usable = live.unique_not_null()
    if declared:
        match = next((u for u in usable if set(u) == set(declared)), None)
        if match is not None:
            return RowKey(tuple(declared), "declared unique key")
        missing = [c for c in declared if c not in live.fields]
        why = (f"column(s) {_names(missing)} do not exist" if missing else
               "they are not a UNIQUE key of NOT NULL columns in the live database")
        return RowKey((), "no-row-key", "no-row-key", "error",
                      f"table {table!r} has no primary key, and the declared key ({_names(declared)}) cannot "
                      f"name its rows: {why}. Fix: ALTER TABLE {table} ADD PRIMARY KEY ({_names(declared)}), "
                      f"or CREATE UNIQUE INDEX on NOT NULL columns and mark those primary_key: true")
    if usable:
        best = sorted(usable, key=lambda u: (len(u), u))[0]
        return RowKey(best, "unique key", "implicit-row-key", "warning",
                      f"table {table!r} has no primary key; its rows are named by the unique key "
                      f"({_names(best)}). Mark {_names(best)} with primary_key: true to say so")
    columns = ", ".join(live.fields) or "none"
    return RowKey((), "no-row-key", "no-row-key", "error",
                  f"table {table!r} has no primary key and no UNIQUE key of NOT NULL columns, so its rows "
                  f"cannot be told apart safely (live columns: {columns}). Fix: ALTER TABLE {table} ADD "
                  "PRIMARY KEY (…), or CREATE UNIQUE INDEX on NOT NULL columns and mark them primary_key: true; "
                  "or leave the table out of the data map if it holds nothing personal")
