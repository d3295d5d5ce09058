"""Planning an erasure: which rows are deleted, masked or retained, and in what order.

From the rows :func:`pledge.rights.locate.locate` finds, each collection's rows get an
outcome from the data map and the policy:

* a collection with ``exemption:`` keeps its rows while the policy exemption's period
  runs (counted from the exemption's ``trigger`` column); only fields with their own
  ``erasure`` strategy, or personal fields outside the exemption's categories, are
  masked. Rows whose legal period has ended are erased like any other.
* ``shared: keep`` keeps the rows untouched. ``shared: anonymise`` is for content that
  lives inside something other people keep (a message the person wrote in someone
  else's conversation, a face tag on someone else's photo): such a row is deleted only
  when every *container* it links to (any linked table that is not a table of people,
  i.e. declares no identity field) is erased too; otherwise it is anonymised (its personal
  fields masked, its links to erased rows set NULL) and the others keep it.
* otherwise ``erasure: delete`` deletes the rows, ``erasure: retain`` keeps them, and a
  masking strategy masks the personal fields (a field's own ``erasure`` wins).

Then the foreign keys are closed over: a row about to be deleted that a *kept* row
still points at is either freed (the kept row's link is set NULL, when nullable) or
anonymised instead of deleted. Work is ordered: every UPDATE first, then DELETEs with
children before parents, so no foreign key breaks on any engine.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, select

from pledge.connectors.base import batched
from pledge.connectors.sql import SqlConnector
from pledge.datamap.model import Collection, DataField
from pledge.policy.model import Exemption
from pledge.rights.fkgraph import Link, database_links, delete_order, incoming
from pledge.rights.masking import MASKING_STRATEGIES

if TYPE_CHECKING:
    from pledge.engine import Engine
    from pledge.rights.locate import Located

Outcome = Literal["deleted", "masked", "retained"]
Op = Literal["delete", "update", "none"]


class ErasurePlanError(ValueError):
    """A data map or policy that cannot drive an erasure (e.g. an unknown exemption)."""


@dataclass
class Step:
    """One statement group: a DELETE or an UPDATE of some rows of one table."""

    database: str
    collection: str
    outcome: Outcome
    op: Op
    keys: list[Any]
    reason: str
    fields: dict[str, str] = field(default_factory=dict)
    detach: list[str] = field(default_factory=list)
    exemption: str | None = None
    law: str | None = None
    done: bool = False
    affected: int = 0

    @property
    def table(self) -> str:
        return f"{self.database}.{self.collection}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Step:
        return cls(**data)


@dataclass
class _Group:
    outcome: Outcome
    reason: str
    fields: dict[str, str]
    exemption: str | None = None
    law: str | None = None
    #: shared content: deleted only while every link it has goes to rows being erased
    shared: bool = False


def _naive_utc(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return _naive_utc(datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def _personal(coll: Collection, pk: list[str]) -> list[DataField]:
    return [f for f in coll.fields if f.name not in pk and (f.is_personal or f.erasure)]


def mask_strategies(coll: Collection, pk: list[str]) -> dict[str, str]:
    """Field -> strategy when rows of ``coll`` are masked (a field's own strategy wins)."""
    default = coll.erasure if coll.erasure in MASKING_STRATEGIES else "null"
    out: dict[str, str] = {}
    for f in _personal(coll, pk):
        strategy = f.erasure or default
        if strategy == "delete":
            strategy = "null"
        if strategy != "retain":
            out[f.name] = strategy
    return out


def _covered(f: DataField, exemption: Exemption) -> bool:
    if not exemption.categories:
        return True
    return bool(f.categories) and all(
        any(c == e or c.startswith(e + ".") for e in exemption.categories) for c in f.categories
    )


def exempt_strategies(coll: Collection, pk: list[str], exemption: Exemption) -> dict[str, str]:
    """What is still masked in rows kept for an exemption: fields with their own strategy,
    and personal fields the exemption's categories do not cover."""
    out: dict[str, str] = {}
    for f in _personal(coll, pk):
        if f.erasure == "retain":
            continue
        if f.erasure is not None:
            out[f.name] = "null" if f.erasure == "delete" else f.erasure
        elif not _covered(f, exemption):
            out[f.name] = "null"
    return out


def _is_people(dbm: Any, name: str) -> bool:
    return bool(dbm.has_collection(name) and any(f.identity for f in dbm.collection(name).fields))


class Planner:
    """Builds the ordered steps of one erasure (reads the platform; writes nothing)."""

    def __init__(self, engine: Engine, located: Located) -> None:
        self.engine = engine
        self.located = located
        self.notes: list[str] = []

    def connector(self, database: str) -> SqlConnector:
        conn = self.engine.connectors.get(database)
        if not isinstance(conn, SqlConnector):
            raise ErasurePlanError(f"database {database!r}: erasure needs a SQL connector")
        return conn

    def _exemption(self, coll: Collection) -> Exemption:
        assert coll.exemption is not None
        try:
            return self.engine.policy.exemption(coll.exemption)
        except KeyError as exc:
            known = ", ".join(e.key for e in self.engine.policy.exemptions) or "none"
            raise ErasurePlanError(
                f"collection {coll.name!r}: exemption {coll.exemption!r} is not in the policy (known: {known})"
            ) from exc

    def _classify(self, conn: Connection, database: str, coll: Collection,
                  keys: list[Any]) -> dict[Any, _Group]:
        """Each located row of one collection to its outcome, before the FK closure."""
        pk = self.located.primary_keys.get(f"{database}.{coll.name}") or coll.primary_key
        out: dict[Any, _Group] = {}
        rest = list(keys)
        if coll.exemption:
            ex = self._exemption(coll)
            table = self.connector(database).table(coll.name)
            kept: set[Any] = set(keys)
            if ex.trigger in table.c:
                cutoff = _naive_utc(ex.period.before(self.engine.now()))
                kept = set()
                pkcol = table.c[pk[0]]
                for batch in batched(keys, 800):
                    for key, when in conn.execute(select(pkcol, table.c[ex.trigger]).where(pkcol.in_(batch))):
                        moment = _naive_utc(when)
                        if moment is not None and ex.year_end:
                            moment = datetime(moment.year + 1, 1, 1)  # counted from the year's end
                        if moment is None or cutoff is None or moment >= cutoff:
                            kept.add(key)
            since = f"the end of the year of {ex.trigger}" if ex.year_end else ex.trigger
            group = _Group("retained", f"{ex.name}: kept {ex.period} from {since} ({ex.law})",
                           exempt_strategies(coll, pk, ex), ex.key, ex.law)
            for key in keys:
                if key in kept:
                    out[key] = group
            rest = [k for k in keys if k not in kept]
            if rest:
                self.notes.append(f"{database}.{coll.name}: {len(rest)} row(s) past the {ex.key} period "
                                  "are erased normally")
        if not rest:
            return out
        if coll.shared == "keep":
            group = _Group("retained", "shared content: kept for the others who share it (dataset: shared: keep)", {})
        elif coll.shared == "anonymise":
            group = _Group("deleted", "shared content: every row it belongs to is erased too", {},
                           shared=True)
        elif coll.erasure == "delete":
            group = _Group("deleted", "erasure: delete", {})
        elif coll.erasure == "retain":
            group = _Group("retained", "dataset marks this collection erasure: retain", {})
        else:
            fields = mask_strategies(coll, pk)
            reason = f"erasure: {coll.erasure} on personal fields" if fields else "no personal fields to mask"
            group = _Group("masked" if fields else "retained", reason, fields)
        for key in rest:
            out[key] = group
        return out

    def build(self) -> list[Step]:
        """The ordered steps: UPDATEs (dataset order), then DELETEs children first."""
        updates: list[Step] = []
        deletes: dict[str, Step] = {}
        order_edges: list[tuple[str, str]] = []
        located = self.located
        by_db: dict[str, list[str]] = defaultdict(list)
        for coll_key in located.collections():
            db, name = coll_key.split(".", 1)
            by_db[db].append(name)
        for database in [d.name for d in self.engine.dataset.databases if d.name in by_db]:
            connector = self.connector(database)
            dbm = self.engine.dataset.database(database)
            with connector.begin() as conn:
                groups: dict[str, dict[Any, _Group]] = {}
                for name in by_db[database]:
                    keys = [k[0] for k in located.keys(f"{database}.{name}")]
                    if len(located.primary_keys.get(f"{database}.{name}", [])) != 1:
                        raise ErasurePlanError(f"{database}.{name}: erasure needs a one-column primary key")
                    groups[name] = self._classify(conn, database, dbm.collection(name), keys)
                links = database_links(connector, self.engine.dataset, database)
                detach = self._close(conn, connector, links, groups, dbm)
            for name in by_db[database]:
                updates.extend(self._update_steps(database, name, groups[name], detach.get(name, {})))
                doomed = [k for k, g in groups[name].items() if g.outcome == "deleted"]
                if doomed:
                    deletes[f"{database}.{name}"] = Step(database, name, "deleted", "delete", doomed,
                                                         groups[name][doomed[0]].reason)
            for lk in links:
                order_edges.append((f"{database}.{lk.child}", f"{database}.{lk.parent}"))
            for coll in dbm.collections:
                for target in self.engine.dataset.after_targets(dbm, coll):
                    order_edges.append((target, f"{database}.{coll.name}"))
        order, cycles = delete_order(deletes, order_edges)
        for cycle in cycles:
            self.notes.append(f"foreign-key cycle among {', '.join(cycle)}: deleted in data-map order")
        return updates + [deletes[t] for t in order]

    def _close(self, conn: Connection, connector: SqlConnector, links: list[Link],
               groups: dict[str, dict[Any, _Group]], dbm: Any) -> dict[str, dict[Any, set[str]]]:
        """Free or anonymise rows still linked from kept rows; returns kept rows to detach."""
        doomed = {t: {k for k, g in gs.items() if g.outcome == "deleted"} for t, gs in groups.items()}
        # child rows (table, key, column) pointing at each doomed parent row
        pointers: list[tuple[Link, Any, Any]] = []
        for parent in groups:
            keys: set[Any] = set(groups[parent]) if _is_people(dbm, parent) else doomed[parent]
            if not keys:
                continue
            for lk in incoming(links, parent):
                table = connector.table(lk.child)
                cpk = [c.name for c in table.primary_key.columns]
                if len(cpk) != 1:
                    raise ErasurePlanError(f"{lk.child}: erasure needs a one-column primary key")
                col, pkcol = table.c[lk.column], table.c[cpk[0]]
                for batch in batched(sorted(keys), 800):
                    for ckey, pval in conn.execute(select(pkcol, col).where(col.in_(batch))):
                        pointers.append((lk, ckey, pval))
        # outgoing links of shared rows: (link, row key, parent value)
        shared_links: list[tuple[Link, Any, Any]] = []
        for table_name, gs in groups.items():
            shared_keys = [k for k, g in gs.items() if g.shared]
            # container links only: a link to a table of people (one that declares an
            # identity field) is authorship, which is detached, never a reason to keep
            outs = [lk for lk in links if lk.child == table_name and not _is_people(dbm, lk.parent)]
            if not shared_keys or not outs:
                continue
            table = connector.table(table_name)
            pkcol = table.primary_key.columns.values()[0]
            for batch in batched(shared_keys, 800):
                for row in conn.execute(select(pkcol, *[table.c[lk.column] for lk in outs])
                                        .where(pkcol.in_(batch))):
                    for i, lk in enumerate(outs, start=1):
                        if row[i] is not None:
                            shared_links.append((lk, row[0], row[i]))
        changed = True
        while changed:
            changed = False
            for lk, ckey, pval in shared_links:
                if ckey not in doomed[lk.child] or pval in doomed.get(lk.parent, set()):
                    continue
                # it belongs to something that stays: anonymise it, others keep it
                doomed[lk.child].discard(ckey)
                coll = dbm.collection(lk.child)
                pk = [connector.primary_key(lk.child)[0]]
                groups[lk.child][ckey] = _Group(
                    "masked", f"shared content in a row that stays ({lk.describe()}): anonymised, not deleted",
                    mask_strategies(coll, pk))
                changed = True
            for lk, ckey, pval in pointers:
                if pval not in doomed.get(lk.parent, set()):
                    continue
                if ckey in doomed.get(lk.child, set()):
                    continue  # deleted too, and first
                ours = ckey in groups.get(lk.child, {})
                if ours and lk.nullable:
                    continue  # will be detached
                # a kept row needs this parent: anonymise the parent instead of deleting it
                doomed[lk.parent].discard(pval)
                coll = dbm.collection(lk.parent) if dbm.has_collection(lk.parent) else None
                pk = [connector.primary_key(lk.parent)[0]]
                fields = mask_strategies(coll, pk) if coll is not None else {}
                whose = "retained" if ours else "other people's"
                groups[lk.parent][pval] = _Group(
                    "retained", f"still referenced by {whose} rows in {lk.child} ({lk.describe()}): "
                                "anonymised instead of deleted", fields)
                changed = True
        # kept rows of ours drop nullable links to erased rows, and to the person's own
        # row in a table of people even when that row stays (authorship is an identifier)
        detach: dict[str, dict[Any, set[str]]] = defaultdict(lambda: defaultdict(set))
        for lk, ckey, pval in pointers:
            if pval in doomed.get(lk.parent, set()) and ckey not in doomed.get(lk.child, set()):
                detach[lk.child][ckey].add(lk.column)
        for lk, ckey, pval in pointers:
            if (lk.nullable and ckey in groups.get(lk.child, {}) and ckey not in doomed.get(lk.child, set())
                    and pval in groups.get(lk.parent, {}) and _is_people(dbm, lk.parent)):
                detach[lk.child][ckey].add(lk.column)
        return detach

    def _update_steps(self, database: str, name: str, groups: dict[Any, _Group],
                      detach: dict[Any, set[str]]) -> list[Step]:
        buckets: dict[tuple[Any, ...], Step] = {}
        # foreign keys are never masked: a link is only cut (detached) by the closure
        fk_cols = {fk.parent.name for fk in self.connector(database).table(name).foreign_keys}
        for key, g in groups.items():
            if g.outcome == "deleted":
                continue
            cols = sorted(detach.get(key, set()))
            fields = {f: st for f, st in g.fields.items() if f not in fk_cols}
            sig = (g.outcome, g.reason, tuple(sorted(fields.items())), tuple(cols), g.exemption)
            if sig not in buckets:
                op: Op = "update" if (fields or cols) else "none"
                buckets[sig] = Step(database, name, g.outcome, op, [], g.reason, fields, cols,
                                    g.exemption, g.law)
            buckets[sig].keys.append(key)
        return list(buckets.values())
