"""Foreign-key links of one platform database: the live ones plus the declared ones.

Erasure needs two things from them:

* *incoming links* of a table, to find rows that still point at a row about to be
  deleted (those rows are detached, or the parent is anonymised instead);
* an *order* in which deleting never breaks a link: children before parents.

Live foreign keys come from the connector's live descriptions (cached); declared
references come from ``dataset.yaml`` (a field that references another collection's
primary key, and ``after:``). Only links that point at a primary key matter here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pledge.connectors.base import Connector
from pledge.datamap.model import Dataset


@dataclass(frozen=True)
class Link:
    """``child.columns`` hold the primary key ``parent_columns`` of ``parent`` (one database).

    ``column`` is the first (for one-column links, the only) column; composite foreign keys
    (``(order_id, line_no) -> order_lines``) have several. ``nullable`` means the link can be
    cut (every column is nullable).
    """

    child: str
    column: str
    parent: str
    nullable: bool
    live: bool
    columns: tuple[str, ...] = ()
    parent_columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.columns:
            object.__setattr__(self, "columns", (self.column,))

    def describe(self) -> str:
        cols = self.column if len(self.columns) == 1 else f"({', '.join(self.columns)})"
        return f"{self.child}.{cols} -> {self.parent}"


def database_links(connector: Connector, dataset: Dataset, database: str) -> list[Link]:
    """Every link into a primary key in ``database``: live FKs, then declared references.

    Read from the connector's cached live descriptions (:meth:`Connector.describe`), so no
    statement is built here."""
    tables = sorted(connector.tables())
    links: dict[tuple[str, tuple[str, ...], str], Link] = {}
    for name in tables:
        live = connector.describe(name)
        if live is None:
            continue
        for child_cols, parent, parent_cols in live.foreign_keys:
            target = connector.describe(parent)
            if target is None or not child_cols:
                continue
            parent_pk = list(target.primary_key)
            pairs = dict(zip(parent_cols, child_cols, strict=True))
            if sorted(pairs) != sorted(parent_pk):
                continue  # only links into a whole primary key matter here
            # the child's columns in the parent's primary-key order, so values compare as keys
            cols = tuple(pairs[p] for p in parent_pk)
            nullable = all(live.fields[c].nullable for c in child_cols if c in live.fields)
            links[(name, cols, parent)] = Link(name, cols[0], parent, nullable, True, cols, tuple(parent_pk))
    if any(d.name == database for d in dataset.databases):
        for coll in dataset.database(database).collections:
            if coll.name not in tables:
                continue
            for f in coll.fields:
                for ref in f.references:
                    db, parent, target_field = ref.target
                    if ref.direction != "from" or db != database or parent not in tables:
                        continue
                    if connector.primary_key(parent) != [target_field] or f.name not in connector.columns(coll.name):
                        continue
                    key = (coll.name, (f.name,), parent)
                    if key not in links:
                        here = connector.describe(coll.name)
                        nullable = bool(here is not None and here.fields[f.name].nullable)
                        links[key] = Link(coll.name, f.name, parent, nullable, False, (f.name,), (target_field,))
    return list(links.values())


def incoming(links: Iterable[Link], parent: str) -> list[Link]:
    return [lk for lk in links if lk.parent == parent]


def delete_order(tables: Iterable[str], edges: Iterable[tuple[str, str]]) -> tuple[list[str], list[list[str]]]:
    """Order ``tables`` so that for every ``(first, then)`` edge, ``first`` comes before ``then``.

    Deterministic (ties keep the given order). Returns the order and any cycles found;
    tables on a cycle are placed in the given order after everything else.
    """
    nodes = list(dict.fromkeys(tables))
    present = set(nodes)
    after: dict[str, set[str]] = {n: set() for n in nodes}  # node -> nodes that must come before it
    for first, then in edges:
        if first in present and then in present and first != then:
            after[then].add(first)
    order: list[str] = []
    placed: set[str] = set()
    while True:
        ready = [n for n in nodes if n not in placed and after[n] <= placed]
        if not ready:
            break
        order.append(ready[0])
        placed.add(ready[0])
    rest = [n for n in nodes if n not in placed]
    cycles = [rest] if rest else []
    return order + rest, cycles
