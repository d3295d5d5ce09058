"""Planning an erasure: which rows are deleted, masked or kept, exactly, and in what order.

From the whole rows :func:`pledge.rights.locate.locate` finds, :mod:`pledge.rights.erasure_rows`
says whose each row is. Then every row gets a decision:

* **the person's own rows**: a collection with ``exemption:`` keeps its rows while the
  exemption's legal period runs (from its trigger, read through a reference when the
  collection lacks it); only text fields outside the exemption's categories, or with their
  own ``erasure`` strategy, are masked in a kept row, never its numbers or dates.
  ``shared: keep`` keeps the rows as they are. ``shared: anonymise`` is content inside
  *containers* (a message in a conversation, a face tag on a photo): deleted when every
  container it links to is erased, anonymised otherwise. Otherwise ``erasure: delete``
  deletes, ``erasure: retain`` keeps, and a masking strategy masks the personal fields.
* **other people's rows** (reached through the person, but owned by others or shared with
  them) lose only their links to the person: an identity field holding one of the
  person's values is masked, a reference to a row of theirs that is deleted is cut. Rows reached only
  through the person's rows, with no owner of their own (an address), that other people's
  rows also use are kept as they are.

Then the foreign keys are closed over: a row about to be deleted that a row which stays
still points at is either freed (the link is set NULL, when nullable) or anonymised
instead of deleted (when the link is NOT NULL); a link from a row that stays to the
person's own row in a table of people is always cut when it can be.

Finally every row that stays is compared with what masking would write: only values that
really change are planned, so the plan (and the report) says exactly which field of which
row becomes what, and every count equals a before/after diff of the database. Work is
ordered: every UPDATE first, then DELETEs with children before parents. Rows are named by
their primary key (a tuple for a composite key; the data map's declared key for a table
without one); a table with neither is refused.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pledge.connectors.base import Connector, Handle, batched
from pledge.datamap.model import Collection
from pledge.dataplane import selection
from pledge.dataplane.masking import MASKING_STRATEGIES, MaskingError, _Faker
from pledge.dataplane.selection import KeyIn
from pledge.dataplane.writes import MaskPreview
from pledge.errors import InvalidInput
from pledge.policy.model import Exemption
from pledge.rights.erasure_rows import (
    MINE,
    Clock,
    ExemptionMapError,
    Ownership,
    RowId,
    clock_starts,
    exempt_strategies,
    is_people,
    link_fields,
    mask_strategies,
    resolve_clock,
)
from pledge.rights.fkgraph import Link, database_links, delete_order, incoming

if TYPE_CHECKING:
    from pledge.context import Context
    from pledge.rights.locate import Located

__all__ = ["ErasurePlanError", "Planner", "Step", "exempt_strategies", "mask_strategies"]

Outcome = Literal["deleted", "masked", "retained"]
Op = Literal["delete", "update", "none"]
Action = Literal["delete", "mask", "keep"]


class ErasurePlanError(InvalidInput):
    """A data map or policy that cannot drive an erasure (e.g. an unknown exemption)."""


@dataclass
class Step:
    """One statement group: a DELETE or an UPDATE of some rows of one table.

    ``outcome`` is what happens to the rows: ``deleted``, ``masked`` (some value changes)
    or ``retained`` (nothing changes). ``fields`` maps each changed column to the strategy
    applied, ``became`` to what it becomes (``null``, ``[redacted]``, ``hash``, ``fake``),
    ``detach`` lists links set NULL; ``kept`` names personal fields left as they are, and
    why. ``shared`` marks rows of other people. ``key`` names the key columns when they are
    not the primary key; keys of a composite key are tuples.
    """

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
    became: dict[str, str] = field(default_factory=dict)
    kept: dict[str, str] = field(default_factory=dict)
    until: str | None = None
    shared: bool = False
    key: list[str] = field(default_factory=list)

    @property
    def table(self) -> str:
        return f"{self.database}.{self.collection}"

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, value in out.items():  # shallow copies: keys and field maps are flat
            if isinstance(value, list | dict):
                out[name] = value.copy()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Step:
        step = cls(**data)
        step.keys = [tuple(k) if isinstance(k, list) else k for k in step.keys]
        return step


@dataclass
class _Decision:
    action: Action
    reason: str
    strategies: dict[str, str] = field(default_factory=dict)
    cut: set[str] = field(default_factory=set)
    exemption: str | None = None
    law: str | None = None
    until: datetime | None = None
    shared: bool = False
    #: shared: anonymise content, deleted only while every container it links to is erased
    contained: bool = False
    #: kept as it is: nothing may change (shared: keep, rows other people also use)
    frozen: bool = False


class Planner:
    """Builds the ordered steps of one erasure (reads the platform; writes nothing)."""

    def __init__(self, engine: Context, located: Located, now: datetime | None = None) -> None:
        self.engine = engine
        self.located = located
        #: the moment exemption periods are counted to (a sweep passes its own; else the clock)
        self.now = now or engine.now()
        self.notes: list[str] = []
        self.ownership: Ownership | None = None
        self.rows: dict[str, dict[Any, dict[str, Any]]] = {}
        self.keycols: dict[str, list[str]] = {}
        self.decisions: dict[RowId, _Decision] = {}
        self.external: dict[RowId, dict[str, Any]] = {}

    # -- inputs -----------------------------------------------------------------------------
    def connector(self, database: str) -> Connector:
        return self.engine.connectors.get(database)

    def _exemption(self, coll: Collection) -> Exemption:
        assert coll.exemption is not None
        try:
            return self.engine.policy.exemption(coll.exemption)
        except KeyError as exc:
            known = ", ".join(e.key for e in self.engine.policy.exemptions) or "none"
            raise ErasurePlanError(
                f"collection {coll.name!r}: exemption {coll.exemption!r} is not in the policy (known: {known})"
            ) from exc

    def clocks(self, database: str) -> dict[str, Clock]:
        """Every exempt collection's clock in ``database``; refuses an unreachable trigger."""
        connector = self.connector(database)
        out: dict[str, Clock] = {}
        for coll in self.engine.dataset.database(database).collections:
            if coll.exemption is None:
                continue
            try:
                out[coll.name] = resolve_clock(self.engine.dataset, connector, database, coll, self._exemption(coll))
            except ExemptionMapError as exc:
                raise ErasurePlanError(str(exc)) from None
        return out

    def _key_names(self, database: str, name: str) -> list[str]:
        """The columns that name a row: the locator's row key (the primary key, or the
        declared unique key of a table without one; :mod:`pledge.dataplane.rowkey`)."""
        coll_key = f"{database}.{name}"
        names = list(self.located.primary_keys.get(coll_key) or self.connector(database).row_key(name))
        if not names:
            raise ErasurePlanError(f"{coll_key} has no primary key, and the data map declares no key fields for "
                                   "it; mark the fields that name a row with primary_key: true")
        return names

    def _load(self, database: str, name: str) -> None:
        coll_key = f"{database}.{name}"
        names = self._key_names(database, name)
        self.keycols[coll_key] = names
        connector = self.connector(database)
        live = connector.columns(name)
        found = self.located.rows.get(coll_key, [])
        by_key: dict[Any, dict[str, Any]] = {}
        if found and all(set(live) <= set(r) for r in found[:1]):
            for r in found:
                by_key[r[names[0]] if len(names) == 1 else tuple(r[c] for c in names)] = dict(r)
        else:  # located with keys only: read the whole rows, one SELECT per batch
            keys = [tuple(k) for k in self.located.keys(coll_key)]
            with connector.read() as conn:  # reads only (#19: no transaction of its own on PostgreSQL)
                for chunk in batched(keys, 500):
                    for m in selection.scan(connector, conn, name, live, KeyIn(tuple(chunk), tuple(names)),
                                              stream=False):
                        by_key[m[names[0]] if len(names) == 1 else tuple(m[c] for c in names)] = m
        self.rows[coll_key] = by_key

    # -- the plan -----------------------------------------------------------------------------
    def build(self) -> list[Step]:
        """The ordered steps: UPDATEs (dataset order), then DELETEs children first."""
        located = self.located
        dataset = self.engine.dataset
        by_db: dict[str, list[str]] = defaultdict(list)
        for coll_key in located.collections():
            db, name = coll_key.split(".", 1)
            by_db[db].append(name)
        databases = [d.name for d in dataset.databases if d.name in by_db]
        links: dict[str, list[Link]] = {}
        clocks: dict[str, dict[str, Clock]] = {}
        lfs = {}
        for database in databases:
            connector = self.connector(database)
            links[database] = database_links(connector, dataset, database)
            clocks[database] = self.clocks(database)
            for name in by_db[database]:
                self._load(database, name)
                coll = dataset.database(database).collection(name)
                lfs[f"{database}.{name}"] = link_fields(dataset, database, coll, links[database],
                                                        set(connector.columns(name)))
        own = Ownership(dataset, located.plan, self.rows, lfs)
        own.compute(located.identities)
        self.ownership = own
        updates: list[Step] = []
        deletes: dict[str, list[Step]] = {}
        order_edges: list[tuple[str, str]] = []
        for database in databases:
            connector = self.connector(database)
            dbm = dataset.database(database)
            with connector.read() as conn:  # reads only: the decisions and the pointers to the rows
                for name in by_db[database]:
                    self._decide(conn, database, dbm.collection(name), clocks[database].get(name))
                pointers = self._pointers(conn, connector, database, links[database])
            self._close(database, links[database], pointers)
            updates.extend(self._update_steps(database, by_db[database]))
            for coll_key, steps in self._delete_steps(database).items():
                deletes[coll_key] = steps
            for lk in links[database]:
                order_edges.append((f"{database}.{lk.child}", f"{database}.{lk.parent}"))
            for coll in dbm.collections:
                for target in dataset.after_targets(dbm, coll):
                    order_edges.append((target, f"{database}.{coll.name}"))
        order, cycles = delete_order(deletes, order_edges)
        for cycle in cycles:
            self.notes.append(f"foreign-key cycle among {', '.join(cycle)}: deleted in data-map order")
        return updates + [s for t in order for s in deletes[t]]

    # -- decisions ----------------------------------------------------------------------------
    def _decide(self, conn: Handle, database: str, coll: Collection, clock: Clock | None) -> None:
        assert self.ownership is not None
        own = self.ownership
        coll_key = f"{database}.{coll.name}"
        rows = self.rows.get(coll_key, {})
        pk = self.keycols[coll_key]
        mine = {k: r for k, r in rows.items() if own.status.get((coll_key, k)) == MINE}
        starts: dict[Any, datetime | None] = {}
        if clock is not None and mine:
            starts = clock_starts(conn, self.connector(database), clock, mine)
        expired = empty = 0
        now = self.now
        for key, row in rows.items():
            rid = (coll_key, key)
            if key not in mine:
                self.decisions[rid] = self._theirs(coll_key, coll, row)
                continue
            if coll.shared == "keep":
                self.decisions[rid] = _Decision("keep", "shared content: kept for the others who share it "
                                                "(dataset: shared: keep)", frozen=True)
                continue
            if clock is not None:
                ex = clock.exemption
                start = starts.get(key)
                cutoff = _naive(ex.period.before(now))
                if start is not None and start >= cutoff:
                    self.decisions[rid] = _Decision(
                        "keep", f"{ex.name}: kept {clock.describe()} ({ex.law})",
                        exempt_strategies(coll, pk, ex), exemption=ex.key, law=ex.law,
                        until=ex.period.after(start))
                    continue
                if start is None:
                    empty += 1
                else:
                    expired += 1
            self.decisions[rid] = self._own(coll, pk)
        if expired:
            self.notes.append(f"{coll_key}: {expired} row(s) past the {coll.exemption} period are erased normally")
        if empty:
            assert clock is not None
            self.notes.append(f"{coll_key}: {empty} row(s) have no {clock.home}.{clock.column}, so the "
                              f"{coll.exemption} exemption cannot be shown to apply: erased normally")

    def _own(self, coll: Collection, pk: list[str]) -> _Decision:
        if coll.shared == "anonymise":
            return _Decision("delete", "shared content: every container it belongs to is erased too",
                             contained=True)
        if coll.erasure == "delete":
            return _Decision("delete", "erasure: delete")
        if coll.erasure == "retain":
            return _Decision("keep", "dataset marks this collection erasure: retain")
        fields = mask_strategies(coll, pk)
        reason = f"erasure: {coll.erasure} on personal fields" if fields else "no personal fields to mask"
        return _Decision("mask" if fields else "keep", reason, fields)

    def _theirs(self, coll_key: str, coll: Collection, row: dict[str, Any]) -> _Decision:
        """A row of other people: it loses only the links that name the person."""
        assert self.ownership is not None
        links = self.ownership.person_links(coll_key, row)
        strategies: dict[str, str] = {}
        for lf in links:
            if lf.kind is not None and coll.has_field(lf.columns[0]):
                own = coll.field(lf.columns[0]).erasure
                strategies[lf.columns[0]] = own if own in MASKING_STRATEGIES else "null"
        names = ", ".join(lf.name for lf in links)
        if coll.shared == "anonymise":
            return _Decision("delete", "shared content inside the person's containers: erased with them",
                             strategies, shared=True, contained=True)
        if names:
            return _Decision("mask", f"other people's row: only its link to the person ({names}) is cut",
                             strategies, shared=True)
        return _Decision("keep", "other people's row, reached through the person's: nothing of theirs in it",
                         shared=True, frozen=True)

    # -- the foreign-key closure -----------------------------------------------------------------
    def _pointers(self, conn: Handle, connector: Connector, database: str,
                  links: list[Link]) -> list[tuple[Link, RowId, RowId]]:
        """(link, child row, parent row) for rows pointing at the person's rows that may go,
        at rows shared only through the person, and at the person's own rows in tables of people.

        One ``SELECT … WHERE link IN (…)`` per link and batch. Rows found that the person's
        traversal did not reach are kept in :attr:`external` (whole rows) with their owner."""
        assert self.ownership is not None
        own = self.ownership
        wanted: dict[str, set[Any]] = defaultdict(set)
        for (coll_key, key), d in self.decisions.items():
            if not coll_key.startswith(database + "."):
                continue
            rid = (coll_key, key)
            if d.action == "delete" or rid in own.people or (rid in own.inherited and d.action != "keep"):
                wanted[coll_key.split(".", 1)[1]].add(key)
        out: list[tuple[Link, RowId, RowId]] = []
        for parent, keys in wanted.items():
            for lk in incoming(links, parent):
                link_cols = self._in_key_order(database, lk)
                if link_cols is None:
                    continue
                ccols = self._child_key(database, lk.child)
                live = set(connector.columns(lk.child))
                child_key = f"{database}.{lk.child}"
                if child_key not in own.links:
                    dbm = self.engine.dataset.database(database)
                    if dbm.has_collection(lk.child):
                        own.links[child_key] = link_fields(self.engine.dataset, database, dbm.collection(lk.child),
                                                           links, set(connector.columns(lk.child)))
                    else:
                        own.links[child_key] = link_fields(self.engine.dataset, database, Collection(name=lk.child),
                                                           links, set(connector.columns(lk.child)))
                # the child's key, the link, and the columns that say whose the child is
                wanted_cols = dict.fromkeys([*ccols, *lk.columns,
                                             *(c for lf in own.links[child_key] for c in lf.columns)])
                read = [c for c in wanted_cols if c in live]
                for chunk in batched(sorted(keys, key=repr), 500):
                    values = tuple(k if isinstance(k, tuple) else (k,) for k in chunk)
                    for m in selection.scan(connector, conn, lk.child, read, KeyIn(values, tuple(link_cols)),
                                              stream=False):
                        ckey = m[ccols[0]] if len(ccols) == 1 else tuple(m[c] for c in ccols)
                        vals = [m[c] for c in link_cols]
                        pval = vals[0] if len(vals) == 1 else tuple(vals)
                        child = (child_key, ckey)
                        if child not in self.decisions:
                            self.external.setdefault(child, {}).update(m)
                        out.append((lk, child, (f"{database}.{parent}", pval)))
        return out

    def _in_key_order(self, database: str, lk: Link) -> list[str] | None:
        """The link's child columns in the order of its parent's row key (None: it does not
        lead to a row key Pledge names the parent's rows by)."""
        keycols = self.keycols.get(f"{database}.{lk.parent}") or self.connector(database).row_key(lk.parent)
        if sorted(keycols) != sorted(lk.parent_columns):
            return None
        return [lk.columns[lk.parent_columns.index(c)] for c in keycols]

    def _is_others(self, rid: RowId) -> bool:
        """A row that belongs to someone else (or is shared with them)."""
        assert self.ownership is not None
        if rid in self.external:
            return self.ownership.classify(rid[0], self.external[rid]) in ("theirs", "mixed")
        return self.ownership.status.get(rid) != MINE

    def _child_key(self, database: str, name: str) -> list[str]:
        coll_key = f"{database}.{name}"
        if coll_key not in self.keycols:
            self.keycols[coll_key] = self._key_names(database, name)
        return self.keycols[coll_key]

    def _close(self, database: str, links: list[Link], pointers: list[tuple[Link, RowId, RowId]]) -> None:
        assert self.ownership is not None
        own = self.ownership
        dataset = self.engine.dataset
        decisions = self.decisions

        def stays(rid: RowId) -> bool:
            d = decisions.get(rid)
            return d is None or d.action != "delete"

        def is_mine(rid: RowId) -> bool:
            return own.status.get(rid) == MINE

        changed = True
        while changed:
            changed = False
            # shared content (shared: anonymise): deleted only while every container goes too
            for rid, d in list(decisions.items()):
                if not d.contained or d.action != "delete" or not rid[0].startswith(database + "."):
                    continue
                coll_key, key = rid
                row = self.rows[coll_key][key]
                name = coll_key.split(".", 1)[1]
                for lk in links:
                    if lk.child != name or is_people(dataset, f"{database}.{lk.parent}"):
                        continue
                    link_cols = self._in_key_order(database, lk)
                    if link_cols is None:
                        continue
                    value = tuple(row.get(c) for c in link_cols)
                    if any(v is None for v in value):
                        continue
                    parent = (f"{database}.{lk.parent}", value[0] if len(value) == 1 else value)
                    if stays(parent):
                        coll = dataset.resolve_collection(coll_key)[1]
                        if is_mine(rid):
                            decisions[rid] = _Decision(
                                "mask", f"shared content in a row that stays ({lk.describe()}): anonymised, "
                                        "not deleted", mask_strategies(coll, self.keycols[coll_key]))
                        else:
                            decisions[rid] = self._theirs_kept(coll_key, coll, rid)
                        changed = True
                        break
            for lk, child, parent in pointers:
                pd = decisions.get(parent)
                if pd is None or not stays(child):
                    continue
                if parent in own.inherited and self._is_others(child) and not pd.frozen:
                    decisions[parent] = _Decision(
                        "keep", f"also used by other people's rows in {lk.child} ({lk.describe()}): kept as it is",
                        shared=True, frozen=True)
                    changed = True
                    continue
                if pd.action != "delete" or lk.nullable:
                    continue
                # a row that stays needs this parent: anonymise the parent instead of deleting it
                whose = self._whose(database, child)
                pcoll = dataset.resolve_collection(parent[0])[1] if dataset.has(parent[0]) else None
                fields = mask_strategies(pcoll, self.keycols[parent[0]]) if pcoll is not None else {}
                decisions[parent] = _Decision(
                    "mask", f"still referenced by {whose} rows in {lk.child} ({lk.describe()}): anonymised "
                            "instead of deleted", fields, shared=pd.shared)
                changed = True
        # rows that stay drop nullable links to erased rows, and to the person's own row in a
        # table of people even when that row stays (authorship names the person)
        for lk, child, parent in pointers:
            if not stays(child) or not lk.nullable:
                continue
            pd = decisions.get(parent)
            if pd is None or not (pd.action == "delete" or parent in own.people):
                continue
            if child in self.external:
                if child not in decisions:
                    decisions[child] = _Decision(
                        "mask", "other people's row pointing at the person's: only that link is cut", shared=True)
                decisions[child].cut.update(lk.columns)
                continue
            cd = decisions[child]
            if cd.frozen:
                cd.frozen = False
                cd.action = "mask"
                cd.reason = f"{cd.reason}; its link to the person's row ({lk.describe()}) is cut"
            cd.cut.update(lk.columns)

    def _whose(self, database: str, child: RowId) -> str:
        """Who keeps the rows that still need a parent, in words for a reason."""
        if self._is_others(child):
            return "other people's"
        if child in self.external:
            name = child[0].split(".", 1)[1]
            if not self.engine.dataset.database(database).has_collection(name):
                return "unmapped (the data map does not cover them)"
            return "unreached (no declared reference leads to them)"
        return "the person's kept"

    def _theirs_kept(self, coll_key: str, coll: Collection, rid: RowId) -> _Decision:
        d = self._theirs(coll_key, coll, self.rows[coll_key][rid[1]])
        if d.contained:
            d = _Decision("mask" if d.strategies else "keep",
                          "other people's shared content in a row that stays: only its link to the person is cut",
                          d.strategies, shared=True, frozen=not d.strategies)
        return d

    # -- steps ---------------------------------------------------------------------------------
    def _update_steps(self, database: str, names: list[str]) -> list[Step]:
        order = [f"{database}.{n}" for n in names]
        extra = sorted({rid[0] for rid in self.external if rid[0].startswith(database + ".")} - set(order))
        buckets: dict[tuple[Any, ...], Step] = {}
        secret = self.engine.keys.subject_secret
        fakers = _Faker()
        planned: dict[tuple[Any, ...], tuple[dict[str, str], dict[str, str]]] = {}
        for coll_key in order + extra:
            name = coll_key.split(".", 1)[1]
            table = MaskPreview(self.connector(database), name)
            keycols = self.keycols[coll_key]
            rows = self.rows.get(coll_key, {})
            items = [(rid, d) for rid, d in self.decisions.items() if rid[0] == coll_key and d.action != "delete"]
            for rid, d in sorted(items, key=lambda x: repr(x[0][1])):
                key = rid[1]
                current = rows.get(key) or self.external.get(rid, {})
                strategies = dict(d.strategies)
                kept: dict[str, str] = {}
                if d.exemption:  # a kept record keeps its numbers and dates, so it still adds up
                    for col in list(strategies):
                        if table.has(col) and not table.is_text(col):
                            kept[col] = f"kept with the record ({d.exemption})"
                            del strategies[col]
                cut = sorted(c for c in d.cut if table.nullable(c))
                sig_in = (coll_key, tuple(sorted(strategies.items())), tuple(cut))
                if sig_in not in planned:
                    try:
                        planned[sig_in] = table.plan(strategies, cut)
                    except MaskingError as exc:
                        raise ErasurePlanError(str(exc)) from None
                applied, skipped = planned[sig_in]
                kept.update({c: why for c, why in skipped.items() if c not in d.cut})
                fields: dict[str, str] = {}
                for col, strategy in applied.items():
                    if col not in current:
                        fields[col] = strategy
                        continue
                    new = table.value(col, strategy, key, current[col], secret=secret, fakers=fakers)
                    if new != current[col]:
                        fields[col] = strategy
                detach = [c for c in cut if current.get(c) is not None]
                outcome: Outcome = "masked" if (fields or detach) else "retained"
                reason = d.reason
                if outcome == "retained" and d.shared and not d.frozen:
                    reason = ("other people's row: it keeps its link to the person's row, which stays "
                              "anonymised instead of deleted")
                until = d.until.date().isoformat() if d.until else None
                sig = (coll_key, outcome, reason, tuple(sorted(fields.items())), tuple(detach), d.exemption,
                       d.law, d.shared, tuple(sorted(kept.items())))
                if sig not in buckets:
                    became = {c: table.effect(c, s) for c, s in fields.items()}
                    became.update({c: "null" for c in detach})
                    buckets[sig] = Step(database, name, outcome, "update" if outcome == "masked" else "none", [],
                                        reason, fields, detach, d.exemption, d.law, became=became, kept=kept,
                                        shared=d.shared, key=self._key_field(database, name, keycols))
                step = buckets[sig]
                step.keys.append(key)
                if until and (step.until is None or until > step.until):
                    step.until = until
        return list(buckets.values())

    def _key_field(self, database: str, name: str, keycols: list[str]) -> list[str]:
        live = self.connector(database).primary_key(name)
        return [] if live == keycols else list(keycols)

    def _delete_steps(self, database: str) -> dict[str, list[Step]]:
        out: dict[str, dict[tuple[str, bool], Step]] = defaultdict(dict)
        for (coll_key, key), d in sorted(self.decisions.items(), key=lambda x: (x[0][0], repr(x[0][1]))):
            if d.action != "delete" or not coll_key.startswith(database + "."):
                continue
            name = coll_key.split(".", 1)[1]
            sig = (d.reason, d.shared)
            if sig not in out[coll_key]:
                out[coll_key][sig] = Step(database, name, "deleted", "delete", [], d.reason, shared=d.shared,
                                          key=self._key_field(database, name, self.keycols[coll_key]))
            out[coll_key][sig].keys.append(key)
        return {k: list(v.values()) for k, v in out.items()}


def _naive(moment: datetime) -> datetime:
    from datetime import UTC

    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
