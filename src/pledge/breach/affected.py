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
that ``id`` carry the ``email`` identity. Each step is ``SELECT … WHERE field IN
(batch)`` through the same connectors as :mod:`pledge.rights.locate`: one statement per
table and batch, never one per row. Every path is followed to a fixed point, so a row
reached along two paths (a message's author and its conversation's owner) counts for
both people, and each person's ``records`` counts each exposed row once.

Email addresses live only in the returned objects (memory), to be written to at once;
the register stores the keyed HMACs (``keys``, ``subject_key``) alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from pledge.connectors.base import ConnectorError
from pledge.connectors.sql import SqlConnector
from pledge.datamap.graph import Edge, build_graph
from pledge.engine import Engine
from pledge.retention.ledger import subject_key

Root = tuple[str, tuple[Any, ...]]  # (db.collection, primary key) of an exposed row


class AffectedError(ValueError):
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


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


class _Walk:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.graph = build_graph(engine.dataset)
        self.edges: list[Edge] = self.graph.walkable()
        self.rows: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
        self.roots: dict[str, dict[tuple[Any, ...], set[Root]]] = {}
        self.queried: dict[int, set[Any]] = {}
        #: per edge: value of the source field -> primary keys of source rows holding it
        self.index: dict[int, dict[Any, list[tuple[Any, ...]]]] = {}
        self.statements = 0
        self.conns: dict[str, Connection] = {}

    def connector(self, database: str) -> SqlConnector:
        conn = self.engine.connectors.get(database)
        if not isinstance(conn, SqlConnector):  # pragma: no cover - only SQL connectors exist
            raise AffectedError(f"database {database!r}: breach search needs a SQL connector")
        return conn

    def pk(self, coll: str) -> list[str]:
        declared = self.graph.primary_keys.get(coll) or []
        if declared:
            return declared
        db, name = coll.split(".", 1)
        return self.connector(db).primary_key(name)

    def needed(self, coll: str) -> list[str]:
        """Primary key, fields the walk reads, and identity fields."""
        db_name, name = coll.split(".", 1)
        cols = list(self.pk(coll))
        cols += [e.target.field for e in self.edges if e.target.collection_key == coll]
        cols += [e.source.field for e in self.edges if e.source.collection_key == coll]
        _, collection = self.engine.dataset.resolve_collection(coll)
        cols += [f.name for f in collection.fields if f.identity is not None]
        live = set(self.connector(db_name).columns(name))
        return [c for c in dict.fromkeys(cols) if c in live]

    def conn(self, database: str) -> Connection:
        if database not in self.conns:
            self.conns[database] = self.connector(database).engine.connect()
        return self.conns[database]

    def close(self) -> None:
        for c in self.conns.values():
            c.close()
        self.conns.clear()

    def seed(self, coll: str, time_field: str, start: datetime, end: datetime) -> int:
        db_name, name = coll.split(".", 1)
        connector = self.connector(db_name)
        table = connector.table(name)
        if time_field not in table.c:
            raise AffectedError(
                f"{coll} has no column {time_field!r} to place rows in the window; "
                f"pass a time field it has: {', '.join(table.c.keys())}")
        column = table.c[time_field]
        aware = bool(getattr(column.type, "timezone", False))
        lo, hi = (start, end) if aware else (_naive_utc(start), _naive_utc(end))
        cols = [table.c[c] for c in self.needed(coll)]
        pk = self.pk(coll)
        rows = self.rows.setdefault(coll, {})
        roots = self.roots.setdefault(coll, {})
        self.statements += 1
        result = self.conn(db_name).execution_options(stream_results=True, yield_per=1000).execute(
            select(*cols).where(column >= lo, column <= hi))
        count = 0
        for r in result:
            row = dict(r._mapping)
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
        coerced = connector.coerce(name, edge.source.field, list(values))
        self.statements += (len(coerced) + connector.batch_size - 1) // connector.batch_size
        for row in connector.select_in(self.conn(db_name), name, edge.source.field, coerced, self.needed(src)):
            key = tuple(row[c] for c in pk)
            rows.setdefault(key, row)
            self.roots[src].setdefault(key, set())
            lookup.setdefault(row[edge.source.field], []).append(key)

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
                done = self.queried.setdefault(index, set())
                values = {row.get(tfield) for row in found.values()} - {None}
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
                    for src_key in lookup.get(row.get(tfield), ()):
                        theirs = src_roots[src_key]
                        if not mine <= theirs:
                            theirs |= mine
                            changed = True


def _identity_fields(engine: Engine, coll: str) -> list[tuple[str, str]]:
    _, collection = engine.dataset.resolve_collection(coll)
    return [(f.name, str(f.identity)) for f in collection.fields if f.identity is not None]


def find_affected(engine: Engine, collections: Iterable[str], window_from: datetime, window_to: datetime,
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
    walk = _Walk(engine)
    out = Affected(colls)
    try:
        for coll in colls:
            out.per_collection[coll] = walk.seed(coll, time_field, window_from, window_to)
        walk.run()
    except ConnectorError as exc:
        raise AffectedError(str(exc)) from exc
    finally:
        walk.close()
    out.records = sum(out.per_collection.values())
    out.statements = walk.statements
    secret = engine.settings.secret_key
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
                norm = email.lower()
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
