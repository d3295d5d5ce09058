"""Retention sweeps: a dry-run ``plan`` and a batched, resumable, idempotent ``run``.

For each rule and collection (:mod:`pledge.retention.rules`) ``run`` walks the expired
rows by row key — the primary key, one column or several (keyset batches: ``… WHERE expired
AND key > last ORDER BY key LIMIT n``, composite keys compared as row values). Which rows
are expired, held or exempt is a data-plane selection (:mod:`pledge.dataplane.selection`);
every statement is built there or by the connectors. For every batch it

1. works out the cascade: rows that link to the batch (children before parents, along
   live and declared foreign keys, composite ones too); a root whose cascade reaches a held
   row is left alone, with everything below it (a held row is never changed, not even
   detached); a child that belongs to a table of people or is kept by an exemption is
   detached from a root that is deleted when its link is nullable, otherwise its root is
   anonymised instead of deleted.
   Roots whose cascades share a row stay or go together.
   An exemption's clock is read where the rights path reads it
   (:func:`pledge.rights.erasure_rows.resolve_clock`): order lines are dated by their
   invoice, so an invoice and its lines expire together;
2. writes the erasure-ledger intent (keyed HMACs of the people erased, the scope
   otherwise) and an audit entry, *before* anything changes;
3. applies it in one platform transaction, one statement per table and batch;
4. saves the batch's last key in the store's ``checkpoints`` table.

Plain deletes (nothing cascades into the table, not a table of people) skip the key
lists: :mod:`pledge.retention.ranged` writes one intent per planned key range and runs
one ``DELETE … WHERE expired AND pk > a AND pk <= b`` per batch, with adaptive batches.

Tables of people deleted with cascade (closed accounts) go through the rights erasure
planner instead, so shared workspaces, authorship and tax records are treated exactly
as in an erasure request. A killed sweep resumes from its checkpoints with the clock it
started with; a second sweep finds nothing left to do. ``start_pk``/``end_pk`` bound
the leading column of the row key, so a sweep can be split into tasks over key ranges.
A table without a primary key is named by its declared UNIQUE NOT NULL key, or refused
before anything runs (:mod:`pledge.dataplane.rowkey`).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, insert, select, update

from pledge.connectors.base import Connector, Key, batched
from pledge.dataplane import selection, writes
from pledge.dataplane.schema import require_live_schema
from pledge.dataplane.selection import All, KeyIn, KeyRange, Not, Pred
from pledge.retention.holds import Holds, HoldSet
from pledge.retention.ledger import mark_reference_done, record_intents
from pledge.retention.ranged import MAX_BATCH, RangeSweep
from pledge.retention.rules import Target, compile_rules
from pledge.rights import blob_erasure
from pledge.rights.erasure_plan import mask_strategies
from pledge.rights.fkgraph import Link, database_links, delete_order, incoming
from pledge.store.tables.core import checkpoints

if TYPE_CHECKING:
    from pledge.context import Context

log = logging.getLogger("pledge.retention.sweep")
#: progress(target key, rows done in this target, rows expected in it)
Progress = Callable[[str, int, int], None]
BATCH = 1000
PERSON_BATCH = 200
SAMPLE = 5


@dataclass
class TargetResult:
    rule: str
    collection: str
    action: str
    rows: int = 0
    cascade: dict[str, int] = field(default_factory=dict)
    anonymised_instead: int = 0
    held: int = 0
    batches: int = 0
    done: bool = False
    #: files of deleted rows the blob store confirmed gone, and those it did not (retried later)
    files: int = 0
    files_pending: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "collection": self.collection, "action": self.action, "rows": self.rows,
                "cascade": dict(self.cascade), "anonymised_instead": self.anonymised_instead,
                "held": self.held, "batches": self.batches, "done": self.done,
                "files": self.files, "files_pending": self.files_pending}


# -- helpers ----------------------------------------------------------------------------------------
def _connector(engine: Context, database: str) -> Connector:
    return engine.connectors.get(database)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def as_key(value: Any) -> Key | None:
    """A row key as a tuple (checkpoints keep lists; older ones a bare value)."""
    if value is None:
        return None
    return tuple(value) if isinstance(value, list | tuple) else (value,)


#: a row key as JSON: the value of a one-column key, a list otherwise (dates as ISO text)
show = selection.dump_key


def _where(engine: Context, target: Target, holds: HoldSet, now: datetime,
           start_pk: Any = None, end_pk: Any = None) -> Pred:
    parts: list[Pred] = [target.selection(now)]
    held = holds.held(target.database, target.table, now) if holds else None
    if held is not None:
        parts.append(Not(held))
    if start_pk is not None or end_pk is not None:
        parts.append(KeyRange(start_pk, end_pk))
    return All(tuple(parts))


# -- the dry run ----------------------------------------------------------------------------------------
def plan(engine: Context, now: datetime | None = None, sample: int = SAMPLE) -> dict[str, Any]:
    """What a sweep at ``now`` would do: per rule and table the rows, the oldest and samples."""
    require_live_schema(engine)  # the data map must match the live schema (cached per process)
    now = _aware(now or engine.now())
    targets = compile_rules(engine)
    holds = Holds(engine).snapshot(now)
    out: list[dict[str, Any]] = []
    for target in targets:
        connector = _connector(engine, target.database)
        where = _where(engine, target, holds, now)
        with connector.begin() as conn:
            count = selection.count(connector, conn, target.table, where)
            oldest = selection.oldest(connector, conn, target.table, where, target.clock(now)) if count else None
            ids = [show(k) for k in selection.keys(connector, conn, target.table, where, limit=sample)]
        out.append({"rule": target.rule.key, "collection": target.collection, "action": target.action,
                    "trigger": target.trigger.text, "period": str(target.period),
                    "cutoff": target.cutoff(now).isoformat(), "rows": count,
                    "oldest": oldest.isoformat() if isinstance(oldest, datetime) else oldest,
                    "sample_ids": ids, "cascade": target.rule.cascade,
                    "erasure": "person" if target.person else target.action})
    return {"now": now.isoformat(), "dry_run": True, "holds": len(holds.holds), "targets": out,
            "total_rows": sum(t["rows"] for t in out)}


# -- checkpoints -------------------------------------------------------------------------------------
class _Checkpoints:
    def __init__(self, engine: Context, scope: str) -> None:
        self.engine = engine
        self.prefix = f"retention:{scope}:"

    def get(self, key: str) -> dict[str, Any] | None:
        with self.engine.store.connect() as conn:
            row = conn.execute(select(checkpoints.c.value).where(checkpoints.c.key == self.prefix + key)).first()
        return json.loads(row[0]) if row else None

    def put(self, key: str, value: dict[str, Any], conn: Connection | None = None) -> None:
        def write(c: Connection) -> None:
            full = self.prefix + key
            body = json.dumps(value, default=str)
            done = c.execute(update(checkpoints).where(checkpoints.c.key == full)
                             .values(value=body, updated_at=datetime.now(UTC)))
            if not done.rowcount:
                c.execute(insert(checkpoints).values(key=full, value=body, updated_at=datetime.now(UTC)))
        if conn is not None:
            write(conn)
        else:
            with self.engine.store.begin() as own:
                write(own)

    def clear(self) -> None:
        with self.engine.store.begin() as conn:
            conn.execute(delete(checkpoints).where(checkpoints.c.key.startswith(self.prefix, autoescape=True),
                                                   checkpoints.c.key != self.prefix + "meta"))


# -- cascade ------------------------------------------------------------------------------------------
@dataclass
class _Batch:
    roots: list[Key]
    deletes: dict[str, set[Key]] = field(default_factory=lambda: defaultdict(set))
    #: (table, link columns) -> row keys whose link is cut
    detach: dict[tuple[str, tuple[str, ...]], set[Key]] = field(default_factory=lambda: defaultdict(set))
    anonymise_roots: set[Key] = field(default_factory=set)
    held_roots: set[Key] = field(default_factory=set)


class _SharedRoots:
    """Roots of one batch whose cascades reach a common row, grouped (union-find).

    A row linked to two roots (a card of one project on a board of another) goes with both or
    stays with both: when one of them is held or kept, deleting the other would leave the
    shared row pointing at a deleted parent."""

    def __init__(self) -> None:
        self.parent: dict[Key, Key] = {}

    def find(self, root: Key) -> Key:
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        return root

    def join(self, a: Key, b: Key) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[ra] = rb

    def spread(self, blocked: dict[Key, str], roots: list[Key]) -> dict[Key, str]:
        """Every root of a group that holds a blocked root is blocked too: ``held`` when any
        root of the group is held (nothing of it changes), else ``kept`` (anonymised)."""
        if not self.parent:
            return blocked
        why: dict[Key, str] = {}
        for root, reason in blocked.items():
            group = self.find(root)
            if why.get(group) != "held":
                why[group] = reason
        return {r: why[self.find(r)] for r in roots if self.find(r) in why}


def _link_value(connector: Connector, lk: Link) -> Callable[[Key], Key]:
    """A parent's row key as the value its children's link columns hold (parent-column order)."""
    names = connector.row_key(lk.parent)
    order = [names.index(c) for c in lk.parent_columns] if set(lk.parent_columns) <= set(names) else []
    if order == list(range(len(names))):
        return lambda key: key
    return lambda key: tuple(key[i] for i in order)


def _cascade(engine: Context, target: Target, links: list[Link], holds: HoldSet,
             roots: list[Key], now: datetime) -> _Batch:
    """Rows linked to ``roots`` (recursively), sorted into deletes, detaches and blockers."""
    connector = _connector(engine, target.database)
    batch = _Batch(roots=list(roots))
    if not target.rule.cascade or target.action == "anonymise":
        batch.deletes[target.table] = set(roots)
        return batch
    dbm = engine.dataset.database(target.database)
    people = {c.name for c in dbm.collections if any(f.identity for f in c.fields)}
    root_of: dict[tuple[str, Key], Key] = {(target.table, r): r for r in roots}
    frontier: dict[str, set[Key]] = {target.table: set(roots)}
    seen: set[tuple[str, Key]] = set(root_of)
    blocked: dict[Key, str] = {}
    shared = _SharedRoots()
    detaching: list[tuple[Key, tuple[str, tuple[str, ...]], Key]] = []
    with connector.begin() as conn:
        while frontier:
            nxt: dict[str, set[Key]] = defaultdict(set)
            for parent, keys in frontier.items():
                for lk in incoming(links, parent):
                    value_of = _link_value(connector, lk)
                    by_value = {value_of(k): k for k in keys}
                    flags: dict[str, Pred] = {}
                    held = holds.held(target.database, lk.child, now) if holds else None
                    if held is not None:
                        flags["held"] = held
                    clock = target.kept_by.get(lk.child)
                    if clock is not None:
                        flags["past"] = clock.past(now)  # its legal period is over
                    for ckey, value, flag in selection.linked(connector, conn, lk.child, lk.columns,
                                                              list(by_value), flags):
                        if value not in by_value:
                            continue
                        root = root_of[(parent, by_value[value])]
                        if (lk.child, ckey) in seen:  # reached from two roots: they stay or go together
                            shared.join(root, root_of[(lk.child, ckey)])
                            continue
                        if flag.get("held"):
                            blocked[root] = "held"
                        elif lk.child in people or (clock is not None and not flag.get("past")):
                            if lk.nullable:  # cut only if its root goes (known once the walk is over)
                                detaching.append((root, (lk.child, lk.columns), ckey))
                            else:
                                blocked.setdefault(root, "kept")
                            continue
                        seen.add((lk.child, ckey))
                        root_of[(lk.child, ckey)] = root
                        nxt[lk.child].add(ckey)
            frontier = dict(nxt)
    blocked = shared.spread(blocked, roots)
    for (tname, key), root in root_of.items():
        if root not in blocked:
            batch.deletes[tname].add(key)
    for root, where, ckey in detaching:  # a root that stays (held, or anonymised) keeps its children linked
        if root not in blocked:
            batch.detach[where].add(ckey)
    batch.held_roots = {r for r, why in blocked.items() if why == "held"}
    batch.anonymise_roots = {r for r, why in blocked.items() if why == "kept"}
    return batch


# -- applying -----------------------------------------------------------------------------------------
def _apply_rows(engine: Context, target: Target, links: list[Link], batch: _Batch) -> dict[str, int]:
    connector = _connector(engine, target.database)
    counts: dict[str, int] = {}
    secret = engine.keys.subject_secret  # pseudonyms are keyed with the subject key
    with connector.begin() as conn:
        for (tname, cols), keys in batch.detach.items():
            connector.update_keys(conn, tname, sorted(keys, key=repr), dict.fromkeys(cols))
        if batch.anonymise_roots:
            coll = engine.dataset.database(target.database).collection(target.table)
            writes.mask(connector, conn, target.table, sorted(batch.anonymise_roots, key=repr),
                        mask_strategies(coll, connector.row_key(target.table)), secret=secret)
        if target.action == "anonymise":
            res = writes.mask(connector, conn, target.table, batch.roots, target.fields, secret=secret,
                              detach=target.detach)
            counts[target.table] = res.rows
            return counts
        edges = [(lk.child, lk.parent) for lk in links]
        order, _cycles = delete_order(list(batch.deletes), edges)
        for tname in order:
            doomed = sorted(batch.deletes[tname], key=repr)
            if doomed:
                counts[tname] = writes.delete(connector, conn, tname, doomed)
    return counts


def _person_identities(engine: Context, target: Target, keys: list[Key]) -> tuple[dict[str, list[Any]],
                                                                                  list[dict[str, str]]]:
    """Identity values of the people ``keys`` (for the planner) and one mapping per person (ledger)."""
    connector = _connector(engine, target.database)
    coll = engine.dataset.database(target.database).collection(target.table)
    live = set(connector.columns(target.table))
    idf = [f for f in coll.fields if f.identity and f.name in live]
    key = connector.row_key(target.table)
    merged: dict[str, list[Any]] = defaultdict(list)
    people: list[dict[str, str]] = []
    with connector.begin() as conn:
        rows = list(connector.fetch(conn, target.table, keys, [*key, *(f.name for f in idf)]))
    for row in sorted(rows, key=lambda r: repr(tuple(r[c] for c in key))):
        person: dict[str, str] = {}
        for f in idf:
            value = row.get(f.name)
            if value is not None:
                merged[str(f.identity)].append(value)
                person.setdefault(str(f.identity), str(value))
        people.append(person)
    return dict(merged), people


def _plan_people(engine: Context, target: Target, keys: list[Key], holds: HoldSet, now: datetime) \
        -> tuple[list[Any], set[Key]]:
    """(steps, held people): people any of whose planned rows are held are left out."""
    from pledge.rights.erasure import plan_erasure

    identities, _people = _person_identities(engine, target, keys)
    steps, _notes = plan_erasure(engine, identities, now=now)
    if not holds or not _touches_held(engine, steps, holds, now):
        return steps, set()
    kept: list[Key] = []
    held: set[Key] = set()
    for key in keys:
        ids, _ = _person_identities(engine, target, [key])
        one, _n = plan_erasure(engine, ids, now=now)
        if _touches_held(engine, one, holds, now):
            held.add(key)
        else:
            kept.append(key)
    if not kept:
        return [], held
    steps, _notes = plan_erasure(engine, _person_identities(engine, target, kept)[0], now=now)
    return steps, held


def _touches_held(engine: Context, steps: list[Any], holds: HoldSet, now: datetime) -> bool:
    for step in steps:
        if step.op == "none" or not step.keys:
            continue
        held = holds.held(step.database, step.collection, now)
        if held is None:
            continue
        connector = _connector(engine, step.database)
        names = tuple(step.key or connector.row_key(step.collection))
        with connector.begin() as conn:
            for chunk in batched(list(step.keys), 800):
                mine = KeyIn(tuple(as_key(k) or () for k in chunk), names)
                if selection.exists_where(connector, conn, step.collection, All((mine, held))):
                    return True
    return False


def _run_steps(engine: Context, steps: list[Any]) -> dict[str, int]:
    """The planner's steps for a batch of people, in one transaction per database."""
    counts: dict[str, int] = defaultdict(int)
    by_db: dict[str, list[Any]] = defaultdict(list)
    for s in steps:
        by_db[s.database].append(s)
    for database, group in by_db.items():
        connector = _connector(engine, database)
        with connector.begin() as conn:
            for s in group:
                if s.op == "delete":
                    counts[s.collection] += writes.delete(connector, conn, s.collection, s.keys, key=s.key or None)
                elif s.op == "update":
                    counts[s.collection] += writes.mask(connector, conn, s.collection, s.keys, s.fields,
                                                        secret=engine.keys.subject_secret, detach=s.detach,
                                                        key=s.key or None).rows
    return dict(counts)


