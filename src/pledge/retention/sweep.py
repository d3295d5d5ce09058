"""Retention sweeps: a dry-run ``plan`` and a batched, resumable, idempotent ``run``.

For each rule and collection (:mod:`pledge.retention.rules`) ``run`` walks the expired
rows by primary key (keyset batches: ``… WHERE expired AND pk > last ORDER BY pk LIMIT
n``). For every batch it

1. works out the cascade: rows that link to the batch (children before parents, along
   live and declared foreign keys); a child that is held, belongs to a table of people
   or is kept by an exemption is detached when its link is nullable, otherwise its root
   row is not deleted (held: left alone; exempt: anonymised instead);
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
the primary keys, so a sweep can be split into tasks over key ranges.
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

from sqlalchemy import Connection, and_, delete, func, insert, not_, select, update

from pledge.connectors.base import batched
from pledge.connectors.sql import SqlConnector
from pledge.dataplane.schema import require_live_schema
from pledge.retention.holds import Holds, HoldSet
from pledge.retention.ledger import mark_reference_done, record_intents
from pledge.retention.ranged import MAX_BATCH, RangeSweep
from pledge.retention.rules import Target, compile_rules, db_time, exemption_bound
from pledge.rights.erasure_plan import mask_strategies
from pledge.rights.fkgraph import Link, database_links, delete_order, incoming
from pledge.rights.masking import delete_rows, mask_rows
from pledge.store.tables.core import checkpoints

if TYPE_CHECKING:
    from pledge.engine import Engine

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

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "collection": self.collection, "action": self.action, "rows": self.rows,
                "cascade": dict(self.cascade), "anonymised_instead": self.anonymised_instead,
                "held": self.held, "batches": self.batches, "done": self.done}


# -- helpers ----------------------------------------------------------------------------------------
def _connector(engine: Engine, database: str) -> SqlConnector:
    conn = engine.connectors.get(database)
    assert isinstance(conn, SqlConnector)
    return conn


def _pk(connector: SqlConnector, name: str) -> Any:
    return list(connector.table(name).primary_key.columns)[0]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _where(engine: Engine, target: Target, holds: HoldSet, now: datetime,
           start_pk: Any = None, end_pk: Any = None) -> Any:
    connector = _connector(engine, target.database)
    table = connector.table(target.table)
    pk = _pk(connector, target.table)
    parts = [target.where(connector, now)]
    held = holds.held(target.database, table, now) if holds else None
    if held is not None:
        parts.append(not_(held))
    if start_pk is not None:
        parts.append(pk >= start_pk)
    if end_pk is not None:
        parts.append(pk <= end_pk)
    return and_(*parts)


# -- the dry run ----------------------------------------------------------------------------------------
def plan(engine: Engine, now: datetime | None = None, sample: int = SAMPLE) -> dict[str, Any]:
    """What a sweep at ``now`` would do: per rule and table the rows, the oldest and samples."""
    require_live_schema(engine)  # the data map must match the live schema (cached per process)
    now = _aware(now or engine.now())
    targets = compile_rules(engine)
    holds = Holds(engine).snapshot(now)
    out: list[dict[str, Any]] = []
    for target in targets:
        connector = _connector(engine, target.database)
        table = connector.table(target.table)
        pk = _pk(connector, target.table)
        where = _where(engine, target, holds, now)
        clock = target.clock(connector)
        with connector.begin() as conn:
            count = int(conn.execute(select(func.count()).select_from(table).where(where)).scalar() or 0)
            oldest_q = select(func.min(clock)).select_from(table)
            if target.trigger.via is not None:
                parent = connector.table(target.trigger.table)
                ppk = list(parent.primary_key.columns)[0]
                oldest_q = oldest_q.join(parent, table.c[target.trigger.via.column] == ppk)
            oldest = conn.execute(oldest_q.where(where)).scalar() if count else None
            ids = [r[0] for r in conn.execute(select(pk).where(where).order_by(pk).limit(sample))]
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
    def __init__(self, engine: Engine, scope: str) -> None:
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
            conn.execute(delete(checkpoints).where(checkpoints.c.key.like(self.prefix + "%"),
                                                   checkpoints.c.key != self.prefix + "meta"))


# -- cascade ------------------------------------------------------------------------------------------
@dataclass
class _Batch:
    roots: list[Any]
    deletes: dict[str, set[Any]] = field(default_factory=lambda: defaultdict(set))
    detach: dict[tuple[str, str], set[Any]] = field(default_factory=lambda: defaultdict(set))
    anonymise_roots: set[Any] = field(default_factory=set)
    held_roots: set[Any] = field(default_factory=set)


def _exempt_tables(engine: Engine, target: Target, database: str) -> dict[str, Any]:
    """table -> exemption keeping rows of it (the rule's and the data map's)."""
    out: dict[str, Any] = {}
    for ex in target.exemptions:
        for c in ex.collections:
            db, _, name = c.partition(".")
            if db == database:
                out[name] = ex
    for coll in engine.dataset.database(database).collections:
        if coll.exemption and coll.name not in out:
            try:
                out[coll.name] = engine.policy.exemption(coll.exemption)
            except KeyError:
                continue
    return out


def _cascade(engine: Engine, conn: Connection, target: Target, links: list[Link], holds: HoldSet,
             roots: list[Any], now: datetime) -> _Batch:
    """Rows linked to ``roots`` (recursively), sorted into deletes, detaches and blockers."""
    connector = _connector(engine, target.database)
    batch = _Batch(roots=list(roots))
    if not target.rule.cascade or target.action == "anonymise":
        batch.deletes[target.table] = set(roots)
        return batch
    dbm = engine.dataset.database(target.database)
    people = {c.name for c in dbm.collections if any(f.identity for f in c.fields)}
    exempt = _exempt_tables(engine, target, target.database)
    root_of: dict[tuple[str, Any], Any] = {(target.table, r): r for r in roots}
    frontier: dict[str, set[Any]] = {target.table: set(roots)}
    seen: set[tuple[str, Any]] = set(root_of)
    blocked: dict[Any, str] = {}
    while frontier:
        nxt: dict[str, set[Any]] = defaultdict(set)
        for parent, keys in frontier.items():
            for lk in incoming(links, parent):
                table = connector.table(lk.child)
                cpk = list(table.primary_key.columns)[0]
                col = table.c[lk.column]
                held = holds.held(target.database, table, now) if holds else None
                ex = exempt.get(lk.child)
                extra = []
                if held is not None:
                    extra.append(held.label("held"))
                if ex is not None and ex.trigger in table.c:
                    bound = db_time(exemption_bound(ex, now), connector.dialect)
                    tcol = table.c[ex.trigger]
                    extra.append((tcol.is_(None) | (tcol >= bound)).label("kept"))
                for chunk in batched(sorted(keys), 800):
                    for row in conn.execute(select(cpk, col, *extra).where(col.in_(list(chunk)))):
                        ckey, pval = row[0], row[1]
                        if (lk.child, ckey) in seen:
                            continue
                        root = root_of[(parent, pval)]
                        flags = dict(row._mapping)
                        if flags.get("held"):
                            blocked[root] = "held"
                        elif lk.child in people or flags.get("kept") or (ex is not None and ex.trigger not in table.c):
                            if lk.nullable:
                                batch.detach[(lk.child, lk.column)].add(ckey)
                            else:
                                blocked.setdefault(root, "kept")
                            continue
                        seen.add((lk.child, ckey))
                        root_of[(lk.child, ckey)] = root
                        nxt[lk.child].add(ckey)
        frontier = dict(nxt)
    for (tname, key), root in root_of.items():
        if root not in blocked:
            batch.deletes[tname].add(key)
    batch.held_roots = {r for r, why in blocked.items() if why == "held"}
    batch.anonymise_roots = {r for r, why in blocked.items() if why == "kept"}
    return batch


# -- applying -----------------------------------------------------------------------------------------
def _apply_rows(engine: Engine, target: Target, links: list[Link], batch: _Batch) -> dict[str, int]:
    connector = _connector(engine, target.database)
    counts: dict[str, int] = {}
    secret = engine.keys.subject_secret  # pseudonyms are keyed with the subject key
    with connector.begin() as conn:
        for (tname, col), keys in batch.detach.items():
            table = connector.table(tname)
            pk = list(table.primary_key.columns)[0]
            for chunk in batched(sorted(keys), 500):
                conn.execute(update(table).where(pk.in_(list(chunk))).values({col: None}))
        if batch.anonymise_roots:
            table = connector.table(target.table)
            coll = engine.dataset.database(target.database).collection(target.table)
            mask_rows(conn, table, sorted(batch.anonymise_roots), mask_strategies(coll, [_pk(connector, target.table).name]),
                      secret=secret)
        if target.action == "anonymise":
            table = connector.table(target.table)
            res = mask_rows(conn, table, batch.roots, target.fields, secret=secret, detach=target.detach)
            counts[target.table] = res.rows
            return counts
        edges = [(lk.child, lk.parent) for lk in links]
        order, _cycles = delete_order(list(batch.deletes), edges)
        for tname in order:
            doomed = sorted(batch.deletes[tname])
            if doomed:
                counts[tname] = delete_rows(conn, connector.table(tname), doomed)
    return counts


def _person_identities(engine: Engine, target: Target, keys: list[Any]) -> tuple[dict[str, list[Any]],
                                                                                  list[dict[str, str]]]:
    """Identity values of the people ``keys`` (for the planner) and one mapping per person (ledger)."""
    connector = _connector(engine, target.database)
    coll = engine.dataset.database(target.database).collection(target.table)
    table = connector.table(target.table)
    idf = [f for f in coll.fields if f.identity and f.name in table.c]
    pk = _pk(connector, target.table)
    merged: dict[str, list[Any]] = defaultdict(list)
    people: list[dict[str, str]] = []
    with connector.begin() as conn:
        for row in conn.execute(select(pk, *[table.c[f.name] for f in idf]).where(pk.in_(keys)).order_by(pk)):
            person: dict[str, str] = {}
            for f, value in zip(idf, row[1:], strict=True):
                if value is not None:
                    merged[str(f.identity)].append(value)
                    person.setdefault(str(f.identity), str(value))
            people.append(person)
    return dict(merged), people


def _plan_people(engine: Engine, target: Target, keys: list[Any], holds: HoldSet, now: datetime) \
        -> tuple[list[Any], set[Any]]:
    """(steps, held people): people any of whose planned rows are held are left out."""
    from pledge.rights.erasure import plan_erasure

    identities, _people = _person_identities(engine, target, keys)
    steps, _notes = plan_erasure(engine, identities, now=now)
    if not holds or not _touches_held(engine, steps, holds, now):
        return steps, set()
    kept: list[Any] = []
    held: set[Any] = set()
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


def _touches_held(engine: Engine, steps: list[Any], holds: HoldSet, now: datetime) -> bool:
    for step in steps:
        if step.op == "none" or not step.keys:
            continue
        connector = _connector(engine, step.database)
        table = connector.table(step.collection)
        held = holds.held(step.database, table, now)
        if held is None:
            continue
        pk = _pk(connector, step.collection)
        with connector.begin() as conn:
            for chunk in batched(list(step.keys), 800):
                if conn.execute(select(pk).where(pk.in_(list(chunk)), held).limit(1)).first():
                    return True
    return False


def _run_steps(engine: Engine, steps: list[Any]) -> dict[str, int]:
    """The planner's steps for a batch of people, in one transaction per database."""
    counts: dict[str, int] = defaultdict(int)
    by_db: dict[str, list[Any]] = defaultdict(list)
    for s in steps:
        by_db[s.database].append(s)
    for database, group in by_db.items():
        connector = _connector(engine, database)
        with connector.begin() as conn:
            for s in group:
                table = connector.table(s.collection)
                if s.op == "delete":
                    counts[s.collection] += delete_rows(conn, table, s.keys)
                elif s.op == "update":
                    counts[s.collection] += mask_rows(conn, table, s.keys, s.fields,
                                                      secret=engine.keys.subject_secret, detach=s.detach).rows
    return dict(counts)


