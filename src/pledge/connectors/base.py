"""What the executor needs from a platform database, whatever the engine behind it.

A connector reads and writes one database of the data map with set-based statements:
values go in batched ``IN`` lists, one statement per table and batch, never one per row.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection

Row = dict[str, Any]

#: Values per ``IN`` list: small enough for every engine's parameter limit
#: (SQLite allows 32766 since 3.32), large enough to keep statements few.
DEFAULT_BATCH = 800


class ConnectorError(RuntimeError):
    """A table or column the data map names is missing from the live database."""


class Connector(ABC):
    """One platform database."""

    name: str
    batch_size: int = DEFAULT_BATCH

    @abstractmethod
    def begin(self) -> AbstractContextManager[Connection]:
        """A connection inside its own transaction, committed on clean exit."""

    @abstractmethod
    def columns(self, collection: str) -> list[str]:
        """The live column names of one table."""

    @abstractmethod
    def primary_key(self, collection: str) -> list[str]:
        """The live primary key columns of one table."""

    @abstractmethod
    def select_in(self, conn: Connection, collection: str, match: str, values: Sequence[Any],
                  columns: Sequence[str] | None = None) -> Iterator[Row]:
        """Stream rows where ``match`` IN ``values`` (batched); all columns when None."""

    @abstractmethod
    def coerce(self, collection: str, column: str, values: Sequence[Any]) -> list[Any]:
        """Values converted to the column's Python type; ones that cannot be are dropped."""


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


def batched(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]
