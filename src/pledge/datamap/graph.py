"""The reference graph of a data map: which collection is reached from which field.

Pure: built from a :class:`~pledge.datamap.model.Dataset` alone, no database needed.

A field ``F`` of collection ``C`` with ``references: [{field: db.users.id, direction: from}]``
holds values *taken from* ``users.id``: ``C``'s rows are reached from ``users.id`` values,
so the edge runs ``users.id -> C.F``. ``direction: to`` is the reverse edge,
``C.F -> users.id``. Discovered references (from live foreign keys) are kept apart: they
order erasure but are never walked to find a person's rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import get_args

from pledge.datamap.model import Dataset, IdentityKind
from pledge.errors import InvalidInput

IDENTITY_KINDS: tuple[str, ...] = get_args(IdentityKind)


class DatamapGraphError(InvalidInput):
    """A reference that names no known field, or another unusable part of the map."""


@dataclass(frozen=True, order=True)
class FieldRef:
    """One field: ``database.collection.field``."""

    database: str
    collection: str
    field: str

    @property
    def collection_key(self) -> str:
        return f"{self.database}.{self.collection}"

    def __str__(self) -> str:
        return f"{self.database}.{self.collection}.{self.field}"


@dataclass(frozen=True)
class Edge:
    """Rows of ``target.collection`` are found where ``target.field`` IN values of ``source``."""

    source: FieldRef
    target: FieldRef
    discovered: bool = False


@dataclass
class ReferenceGraph:
    """Edges and identity fields of a dataset, in the dataset's own order."""

    collections: list[str] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    identity_fields: dict[str, list[FieldRef]] = field(default_factory=dict)
    primary_keys: dict[str, list[str]] = field(default_factory=dict)
    fields: dict[str, list[str]] = field(default_factory=dict)

    def walkable(self) -> list[Edge]:
        """Edges a request may follow: the declared ones."""
        return [e for e in self.edges if not e.discovered]

    def outgoing(self, collection: str) -> list[Edge]:
        return [e for e in self.walkable() if e.source.collection_key == collection]

    def order_key(self, ref: FieldRef) -> tuple[int, int]:
        """Position in the dataset: collection, then field, as written."""
        coll = ref.collection_key
        return (self.collections.index(coll), self.fields[coll].index(ref.field))

    def cycles(self, *, include_discovered: bool = True) -> list[list[str]]:
        """Collection cycles (self-references included), each listed once, deterministic."""
        adj: dict[str, set[str]] = {c: set() for c in self.collections}
        for e in self.edges:
            if include_discovered or not e.discovered:
                adj.setdefault(e.source.collection_key, set()).add(e.target.collection_key)
        return _cycles(self.collections, adj)


def parse_ref(dotted: str, *, default_db: str) -> FieldRef:
    """``db.collection.field`` (or ``collection.field`` inside the same database)."""
    parts = dotted.split(".")
    if len(parts) == 3:
        return FieldRef(parts[0], parts[1], parts[2])
    if len(parts) == 2:
        return FieldRef(default_db, parts[0], parts[1])
    raise DatamapGraphError(f"reference {dotted!r} is not database.collection.field")


def build_graph(dataset: Dataset) -> ReferenceGraph:
    """The dataset's references as directed edges, checked against its own fields."""
    graph = ReferenceGraph()
    known: set[FieldRef] = set()
    for db in dataset.databases:
        for coll in db.collections:
            key = f"{db.name}.{coll.name}"
            graph.collections.append(key)
            graph.primary_keys[key] = coll.primary_key
            graph.fields[key] = [f.name for f in coll.fields]
            for f in coll.fields:
                known.add(FieldRef(db.name, coll.name, f.name))
    for db in dataset.databases:
        for coll in db.collections:
            for f in coll.fields:
                here = FieldRef(db.name, coll.name, f.name)
                if f.identity is not None:
                    graph.identity_fields.setdefault(f.identity, []).append(here)
                for ref in f.references:
                    there = parse_ref(ref.field, default_db=db.name)
                    if there not in known:
                        raise DatamapGraphError(
                            f"{here}: references {ref.field!r}, which is not a field of the dataset"
                        )
                    if ref.direction == "from":
                        graph.edges.append(Edge(there, here, ref.discovered))
                    else:
                        graph.edges.append(Edge(here, there, ref.discovered))
    return graph


def _cycles(nodes: Iterable[str], adj: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components that form a cycle (Tarjan, iterative order kept)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    def strong(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(adj.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp: list[str] = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in adj.get(v, ()):
                out.append(sorted(comp))

    for n in nodes:
        if n not in index:
            strong(n)
    return sorted(out)