# -- the sweep -----------------------------------------------------------------------------------------
class _Stop(Exception):
    pass


class Sweep:
    """One sweep over every target (see :func:`run`)."""

    def __init__(self, engine: Engine, now: datetime, *, max_rows: int | None, until: datetime | None,
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
        last = state.get("last_pk")
        connector = _connector(engine, target.database)
        pk = _pk(connector, target.table)
        links = database_links(connector, engine.dataset, target.database)
        where = _where(engine, target, holds, self.now, self.start_pk, self.end_pk)
        # plain deletes with nothing linking in: one DELETE per key range, no key lists
        if (target.action == "delete" and not target.person
                and not (target.rule.cascade and incoming(links, target.table))):
            RangeSweep(self, target, connector, pk, where, result, expected).run(state)
            result.done = True
            self.cp.put(target.key, {"last_pk": state.get("last_pk"), "rows": result.rows, "done": True})
            return result
        while True:
            size = self.budget(self.batch_size)
            if target.person:
                size = min(size, PERSON_BATCH)
            q = select(pk).where(where)
            if last is not None:
                q = q.where(pk > last)
            with connector.begin() as conn:
                keys = [r[0] for r in conn.execute(q.order_by(pk).limit(size))]
                batch = None if target.person or not keys else _cascade(
                    engine, conn, target, links, holds, keys, self.now)
            if not keys:
                break
            reference = f"retention:{target.key}:{keys[0]}-{keys[-1]}:{uuid.uuid4().hex[:8]}"
            scope: dict[str, Any] = {"rule": target.rule.key, "collection": target.collection,
                                     "action": target.action, "cutoff": target.cutoff(self.now).isoformat(),
                                     "first_pk": keys[0], "last_pk": keys[-1], "rows": len(keys)}
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
                counts = _apply_rows(engine, target, links, batch) if roots else {}
                result.held += len(batch.held_roots)
                result.anonymised_instead += len(batch.anonymise_roots)
                affected = counts.get(target.table, 0)
            for tname, n in counts.items():
                if tname != target.table:
                    result.cascade[tname] = result.cascade.get(tname, 0) + n
            result.rows += affected
            result.batches += 1
            self.total += sum(counts.values())
            last = keys[-1]
            with engine.store.begin() as sconn:
                self.cp.put(target.key, {"last_pk": last, "rows": result.rows}, sconn)
            mark_reference_done(engine.ledger, reference)
            if self.progress is not None:
                self.progress(target.key, result.rows, expected)
        result.done = True
        self.cp.put(target.key, {"last_pk": last, "rows": result.rows, "done": True})
        return result

    def _intent(self, people: list[dict[str, str]], reference: str, scope: dict[str, Any]) -> None:
        record_intents(self.engine.ledger, people, source="retention", reference=reference, scope=scope)
        self.engine.audit.record("retention.sweep.batch", actor=self.actor, target=reference,
                                 details={**scope, "people": len(people)})


def _expected(engine: Engine, target: Target, holds: HoldSet, now: datetime, start_pk: Any,
              end_pk: Any) -> int:
    connector = _connector(engine, target.database)
    table = connector.table(target.table)
    with connector.begin() as conn:
        return int(conn.execute(select(func.count()).select_from(table)
                                .where(_where(engine, target, holds, now, start_pk, end_pk))).scalar() or 0)


def run(engine: Engine, now: datetime | None = None, *, max_rows: int | None = None,
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