# -- the sweep -----------------------------------------------------------------------------------------
class _Stop(Exception):
    pass


class Sweep:
    """One sweep over every target (see :func:`run`)."""

    def __init__(self, engine: Context, now: datetime, *, max_rows: int | None, until: datetime | None,
                 progress: Progress | None, batch_size: int, start_pk: Any, end_pk: Any,
                 actor: str, max_batch: int = MAX_BATCH) -> None:
        self.engine = engine
        self.now = now
        self.max_rows = max_rows
        self.until = _aware(until) if until else None
        self.progress = progress
        self.batch_size = batch_size
        self.max_batch = max_batch
        self.start_pk = start_pk
        self.end_pk = end_pk
        self.actor = actor
        self.total = 0
        self.results: list[TargetResult] = []
        self.current = TargetResult("", "", "")
        scope = "all" if start_pk is None and end_pk is None else f"{start_pk}-{end_pk}"
        self.cp = _Checkpoints(engine, scope)

    def budget(self, size: int) -> int:
        """Rows the next batch may touch (at most ``size``); stops the sweep at its limits."""
        if self.until is not None and datetime.now(UTC) >= self.until:
            raise _Stop("until")
        if self.max_rows is None:
            return size
        left = self.max_rows - self.total
        if left <= 0:
            raise _Stop("max_rows")
        return min(size, left)

    def run_target(self, target: Target, holds: HoldSet, expected: int) -> TargetResult:
        engine = self.engine
        result = TargetResult(target.rule.key, target.collection, "erase" if target.person else target.action)
        self.current = result
        state = self.cp.get(target.key) or {}
        if state.get("done"):
            result.done = True
            result.rows = int(state.get("rows", 0))
            return result
        result.rows = int(state.get("rows", 0))
        connector = _connector(engine, target.database)
        last = selection.load_key(connector, target.table, state.get("last_pk"))
        links = database_links(connector, engine.dataset, target.database)
        where = _where(engine, target, holds, self.now, self.start_pk, self.end_pk)
        # plain deletes with nothing linking in: one DELETE per key range, no key lists
        if (target.action == "delete" and not target.person
                and not (target.rule.cascade and incoming(links, target.table))
                and not blob_erasure.blob_columns(engine, target.collection)):  # files: by key lists
            RangeSweep(self, target, connector, where, result, expected).run(state)
            result.done = True
            self.cp.put(target.key, {"last_pk": state.get("last_pk"), "rows": result.rows, "done": True})
            return result
        while True:
            size = self.budget(self.batch_size)
            if target.person:
                size = min(size, PERSON_BATCH)
            with connector.begin() as conn:
                keys = selection.keys(connector, conn, target.table, where, after=last, limit=size)
            batch = None if target.person or not keys else _cascade(engine, target, links, holds, keys, self.now)
            if not keys:
                break
            first, end = show(keys[0]), show(keys[-1])
            reference = f"retention:{target.key}:{first}-{end}:{uuid.uuid4().hex[:8]}"
            scope: dict[str, Any] = {"rule": target.rule.key, "collection": target.collection,
                                     "action": target.action, "cutoff": target.cutoff(self.now).isoformat(),
                                     "first_pk": first, "last_pk": end, "rows": len(keys)}
            if target.person:
                steps, held = _plan_people(engine, target, keys, holds, self.now)
                erase = [k for k in keys if k not in held]
                _ids, people = _person_identities(engine, target, erase) if erase else ({}, [])
                tables: dict[str, int] = defaultdict(int)
                for st in steps:
                    if st.op != "none":
                        tables[st.collection] += len(st.keys)
                scope["tables"] = dict(tables)
                self._intent(people, reference, scope)
                for st in steps:  # the files of rows about to go, read from the rows first
                    if st.op == "delete" and not st.key:
                        blob_erasure.plan_keys(engine, reference, f"{st.database}.{st.collection}",
                                               [k for k in map(as_key, st.keys) if k is not None])
                counts = _run_steps(engine, steps)
                result.held += len(held)
                affected = counts.get(target.table, 0)
            else:
                assert batch is not None
                roots = [k for k in keys if k not in batch.held_roots]
                batch.roots = roots
                scope["tables"] = {t: len(v) for t, v in batch.deletes.items() if v}
                scope["detached"] = sum(len(v) for v in batch.detach.values())
                self._intent([], reference, scope)
                if roots:
                    for tname, doomed in batch.deletes.items():
                        blob_erasure.plan_keys(engine, reference, f"{target.database}.{tname}",
                                               [k for k in map(as_key, doomed) if k is not None])
                counts = _apply_rows(engine, target, links, batch) if roots else {}
                result.held += len(batch.held_roots)
                result.anonymised_instead += len(batch.anonymise_roots)
                affected = counts.get(target.table, 0)
            files = blob_erasure.after_commit(engine, reference)  # deleted once the rows are gone
            result.files += files.gone
            result.files_pending += files.failed
            for tname, n in counts.items():
                if tname != target.table:
                    result.cascade[tname] = result.cascade.get(tname, 0) + n
            result.rows += affected
            result.batches += 1
            self.total += sum(counts.values())
            last = keys[-1]
            with engine.store.begin() as sconn:
                self.cp.put(target.key, {"last_pk": show(last), "rows": result.rows}, sconn)
            mark_reference_done(engine.ledger, reference)
            if self.progress is not None:
                self.progress(target.key, result.rows, expected)
        result.done = True
        self.cp.put(target.key, {"last_pk": show(last) if last else None, "rows": result.rows, "done": True})
        return result

    def _intent(self, people: list[dict[str, str]], reference: str, scope: dict[str, Any]) -> None:
        record_intents(self.engine.ledger, people, source="retention", reference=reference, scope=scope)
        self.engine.audit.record("retention.sweep.batch", actor=self.actor, target=reference,
                                 details={**scope, "people": len(people)})


