"""What the data plane needs from a platform store, whatever the engine behind it.

A connector reads and writes one database of the data map with set-based statements:
values go in batched ``IN`` lists, one statement per table and batch, never one per row.
Rows are named by their *row key* (:meth:`Connector.row_key`): the primary key, composite
or not, or for a table without one the rule of :mod:`pledge.dataplane.schema`.

The interface is small on purpose, so that another kind of store (object storage: buckets
of JSON documents) plugs in beside SQL:

* **describe** — :meth:`describe` (what a collection looks like now), :meth:`fingerprint`
  (a cheap token that changes when the schema does) and :meth:`refresh`;
* **read** — :meth:`find` (rows whose field is one of some values, under an identity rule),
  :meth:`find_each` (several such lookups, which a connector may send together),
  :meth:`fetch` (rows by key), :meth:`find_between` (rows whose field lies in a range);
* **write** — :meth:`update_keys`, :meth:`advance_keys` and :meth:`delete_keys` (rows by
  key, in batches).

``ping()`` asks the store to answer now (the readiness probe). ``bulk()`` hands out one handle for many short transactions (a sweep's batches).
``begin()`` opens the connector's *handle* inside one transaction: for SQL a SQLAlchemy
``Connection``; another connector hands out its own session object, which callers only pass
back to the same connector.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from pledge.errors import Unavailable

Row = dict[str, Any]
Key = tuple[Any, ...]
#: What ``begin()`` yields (a SQLAlchemy ``Connection`` for SQL connectors).
Handle = Any

#: Values per ``IN`` list: small enough for every engine's parameter limit
#: (SQLite allows 32766 since 3.32), large enough to keep statements few.
DEFAULT_BATCH = 800


class ConnectorError(Unavailable):
    """A table or column the data map names is missing from the live database."""


@dataclass(frozen=True)
class LiveField:
    """One live column (or document field) as the store reports it."""

    name: str
    family: str  # pledge.datamap.types family
    sql_type: str
    nullable: bool
    primary_key: bool = False


@dataclass(frozen=True)
class Find:
    """One lookup of :meth:`Connector.find_each`: the arguments of :meth:`Connector.find`."""

    collection: str
    match: str
    values: Sequence[Any]
    columns: Sequence[str] | None = None
    fold_case: bool = False


@dataclass(frozen=True)
class CaseMatch:
    """How a case-insensitive lookup on one column runs, and what would make it fast."""

    #: the column compares case-insensitively by itself (MariaDB ``*_ci``), no lower() needed
    native: bool
    #: an index serves the lookup (on the column when native, else on ``lower(column)``)
    indexed: bool
    #: in words: the collation or the index found
    detail: str = ""


@dataclass(frozen=True)
class LiveCollection:
    """One live table (or bucket) of a store."""

    name: str
    fields: dict[str, LiveField]
    primary_key: tuple[str, ...]
    #: unique constraints and unique indexes, each a tuple of column names
    unique: tuple[tuple[str, ...], ...] = ()
    #: foreign keys: (columns, target table, target columns)
    foreign_keys: tuple[tuple[tuple[str, ...], str, tuple[str, ...]], ...] = ()
    notes: dict[str, str] = field(default_factory=dict)

    def unique_not_null(self) -> list[tuple[str, ...]]:
        """Unique keys whose columns are all NOT NULL (usable as a row key)."""
        return [u for u in self.unique if u and all(c in self.fields and not self.fields[c].nullable for c in u)]


class Connector(ABC):
    """One platform database."""

    name: str
    batch_size: int = DEFAULT_BATCH

    def __init__(self) -> None:
        #: row keys decided by the live-schema check (pledge.dataplane.schema), per collection
        self.row_keys: dict[str, tuple[str, ...]] = {}
        #: the data plane's cached live-schema verdict (pledge.dataplane.schema)
        self.schema_state: object | None = None

    # -- transactions ---------------------------------------------------------------------
    @abstractmethod
    def begin(self) -> AbstractContextManager[Handle]:
        """A handle inside its own transaction, committed on clean exit."""

    def read(self) -> AbstractContextManager[Handle]:
        """A handle for reads only, which sees what a transaction from :meth:`begin` would
        see. Default: :meth:`begin`."""
        return self.begin()

    def bulk(self, checkpoint_pages: int = 0) -> AbstractContextManager[Handle]:
        """One handle for many short transactions (a retention sweep's batches), which the
        caller begins and commits itself. Default: :meth:`begin`."""
        return self.begin()

    def is_database(self, url: str) -> bool:
        """Whether ``url`` names this very database (so one transaction could span both)."""
        return False

    def ping(self) -> None:
        """Raise unless the store answers now (the readiness probe). Default: open and close
        a handle."""
        with self.begin():
            pass

    # -- describe -------------------------------------------------------------------------
    @abstractmethod
    def tables(self) -> list[str]:
        """The names of the live collections."""

    @abstractmethod
    def describe(self, collection: str) -> LiveCollection | None:
        """The live shape of one collection; None when it does not exist."""

    @abstractmethod
    def fingerprint(self) -> str:
        """A cheap token that changes whenever the live schema changes."""

    @abstractmethod
    def refresh(self) -> None:
        """Forget every cached description (the schema changed)."""

    def case_match(self, collection: str, column: str) -> CaseMatch:
        """How case-insensitive lookups on ``column`` run (for ``datamap check`` advice)."""
        return CaseMatch(native=False, indexed=False)

    def columns(self, collection: str) -> list[str]:
        """The live column names of one table."""
        return list(self._live(collection).fields)

    def primary_key(self, collection: str) -> list[str]:
        """The live primary key columns of one table (empty when it has none)."""
        return list(self._live(collection).primary_key)

    def _live(self, collection: str) -> LiveCollection:
        live = self.describe(collection)
        if live is None:
            raise ConnectorError(f"database {self.name!r} has no table {collection!r} (the data map names it)")
        return live

    def row_key(self, collection: str) -> list[str]:
        """The columns that name one row: set by the live-schema check, else the live primary key."""
        known = self.row_keys.get(collection)
        return list(known) if known else self.primary_key(collection)

    # -- read -----------------------------------------------------------------------------
    @abstractmethod
    def find(self, conn: Handle, collection: str, match: str, values: Sequence[Any],
             columns: Sequence[str] | None = None, *, fold_case: bool = False) -> Iterator[Row]:
        """Rows where ``match`` is one of ``values`` (batched); all columns when None.

        With ``fold_case`` text is compared case-insensitively (the email rule of
        :mod:`pledge.dataplane.identity`). Only rows that match exactly under the rule are
        returned, whatever the store's collation."""

    def find_each(self, conn: Handle, finds: Sequence[Find]) -> list[list[Row]]:
        """The rows of each of ``finds`` (:meth:`find`), in their order. None depends on
        another's rows, so a connector may send them together; this one runs them in turn."""
        return [list(self.find(conn, f.collection, f.match, f.values, f.columns, fold_case=f.fold_case))
                for f in finds]

    @abstractmethod
    def fetch(self, conn: Handle, collection: str, keys: Sequence[Key],
              columns: Sequence[str] | None = None) -> Iterator[Row]:
        """Rows by row key (tuples in :meth:`row_key` order), batched."""

    @abstractmethod
    def find_between(self, conn: Handle, collection: str, column: str, low: Any, high: Any,
                     columns: Sequence[str] | None = None) -> Iterator[Row]:
        """Rows whose ``column`` lies in ``[low, high]``, streamed."""

    @abstractmethod
    def coerce(self, collection: str, column: str, values: Sequence[Any]) -> list[Any]:
        """Values converted to the column's Python type; ones that cannot be are dropped."""

    def select_in(self, conn: Handle, collection: str, match: str, values: Sequence[Any],
                  columns: Sequence[str] | None = None) -> Iterator[Row]:
        """:meth:`find` with exact matching (kept for callers written before ``find``)."""
        return self.find(conn, collection, match, values, columns)

    # -- write ----------------------------------------------------------------------------
    @abstractmethod
    def update_keys(self, conn: Handle, collection: str, keys: Sequence[Key], values: Mapping[str, Any]) -> int:
        """Set ``values`` (column -> value or SQL expression) on the rows named by ``keys``;
        one statement per batch. Returns the rows changed."""

    @abstractmethod
    def advance_keys(self, conn: Handle, collection: str, keys: Sequence[Key], column: str, value: Any) -> int:
        """Move ``column`` forward to ``value`` on the rows named by ``keys`` where it is
        empty or earlier (never back). Returns the rows changed."""

    @abstractmethod
    def delete_keys(self, conn: Handle, collection: str, keys: Sequence[Key]) -> int:
        """Delete the rows named by ``keys``; one statement per batch. Returns the rows deleted."""


class Connectors:
    """One connector per database of the data map, made on first use and cached."""

    def __init__(self, factory: Callable[[str], Connector]) -> None:
        self._factory = factory
        self._made: dict[str, Connector] = {}

    def get(self, database: str) -> Connector:
        if database not in self._made:
            self._made[database] = self._factory(database)
        return self._made[database]

    def __getitem__(self, database: str) -> Connector:
        return self.get(database)

    def made(self) -> list[Connector]:
        """The connectors made so far."""
        return list(self._made.values())


def batched(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]
