"""The traversal planner: from a person's identities to every collection about them.

Pure (no I/O). Given the identity *kinds* a request starts from (``email``,
``user_id``, ``person_tag`` …), :func:`plan` lists the steps an executor runs:

* ``identity`` steps match an identity field against the values the person gave;
* ``derived`` steps carry an identity the person did not give (say their phone) from a
  collection matched on an identity (their ``users`` row) to every other field of the
  same identity kind;
* ``reference`` steps follow declared references: rows of the target collection whose
  match field is IN the values of the source field, over every row found so far.

Steps come in breadth-first order from the identities, collections and fields in the
dataset's own order, so the same dataset and identities always give the same plan. A
collection reachable along several paths gets several steps; the executor unions
their rows, and re-runs a step when its source collection gains rows later (so cycles
and late paths are followed to the end). Discovered references are not walked.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from pledge.datamap.graph import IDENTITY_KINDS, FieldRef, ReferenceGraph, build_graph
from pledge.datamap.model import Dataset
from pledge.errors import InvalidInput

StepKind = Literal["identity", "derived", "reference"]


class PlanError(InvalidInput):
    """Identities the data map cannot start from."""


@dataclass(frozen=True)
class Step:
    """Find rows of ``database.collection`` where ``match`` IN the values of ``source``.

    ``source`` is an identity kind for ``identity`` steps, otherwise an upstream
    ``database.collection.field``. ``carry`` lists the fields of this collection that
    later steps read (always with the primary key first).
    """

    database: str
    collection: str
    match: str
    source: str
    kind: StepKind
    carry: tuple[str, ...] = ()
    depth: int = 0

    @property
    def key(self) -> str:
        """``database.collection`` of the rows this step finds."""
        return f"{self.database}.{self.collection}"

    @property
    def source_collection(self) -> str | None:
        """``database.collection`` the values come from; None for identity steps."""
        if self.kind == "identity":
            return None
        return self.source.rsplit(".", 1)[0]

    def describe(self) -> str:
        if self.kind == "identity":
            return f"{self.key} where {self.match} = the given {self.source}"
        return f"{self.key} where {self.match} in {self.source}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "database": self.database, "collection": self.collection, "match": self.match,
            "source": self.source, "kind": self.kind, "carry": list(self.carry), "depth": self.depth,
        }


@dataclass(frozen=True)
class Plan:
    identities: tuple[str, ...]
    steps: tuple[Step, ...]
    #: Every collection the plan reaches, in first-reached order.
    collections: tuple[str, ...]
    #: Collections of the dataset that no step reaches from these identities.
    unreachable: tuple[str, ...]
    #: Per collection, the fields its found rows must keep (primary key first).
    carry: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def steps_for(self, collection: str) -> list[Step]:
        return [s for s in self.steps if s.key == collection]

    def to_dict(self) -> dict[str, Any]:
        return {
            "identities": list(self.identities),
            "steps": [s.to_dict() for s in self.steps],
            "collections": list(self.collections),
            "unreachable": list(self.unreachable),
        }


def plan(dataset: Dataset, identities: Iterable[str], graph: ReferenceGraph | None = None) -> Plan:
    """Plan the route from identity kinds to every collection holding data about them."""
    kinds = tuple(dict.fromkeys(identities))
    unknown = [k for k in kinds if k not in IDENTITY_KINDS]
    if unknown:
        raise PlanError(
            f"unknown identity kind {', '.join(map(repr, unknown))}; use one of {', '.join(IDENTITY_KINDS)}"
        )
    if not kinds:
        raise PlanError(f"give at least one identity ({', '.join(IDENTITY_KINDS)})")
    graph = graph or build_graph(dataset)
    if not any(graph.identity_fields.get(k) for k in kinds):
        declared = sorted(graph.identity_fields) or ["none"]
        raise PlanError(
            f"no field of the dataset is an identity of kind {', '.join(kinds)}; "
            f"identity kinds it declares: {', '.join(declared)}"
        )

    raw: list[tuple[FieldRef, str, StepKind, int]] = []  # (match field, source, kind, depth)
    reached: dict[str, int] = {}  # collection -> depth first reached
    queue: deque[str] = deque()

    def reach(target: FieldRef, source: str, kind: StepKind, depth: int) -> None:
        entry = (target, source, kind, depth)
        if any(r[0] == target and r[1] == source for r in raw):
            return
        raw.append(entry)
        if target.collection_key not in reached:
            reached[target.collection_key] = depth
            queue.append(target.collection_key)

    # 1. identities the person gave, then identities derived from their own rows
    for kind in kinds:
        for ref in graph.identity_fields.get(kind, []):
            reach(ref, kind, "identity", 0)
    identity_level = list(reached)
    derived_done: set[str] = set(kinds)
    i = 0
    while i < len(identity_level):
        coll = identity_level[i]
        i += 1
        for kind, refs in graph.identity_fields.items():
            if kind in derived_done:
                continue
            sources = [r for r in refs if r.collection_key == coll]
            if not sources:
                continue
            derived_done.add(kind)
            src = sources[0]
            for ref in refs:
                if ref.collection_key != coll:
                    before = set(reached)
                    reach(ref, str(src), "derived", 0)
                    identity_level.extend(c for c in reached if c not in before)

    # 2. declared references, breadth first
    while queue:
        coll = queue.popleft()
        depth = reached[coll]
        for edge in sorted(graph.outgoing(coll), key=lambda e: (graph.order_key(e.source),
                                                                 graph.order_key(e.target))):
            reach(edge.target, str(edge.source), "reference", depth + 1)

    carry = _carry(graph, raw, reached)
    steps = tuple(
        Step(t.database, t.collection, t.field, src, kind, carry[t.collection_key], depth)
        for t, src, kind, depth in raw
    )
    collections = tuple(reached)
    unreachable = tuple(c for c in graph.collections if c not in reached)
    return Plan(kinds, steps, collections, unreachable, carry)


def _carry(graph: ReferenceGraph, raw: list[tuple[FieldRef, str, StepKind, int]],
           reached: dict[str, int]) -> dict[str, tuple[str, ...]]:
    """Per reached collection: primary key, the fields it is matched on, and those read later."""
    need: dict[str, list[str]] = {c: list(graph.primary_keys.get(c, [])) for c in reached}
    for target, source, kind, _ in raw:
        need[target.collection_key].append(target.field)
        if kind != "identity":
            coll, fld = source.rsplit(".", 1)
            need.setdefault(coll, []).append(fld)
    return {c: tuple(dict.fromkeys(fields)) for c, fields in need.items()}
