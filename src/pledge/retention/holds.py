"""Legal holds: people and record sets that no retention sweep may touch.

* A **person** hold stores the keyed HMAC of one identity value (``email``,
  ``user_id``, …), never the value. A sweep finds the held people's rows in each table of
  people (a collection that declares identity fields) and excludes them, and every row
  that links to them directly by a foreign key.
* A **record-set** hold names ``db.collection`` and a condition (the same validated SQL
  subset as retention rules) or a list of row keys (a value each for a one-column key, a
  list of values in key order for a composite one).

Held rows are described as a data-plane selection (:meth:`HoldSet.held`), never as SQL.

Each hold has a reason and an expiry; an expired or released hold no longer counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from pledge.connectors.base import Connector, Key
from pledge.dataplane import selection
from pledge.dataplane.selection import AnyOf, Condition, KeyIn, Pred
from pledge.errors import InvalidInput
from pledge.retention.ledger import subject_key
from pledge.retention.rules import RuleError, check_condition
from pledge.rights.fkgraph import Link, database_links
from pledge.store.tables.retention import retention_holds

if TYPE_CHECKING:
    from pledge.context import Context


class HoldError(InvalidInput):
    """A hold that cannot be placed or released as asked."""


@dataclass(frozen=True)
class Hold:
    id: int
    kind: str
    subject_kind: str | None
    subject_key: str | None
    collection: str | None
    condition: str | None
    ids: list[Any] | None
    reason: str
    actor: str
    created_at: datetime
    expires_at: datetime
    released_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def active(self, now: datetime) -> bool:
        return self.released_at is None and _aware(self.expires_at) > _aware(now)


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Holds:
    """The holds in the store, through the engine (its clock, secret and data map)."""

    def __init__(self, engine: Context) -> None:
        self.engine = engine

    def _check_expiry(self, expires_at: datetime) -> datetime:
        expires_at = _aware(expires_at)
        if expires_at <= _aware(self.engine.now()):
            raise HoldError(f"expiry {expires_at.isoformat()} is not in the future")
        return expires_at

    def add_person(self, identities: Mapping[str, str], *, reason: str, expires_at: datetime,
                   actor: str = "system") -> list[int]:
        """Hold a person: one row per identity value given (any of them matches)."""
        if not identities:
            raise HoldError("name the person by at least one identity, e.g. email")
        if not reason.strip():
            raise HoldError("a hold needs a reason")
        expires_at = self._check_expiry(expires_at)
        now = self.engine.now()
        ids: list[int] = []
        with self.engine.store.begin() as conn:
            for kind, value in identities.items():
                res = conn.execute(insert(retention_holds).values(
                    kind="person", subject_kind=kind, subject_key=subject_key(self.engine.keys.subject_secret,
                                                                              kind, str(value)),
                    reason=reason, actor=actor, created_at=now, expires_at=expires_at))
                assert res.inserted_primary_key is not None
                ids.append(int(res.inserted_primary_key[0]))
            self.engine.audit.record("retention.hold.add", actor=actor, target="person",
                                     details={"holds": ids, "kinds": sorted(identities), "reason": reason,
                                              "expires_at": expires_at.isoformat()}, conn=conn)
        return ids

    def add_records(self, collection: str, *, reason: str, expires_at: datetime,
                    condition: str | None = None, ids: Sequence[Any] | None = None,
                    actor: str = "system") -> int:
        """Hold a record set: ``db.collection`` with a condition or a list of primary keys."""
        if not self.engine.dataset.has(collection) or collection.count(".") != 1:
            raise HoldError(f"{collection!r} is not a db.collection of the data map")
        if (condition is None) == (ids is None):
            raise HoldError("give either a condition or a list of ids")
        if not reason.strip():
            raise HoldError("a hold needs a reason")
        database, _, name = collection.partition(".")
        if condition is not None:
            try:
                check_condition(self._connector(database), name, condition)
            except RuleError as exc:
                raise HoldError(str(exc)) from exc
        expires_at = self._check_expiry(expires_at)
        with self.engine.store.begin() as conn:
            res = conn.execute(insert(retention_holds).values(
                kind="records", collection=collection, condition=condition,
                ids=list(ids) if ids is not None else None, reason=reason, actor=actor,
                created_at=self.engine.now(), expires_at=expires_at))
            assert res.inserted_primary_key is not None
            hold_id = int(res.inserted_primary_key[0])
            self.engine.audit.record("retention.hold.add", actor=actor, target=collection,
                                     details={"hold": hold_id, "condition": condition,
                                              "ids": len(ids) if ids is not None else None,
                                              "reason": reason, "expires_at": expires_at.isoformat()},
                                     conn=conn)
        return hold_id

    def list(self, include_inactive: bool = False) -> list[Hold]:
        with self.engine.store.connect() as conn:
            rows = conn.execute(select(retention_holds).order_by(retention_holds.c.id)).all()
        holds = [Hold(**dict(r._mapping)) for r in rows]
        now = self.engine.now()
        return holds if include_inactive else [h for h in holds if h.active(now)]

    def release(self, hold_id: int, actor: str = "system") -> Hold:
        with self.engine.store.begin() as conn:
            row = conn.execute(select(retention_holds).where(retention_holds.c.id == hold_id)).first()
            if row is None:
                raise HoldError(f"no hold with id {hold_id}")
            if row.released_at is not None:
                raise HoldError(f"hold {hold_id} was already released")
            conn.execute(update(retention_holds).where(retention_holds.c.id == hold_id)
                         .values(released_at=self.engine.now()))
            self.engine.audit.record("retention.hold.release", actor=actor, target=str(hold_id),
                                     details={"hold": hold_id}, conn=conn)
        return next(h for h in self.list(include_inactive=True) if h.id == hold_id)

    def _connector(self, database: str) -> Connector:
        return self.engine.connectors.get(database)

    def snapshot(self, now: datetime) -> HoldSet:
        """The holds active at ``now``, resolved against the platform for one sweep."""
        return HoldSet(self.engine, [h for h in self.list(include_inactive=True) if h.active(now)])


def _key(value: Any) -> Key:
    return tuple(value) if isinstance(value, list | tuple) else (value,)


class HoldSet:
    """Active holds as selections per table: ``held(database, collection)`` names the held rows."""

    def __init__(self, engine: Context, holds: list[Hold]) -> None:
        self.engine = engine
        self.holds = holds
        self._people: dict[str, set[Key]] | None = None
        self._links: dict[str, list[Link]] = {}

    def __bool__(self) -> bool:
        return bool(self.holds)

    def links(self, database: str) -> list[Link]:
        if database not in self._links:
            self._links[database] = database_links(self._connector(database), self.engine.dataset,
                                                   database)
        return self._links[database]

    def _connector(self, database: str) -> Connector:
        return self.engine.connectors.get(database)

    def held_people(self) -> dict[str, set[Key]]:
        """``db.table`` of people -> row keys (tuples) of the held people in it (one scan each)."""
        if self._people is not None:
            return self._people
        wanted: dict[str, set[str]] = {}
        for h in self.holds:
            if h.kind == "person" and h.subject_kind and h.subject_key:
                wanted.setdefault(h.subject_kind, set()).add(h.subject_key)
        out: dict[str, set[Key]] = {}
        secrets = self.engine.ledger.secrets  # every subject key: holds made before a rotation still hold
        for db in self.engine.dataset.databases if wanted else []:
            connector = self._connector(db.name)
            for coll in db.collections:
                live = set(connector.columns(coll.name))
                idf = [f for f in coll.fields if f.identity in wanted and f.name in live]
                if not idf:
                    continue
                key = connector.row_key(coll.name)
                found: set[Key] = set()
                with connector.begin() as conn:
                    for row in selection.scan(connector, conn, coll.name, [*key, *(f.name for f in idf)]):
                        for f in idf:
                            value = row.get(f.name)
                            if value is not None and any(
                                    subject_key(s, str(f.identity), str(value)) in wanted[str(f.identity)]
                                    for s in secrets):
                                found.add(tuple(row[c] for c in key))
                if found:
                    out[f"{db.name}.{coll.name}"] = found
        self._people = out
        return out

    def held(self, database: str, table: str, now: datetime | None = None) -> Pred | None:
        """The held rows of ``database.table`` (None when nothing in it can be held): rows a
        record-set hold names, held people's rows, and rows linking to them."""
        parts: list[Pred] = []
        collection = f"{database}.{table}"
        for h in self.holds:
            if h.kind != "records" or h.collection != collection:
                continue
            if h.ids is not None:
                parts.append(KeyIn(tuple(_key(i) for i in h.ids)))
            elif h.condition:
                parts.append(Condition(h.condition))
        people = self.held_people()
        if collection in people:
            parts.append(KeyIn(tuple(sorted(people[collection], key=repr))))
        live: set[str] | None = None
        for lk in self.links(database):
            held_ids = people.get(f"{database}.{lk.parent}")
            if lk.child != table or not held_ids:
                continue
            if live is None:
                live = set(self._connector(database).columns(table))
            if set(lk.columns) <= live:
                parent_key = self._connector(database).row_key(lk.parent)
                values = {tuple(k[parent_key.index(c)] for c in lk.parent_columns) for k in held_ids} \
                    if set(lk.parent_columns) <= set(parent_key) else set()
                parts.append(KeyIn(tuple(sorted(values, key=repr)), lk.columns))
        return AnyOf(tuple(parts)) if parts else None
