"""Who a breach touches: exposed rows in a time window, walked back to their owners.

Interface::

    from pledge.breach.affected import find_affected

    found = find_affected(engine, ["main.messages"], window_from, window_to)
    found.records          -> exposed rows in the window (all collections)
    found.people           -> [AffectedPerson(email, keys, subject_key, records), ...]
    found.unreachable      -> exposed rows that lead to nobody with an email
    found.statements       -> SELECT statements issued

The exposed rows are those of each collection whose ``time_field`` (``created_at`` by
the platform contract) lies in ``[window_from, window_to]``: one statement per table.
From them the declared references of the data map are followed *backwards* (the reverse
of the rights engine's walk): a row of ``messages`` names its ``conversation_id``; the
``conversations`` rows with that ``id`` name their ``user_id``; the ``users`` rows with
that ``id`` carry the ``email`` identity. Every read goes through the data plane's
connectors (``find_between`` for the window, ``find`` for each step: ``SELECT … WHERE field
IN (batch)``, one statement per table and batch, never one per row), with the row keys
(composite keys included) and identity rules (emails case-insensitive) the rights use; the
data map is checked against the live schema first (:mod:`pledge.dataplane.schema`). Every path is followed to a fixed point, so a row
reached along two paths (a message's author and its conversation's owner) counts for
both people, and each person's ``records`` counts each exposed row once.

Email addresses live only in the returned objects (memory), to be written to at once;
the register stores the keyed HMACs (``keys``, ``subject_key``) alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pledge.connectors.base import Connector, ConnectorError, Handle
from pledge.context import Context
from pledge.datamap.graph import Edge, build_graph
from pledge.dataplane.identity import folds_case, normalise
from pledge.dataplane.schema import require_live_schema
from pledge.errors import InvalidInput
from pledge.retention.ledger import subject_key

Root = tuple[str, tuple[Any, ...]]  # (db.collection, primary key) of an exposed row


class AffectedError(InvalidInput):
    """A collection, field or time field the breach names that cannot be used."""


@dataclass
class AffectedPerson:
    email: str
    #: keyed HMAC of each identity value found with the email, by kind
    keys: dict[str, str]
    #: exposed rows about this person
    records: int = 0

    @property
    def subject_key(self) -> str:
        """The person's stable key: their user id's HMAC when known (it survives a change of
        address), else their email's."""
        return self.keys.get("user_id") or self.keys["email"]


@dataclass
class Affected:
    collections: list[str]
    records: int = 0
    unreachable: int = 0
    statements: int = 0
    people: list[AffectedPerson] = field(default_factory=list)
    #: exposed rows per collection
    per_collection: dict[str, int] = field(default_factory=dict)

    def by_key(self) -> dict[str, AffectedPerson]:
        return {p.subject_key: p for p in self.people}


