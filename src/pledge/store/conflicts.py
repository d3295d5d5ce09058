"""``INSERT … ON CONFLICT DO NOTHING``: a row inserted unless its unique key is taken, in one
statement, on the dialects that have it (PostgreSQL and SQLite). MariaDB has no such clause
for a chosen key: there the caller looks first or catches the duplicate in a savepoint."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import Table


@lru_cache(maxsize=32)
def insert_skipping_taken(dialect: str, table: Table, unique: tuple[str, ...]) -> Any | None:
    """The INSERT that skips a row whose ``unique`` columns are taken; None on a dialect
    without ``ON CONFLICT`` (MariaDB). Built once per table and key (#19); give the row
    as the execution's parameters."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(unique))
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(unique))
    return None