def _expected(engine: Context, target: Target, holds: HoldSet, now: datetime, start_pk: Any,
              end_pk: Any) -> int:
    connector = _connector(engine, target.database)
    with connector.begin() as conn:
        return selection.count(connector, conn, target.table, _where(engine, target, holds, now, start_pk, end_pk))


def run(engine: Context, now: datetime | None = None, *, max_rows: int | None = None,
        until: datetime | None = None, progress: Progress | None = None, batch_size: int = BATCH,
        start_pk: Any = None, end_pk: Any = None, actor: str = "retention",
        max_batch: int = MAX_BATCH) -> dict[str, Any]:
    """Sweep every rule at ``now`` (default: the engine's clock) and return the report.

    Resumes an interrupted sweep of the same key range first (with the clock it started
    with). ``max_rows`` and ``until`` (a wall-clock deadline) stop it between batches;
    the next run carries on from the checkpoint. ``progress`` is called after each batch
    (with the expected rows of the target, counted only when ``progress`` is given).
    Plain deletes start at ``batch_size`` rows and grow while batches finish fast, up to
    ``max_batch`` (:mod:`pledge.retention.ranged`); other targets keep ``batch_size``.
    """
    require_live_schema(engine)  # refuses before anything runs when the data map does not match
    blob_erasure.resume_pending(engine)  # files an interrupted run committed but had not deleted
    now = _aware(now or engine.now())
    cp = _Checkpoints(engine, "all" if start_pk is None and end_pk is None else f"{start_pk}-{end_pk}")
    meta = cp.get("meta")
    resumed = bool(meta and meta.get("status") == "running")
    sweep_now = datetime.fromisoformat(meta["now"]) if resumed and meta else now
    if not resumed:
        cp.clear()
        cp.put("meta", {"status": "running", "now": sweep_now.isoformat()})
    started = time.perf_counter()
    sweep = Sweep(engine, sweep_now, max_rows=max_rows, until=until, progress=progress,
                  batch_size=batch_size, start_pk=start_pk, end_pk=end_pk, actor=actor,
                  max_batch=max_batch)
    stopped: str | None = None
    targets = compile_rules(engine)
    holds = Holds(engine).snapshot(sweep_now)
    engine.audit.record("retention.sweep.resume" if resumed else "retention.sweep.start", actor=actor,
                        details={"now": sweep_now.isoformat(), "start_pk": start_pk, "end_pk": end_pk})
    log.info("retention sweep started", extra={"event": "sweep.start", "resumed": resumed, "start_pk": start_pk,
                                               "end_pk": end_pk, "targets": len(targets)})
    for target in targets:
        expected = (_expected(engine, target, holds, sweep_now, start_pk, end_pk)
                    if progress is not None else 0)
        try:
            sweep.results.append(sweep.run_target(target, holds, expected))
        except _Stop as stop:
            stopped = str(stop)
            sweep.results.append(sweep.current)
            break
    if stopped is None:
        cp.clear()
        cp.put("meta", {"status": "done", "now": sweep_now.isoformat()})
    seconds = time.perf_counter() - started
    report = {"now": sweep_now.isoformat(), "dry_run": False, "resumed": resumed,
              "status": "partial" if stopped else "done", "stopped_by": stopped,
              "targets": [r.as_dict() for r in sweep.results], "total_rows": sweep.total,
              "seconds": round(seconds, 3),
              "rows_per_second": round(sweep.total / seconds, 1) if seconds > 0 else None}
    engine.audit.record("retention.sweep.done" if not stopped else "retention.sweep.paused", actor=actor,
                        details={"now": sweep_now.isoformat(), "total_rows": sweep.total,
                                 "stopped_by": stopped})
    log.info("retention sweep %s: %d rows", report["status"], sweep.total,
             extra={"event": "sweep.done", "status": report["status"], "rows": sweep.total, "stopped_by": stopped,
                    "duration_ms": round(seconds * 1000, 1), "start_pk": start_pk, "end_pk": end_pk})
    left = None if max_rows is None else max_rows - sweep.total
    if resumed and stopped is None and sweep_now != now and (left is None or left > 0):
        later = run(engine, now, max_rows=left,
                    until=until, progress=progress, batch_size=batch_size, start_pk=start_pk,
                    end_pk=end_pk, actor=actor, max_batch=max_batch)
        later["resumed_first"] = report
        return later
    return report