class _Walk:
    def __init__(self, engine: Context, stack: ExitStack) -> None:
        self.engine = engine
        self.graph = build_graph(engine.dataset)
        self.edges: list[Edge] = self.graph.walkable()
        self.rows: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
        self.roots: dict[str, dict[tuple[Any, ...], set[Root]]] = {}
        self.queried: dict[int, set[Any]] = {}
        #: per edge: value of the source field -> row keys of source rows holding it
        self.index: dict[int, dict[Any, list[tuple[Any, ...]]]] = {}
        self.statements = 0
        self.stack = stack
        self.conns: dict[str, Handle] = {}

    def connector(self, database: str) -> Connector:
        return self.engine.connectors.get(database)

    def pk(self, coll: str) -> list[str]:
        db, name = coll.split(".", 1)
        return self.connector(db).row_key(name)

    def kind(self, ref: Any) -> str | None:
        try:
            return self.engine.dataset.resolve(str(ref))[2].identity
        except KeyError:
            return None

    def needed(self, coll: str) -> list[str]:
        """Row key, fields the walk reads, and identity fields."""
        db_name, name = coll.split(".", 1)
        cols = list(self.pk(coll))
        cols += [e.target.field for e in self.edges if e.target.collection_key == coll]
        cols += [e.source.field for e in self.edges if e.source.collection_key == coll]
        _, collection = self.engine.dataset.resolve_collection(coll)
        cols += [f.name for f in collection.fields if f.identity is not None]
        live = set(self.connector(db_name).columns(name))
        return [c for c in dict.fromkeys(cols) if c in live]

    def conn(self, database: str) -> Handle:
        if database not in self.conns:
            self.conns[database] = self.stack.enter_context(self.connector(database).begin())
        return self.conns[database]

    def seed(self, coll: str, time_field: str, start: datetime, end: datetime) -> int:
        db_name, name = coll.split(".", 1)
        connector = self.connector(db_name)
        columns = connector.columns(name)
        if time_field not in columns:
            raise AffectedError(
                f"{coll} has no column {time_field!r} to place rows in the window; "
                f"pass a time field it has: {', '.join(columns)}")
        pk = self.pk(coll)
        rows = self.rows.setdefault(coll, {})
        roots = self.roots.setdefault(coll, {})
        self.statements += 1
        count = 0
        for row in connector.find_between(self.conn(db_name), name, time_field, start, end, self.needed(coll)):
            key = tuple(row[c] for c in pk)
            rows[key] = row
            roots.setdefault(key, set()).add((coll, key))
            count += 1
        return count

    def fetch(self, index: int, edge: Edge, values: Sequence[Any]) -> None:
        """Rows of the edge's source collection whose source field is IN ``values``."""
        src = edge.source.collection_key
        db_name, name = src.split(".", 1)
        connector = self.connector(db_name)
        pk = self.pk(src)
        rows = self.rows.setdefault(src, {})
        self.roots.setdefault(src, {})
        lookup = self.index.setdefault(index, {})
        fold = folds_case(self.kind(edge.source), self.kind(edge.target))
        coerced = connector.coerce(name, edge.source.field, list(values))
        self.statements += (len(coerced) + connector.batch_size - 1) // connector.batch_size
        for row in connector.find(self.conn(db_name), name, edge.source.field, coerced, self.needed(src),
                                  fold_case=fold):
            key = tuple(row[c] for c in pk)
            rows.setdefault(key, row)
            self.roots[src].setdefault(key, set())
            value = row[edge.source.field]
            lookup.setdefault(normalise("email", value) if fold else value, []).append(key)

    def run(self) -> None:
        changed = True
        while changed:
            changed = False
            for index, edge in enumerate(self.edges):
                target = edge.target.collection_key
                found = self.rows.get(target)
                if not found:
                    continue
                tfield = edge.target.field
                fold = folds_case(self.kind(edge.source), self.kind(edge.target))
                done = self.queried.setdefault(index, set())
                values = {normalise("email", row.get(tfield)) if fold else row.get(tfield)
                          for row in found.values()} - {None}
                new = sorted(values - done, key=repr)
                if new:
                    done.update(new)
                    self.fetch(index, edge, new)
                    changed = True
                lookup = self.index.get(index, {})
                src_roots = self.roots.get(edge.source.collection_key, {})
                for key, row in found.items():
                    mine = self.roots[target].get(key)
                    if not mine:
                        continue
                    value = row.get(tfield)
                    for src_key in lookup.get(normalise("email", value) if fold else value, ()):
                        theirs = src_roots[src_key]
                        if not mine <= theirs:
                            theirs |= mine
                            changed = True


def _identity_fields(engine: Context, coll: str) -> list[tuple[str, str]]:
    _, collection = engine.dataset.resolve_collection(coll)
    return [(f.name, str(f.identity)) for f in collection.fields if f.identity is not None]


def find_affected(engine: Context, collections: Iterable[str], window_from: datetime, window_to: datetime,
                  *, time_field: str = "created_at") -> Affected:
    """The people whose rows of ``collections`` fall in the window (see the module docstring)."""
    colls = list(dict.fromkeys(collections))
    if not colls:
        raise AffectedError("name at least one exposed collection (db.collection)")
    for coll in colls:
        if not engine.dataset.has(coll) or coll.count(".") != 1:
            known = [f"{d.name}.{c.name}" for d in engine.dataset.databases for c in d.collections]
            raise AffectedError(f"{coll!r} is not a collection of the data map; known: {', '.join(known)}")
    if window_to < window_from:
        raise AffectedError("the window ends before it starts (--to is earlier than --from)")
    out = Affected(colls)
    try:
        require_live_schema(engine)  # refuses a data map that does not match, before any read
        with ExitStack() as stack:
            walk = _Walk(engine, stack)
            for coll in colls:
                out.per_collection[coll] = walk.seed(coll, time_field, window_from, window_to)
            walk.run()
    except ConnectorError as exc:
        raise AffectedError(str(exc)) from exc
    out.records = sum(out.per_collection.values())
    out.statements = walk.statements
    secret = engine.keys.subject_secret
    people: dict[str, AffectedPerson] = {}
    reached: dict[str, set[Root]] = {}
    for coll, rows in walk.rows.items():
        idents = _identity_fields(engine, coll)
        if not any(kind == "email" for _, kind in idents):
            continue
        for key, row in rows.items():
            roots = walk.roots[coll].get(key) or set()
            if not roots:
                continue
            for fname, kind in idents:
                if kind != "email" or not row.get(fname):
                    continue
                email = str(row[fname]).strip()
                norm = normalise("email", email)
                person = people.get(norm)
                if person is None:
                    person = people[norm] = AffectedPerson(email, {"email": subject_key(secret, "email", email)})
                for other, okind in idents:
                    if okind != "email" and row.get(other) is not None:
                        person.keys.setdefault(okind, subject_key(secret, okind, str(row[other])))
                reached.setdefault(norm, set()).update(roots)
    for norm, person in people.items():
        person.records = len(reached[norm])
    everyone: set[Root] = set().union(*reached.values()) if reached else set()
    out.unreachable = out.records - len(everyone)
    out.people = sorted(people.values(), key=lambda p: p.subject_key)
    return out
