"""Erasure (GDPR Art. 17, CCPA right to delete), executed across the platform's databases.

``erase(engine, identities)`` runs one request:

1. **Locate** every row about the person (:func:`pledge.rights.locate.locate`, whole rows)
   and **plan** it (:mod:`pledge.rights.erasure_plan`): whose each row is, and per row
   deleted, masked (exactly which fields become what) or kept, with the reason; UPDATEs
   first, then DELETEs children before parents.
2. **Persist** the work list in the store's ``checkpoints`` table under the request id,
   write the erasure-ledger intent (keyed hashes of *every* identity of the person found
   while planning: their user id, phone, other emails, not only those the request named)
   and an audit entry, all in one transaction *before* anything changes.
3. **Run** the steps: each is one transaction on its platform database (one statement
   per table and batch), then its checkpoint is marked done. (:func:`pledge.rights.fanout.erase_fanout`
   run in-process runs them all in one transaction per database: :func:`run_steps_together`.)
4. Mark the ledger entry done and audit the outcome (one transaction), and return the report.

The report is exact: ``deleted`` rows are gone, ``masked`` rows had the listed fields
changed to what ``fields`` says (``null``, ``[redacted]``, ``hash``, ``fake``) and the
``detached`` links set NULL, ``retained`` rows of the person are unchanged (with the
reason, the law and the end of the legal period), ``shared`` lists every row of other
people that was touched (it lost only its link to the person), and ``others`` the rows
of other people reached but left as they are. The totals equal a before/after diff.

A crash at any point is resumed by running the same request again (same request id;
by default it is derived from the identities): the saved work list is reused, steps
already done are skipped and a step that may have half-run is run again. Every step is
idempotent (deleting absent rows is a no-op; masks are fixed points), so the end state
equals an uninterrupted run's. ``plan=True`` is a dry run: it returns exactly which
rows of which tables would change and writes nothing anywhere.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from pledge.dataplane import writes
from pledge.retention.ledger import MARK_DONE
from pledge.rights.erasure_plan import ErasurePlanError, Planner, Step
from pledge.rights.erasure_rows import norm
from pledge.rights.locate import Located, locate, normalise_identities
from pledge.store.tables.core import checkpoints

if TYPE_CHECKING:
    from pledge.context import Context

__all__ = ["ErasurePlan", "ErasurePlanError", "StepHook", "erase", "make_plan", "plan_erasure", "request_id_for"]

#: Called after each step's platform transaction commits, before its checkpoint is saved
#: (tests raise here to simulate a crash at the worst moment).
StepHook = Callable[[int, Step], None]

_PREFIX = "erasure:"

# a checkpoint's statements, built once (#19: building one cost about as much as running it);
# ``:pattern`` is a LIKE prefix with its wildcards escaped (:func:`_starting`)
_KEYED = checkpoints.c.key.like(bindparam("pattern"), escape="/")
_READ = select(checkpoints.c.key, checkpoints.c.value).where(_KEYED)
_CLEAR = delete(checkpoints).where(_KEYED)
_INSERT = insert(checkpoints)
_SET = (update(checkpoints).where(checkpoints.c.key == bindparam("ckey"))
        .values(value=bindparam("v_value", type_=checkpoints.c.value.type),
                updated_at=bindparam("v_updated_at", type_=checkpoints.c.updated_at.type)))

#: on PostgreSQL a finished run's writes in one statement: the work list's steps cleared
#: (``:pattern``), the ledger entry done (``:entry_id``) and the meta row set to the done
#: marker; each touches other rows, so PostgreSQL runs them all whether or not one is read
_FINISH_AT_ONCE = _SET.add_cte(_CLEAR.cte("steps_cleared"), MARK_DONE.cte("ledger_done"))


def _starting(prefix: str) -> dict[str, str]:
    """The ``:pattern`` for keys that start with ``prefix``: its ``/``, ``%`` and ``_`` taken
    literally (a request id may hold ``_``, which LIKE would read as any character)."""
    return {"pattern": prefix.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"}


def request_id_for(engine: Context, identities: Mapping[str, Any]) -> str:
    """A stable id for "erase this person": the same identities give the same id."""
    ids = normalise_identities(identities)
    flat = {k: ",".join(sorted(str(v) for v in vs)) for k, vs in ids.items()}
    keys = engine.ledger.keys_for(flat)
    digest = hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:24]
    return f"erase-{digest}"


def _locate(engine: Context, identities: Mapping[str, Any]) -> Located:
    return locate(engine, identities)


@dataclass
class ErasurePlan:
    """The ordered steps, planning notes, and every identity of the person found."""

    steps: list[Step]
    notes: list[str]
    identities: dict[str, list[str]] = field(default_factory=dict)


def make_plan(engine: Context, identities: Mapping[str, Any], now: datetime | None = None, *,
              located: Located | None = None) -> ErasurePlan:
    """Plan an erasure as of ``now`` (default: the engine's clock); reads only.

    ``identities`` of the plan are the given ones plus those of the person's own rows in
    tables of people (:attr:`pledge.rights.erasure_rows.Ownership.found`). The locator's
    ``discovered`` identities are not used for the ledger: they include every identity field
    of any row matched on an identity, which can name someone else (the second person in a
    shared row), and a replay would then erase them too.

    ``located`` is the person's rows as :func:`~pledge.rights.locate.locate` just found them
    for these ``identities`` (a caller that needed them first); by default they are read here.
    """
    located = located if located is not None else _locate(engine, identities)
    planner = Planner(engine, located, now)
    steps = planner.build()
    found = planner.ownership.found if planner.ownership is not None else {}
    merged = {k: sorted({norm(v, k) for v in vs}) for k, vs in normalise_identities(identities).items()}
    for kind, values in found.items():
        merged[kind] = sorted(set(merged.get(kind, [])) | {norm(v, kind) for v in values})
    return ErasurePlan(steps, planner.notes, merged)


def plan_erasure(engine: Context, identities: Mapping[str, Any],
                 now: datetime | None = None) -> tuple[list[Step], list[str]]:
    """The ordered steps of an erasure as of ``now`` and planning notes; reads only."""
    plan = make_plan(engine, identities, now)
    return plan.steps, plan.notes


# -- checkpoints ----------------------------------------------------------------------------
class _Checkpoint:
    """The persisted work list of one request: a meta row and one row per step."""

    def __init__(self, engine: Context, request_id: str) -> None:
        self.engine = engine
        self.rid = request_id
        #: what :meth:`read` last found (key -> value); None before any read
        self.rows: dict[str, str] | None = None

    def _key(self, suffix: str) -> str:
        return f"{_PREFIX}{self.rid}:{suffix}"

    def read(self) -> dict[str, str]:
        """Every row of this request's checkpoint (the meta row and the steps), in one read."""
        prefix = self._key("")
        with self.engine.store.read() as conn:
            rows = self.engine.store.run(conn, _READ, _starting(prefix)).all()
        self.rows = {str(k): str(v) for k, v in rows if str(k).startswith(prefix)}
        return self.rows

    def meta(self) -> dict[str, Any] | None:
        """The meta row as last read (:meth:`read` first when nothing was read yet)."""
        rows = self.read() if self.rows is None else self.rows
        raw = rows.get(self._key("meta"))
        return dict(json.loads(raw)) if raw else None

    def load(self) -> tuple[dict[str, Any], list[Step]] | None:
        """The saved work list of a run still ``running`` (from the last :meth:`read`, or a new one)."""
        meta = self.meta()
        if meta is None or meta.get("status") != "running":
            return None
        prefix = self._key("step:")
        assert self.rows is not None
        by_index = {int(k.rsplit(":", 1)[1]): Step.from_dict(json.loads(v)) for k, v in self.rows.items()
                    if k.startswith(prefix)}
        return meta, [by_index[i] for i in sorted(by_index)]

    def save_new(self, meta: dict[str, Any], steps: list[Step], audit_details: dict[str, Any], *,
                 conn: Connection) -> int:
        """Write the work list and its audit entry in ``conn``'s transaction (the ledger intent's)."""
        now = self.engine.now()
        if self.rows != {}:  # a done marker of an earlier run, or never read: clear it first
            conn.execute(_CLEAR, _starting(self._key("")))
        conn.execute(_INSERT, [
            {"key": self._key("meta"), "value": json.dumps(meta, default=str), "updated_at": now},
            *[{"key": self._key(f"step:{i:04d}"), "value": json.dumps(s.to_dict(), default=str),
               "updated_at": now} for i, s in enumerate(steps)],
        ])
        return self.engine.audit.record("rights.erase.intent", actor=meta["actor"], target=self.rid,
                                        details=audit_details, conn=conn)

    def step_done(self, index: int, step: Step) -> None:
        with self.engine.store.begin() as conn:
            conn.execute(_SET, {"ckey": self._key(f"step:{index:04d}"), "v_value": json.dumps(step.to_dict(), default=str),
                                "v_updated_at": self.engine.now()})

    def finish(self, meta: dict[str, Any], report: dict[str, Any], conn: Connection | None = None) -> None:
        """Mark the ledger entry done and keep only a small done marker (the work list, row
        keys, is dropped), with the audit entry: one transaction, ``conn``'s when given."""
        if conn is None:
            with self.engine.store.begin() as own:
                self.finish(meta, report, own)
            return
        meta = {**meta, "status": "done", "totals": report["totals"]}
        marker = {"ckey": self._key("meta"), "v_value": json.dumps(meta, default=str),
                  "v_updated_at": self.engine.now()}
        if conn.dialect.name == "postgresql":  # the three writes in one statement (#19)
            self.engine.store.run(conn, _FINISH_AT_ONCE, {
                **marker, **_starting(self._key("step:")), "entry_id": int(meta["ledger_id"]),
                "v_done_at": self.engine.ledger.clock()})
        else:
            self.engine.ledger.mark_done(int(meta["ledger_id"]), conn=conn)
            conn.execute(_CLEAR, _starting(self._key("step:")))
            conn.execute(_SET, marker)
        self.engine.audit.record("rights.erase.done", actor=meta["actor"], target=self.rid,
                                 details={"totals": report["totals"], "ledger_id": meta["ledger_id"]},
                                 conn=conn)


# -- the report -------------------------------------------------------------------------------
def _entry(step: Step, with_keys: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"collection": step.table, "rows": len(step.keys), "reason": step.reason}
    if step.became:
        out["fields"] = {c: v for c, v in step.became.items() if c not in step.detach}
    if step.detach:
        out["detached"] = list(step.detach)
    if step.kept:
        out["kept"] = dict(step.kept)
    if step.exemption:
        out["exemption"] = step.exemption
        out["law"] = step.law
    if step.until:
        out["until"] = step.until
    if step.shared:
        out["shared"] = True
    if with_keys:
        out["ids"] = list(step.keys)
    return out


def build_report(request_id: str, steps: list[Step], notes: list[str], *, dry_run: bool,
                 with_keys: bool = True) -> dict[str, Any]:
    """A JSON-able account: what is (or would be) deleted, masked and retained, and why.

    ``deleted``, ``masked`` and ``retained`` list the person's rows and the rows of others
    that changed (marked ``shared``); ``shared`` repeats the rows of other people that were
    touched, ``others`` the rows of other people reached but left as they are. The totals
    count rows that are gone, rows that changed and the person's rows kept unchanged (so they
    equal a before/after diff); ``kept`` counts the person's rows that stay, and of them
    those kept under an exemption.
    """
    report: dict[str, Any] = {"request_id": request_id, "dry_run": dry_run,
                              "status": "planned" if dry_run else "done",
                              "deleted": [], "masked": [], "retained": [], "shared": [], "others": [],
                              "tables": {}, "notes": notes}
    for step in steps:
        entry = _entry(step, with_keys)
        if step.shared and step.outcome == "retained":
            report["others"].append(entry)
            continue
        report[step.outcome].append(entry)
        if step.shared:
            report["shared"].append(entry)
        counts = report["tables"].setdefault(step.table, {"deleted": 0, "masked": 0, "retained": 0})
        counts[step.outcome] += len(step.keys)
    report["totals"] = {o: sum(len(s.keys) for s in steps if s.outcome == o and not (s.shared and o == "retained"))
                        for o in ("deleted", "masked", "retained")}
    # the person's rows that stay: unchanged, or changed but kept (under an exemption, or
    # anonymised because others still need them); ``exempt``: kept under an exemption
    mine = [s for s in steps if not s.shared and s.outcome != "deleted"]
    report["kept"] = {"rows": sum(len(s.keys) for s in mine),
                      "exempt": sum(len(s.keys) for s in mine if s.exemption)}
    report["statements"] = sum(1 for s in steps if s.op != "none")
    return report


# -- running ------------------------------------------------------------------------------------
def _apply(engine: Context, conn: Any, step: Step) -> int:
    """Run one step's statements on ``conn`` (a transaction on the step's database)."""
    connector = engine.connectors.get(step.database)
    if step.op == "delete":  # statements by the data plane (pledge.dataplane.writes)
        return writes.delete(connector, conn, step.collection, step.keys, key=step.key or None)
    if step.op == "update":
        return writes.mask(connector, conn, step.collection, step.keys, step.fields,
                           secret=engine.keys.subject_secret, detach=step.detach, key=step.key or None).rows
    return 0


def _run_step(engine: Context, step: Step) -> int:
    if step.op == "none":
        return 0  # rows kept as they are: nothing to run
    with engine.connectors.get(step.database).begin() as conn:
        return _apply(engine, conn, step)


def run_steps_together(engine: Context, steps: list[Step], order: list[int]) -> None:
    """Run the steps ``order`` names, in that order, in one transaction per database (#19).

    Each database's transaction commits only after all of its steps ran; a failure rolls
    back every database whose transaction is still open. Steps are idempotent, so a crash
    after some databases committed is resumed by running them all again."""
    with ExitStack() as stack:
        conns: dict[str, Any] = {}
        for i in order:
            step = steps[i]
            if step.op == "none":
                continue
            if step.database not in conns:
                conns[step.database] = stack.enter_context(engine.connectors.get(step.database).begin())
            step.affected = _apply(engine, conns[step.database], step)
    for i in order:
        steps[i].done = True


def erase(engine: Context, identities: Mapping[str, Any], *, plan: bool = False, request_id: str | None = None,
          actor: str = "system", reference: str = "", on_step: StepHook | None = None,
          source: str = "request", located: Located | None = None) -> dict[str, Any]:
    """Erase everything about the person named by ``identities`` (see the module docstring).

    Returns the report. ``plan=True`` only plans. ``request_id`` names the request for
    resuming (default: derived from the identities). ``on_step`` is a test hook.
    ``located``: the person's rows as a caller just read them (see :func:`make_plan`).
    """
    rid = request_id or request_id_for(engine, identities)
    if plan:
        steps, notes = plan_erasure(engine, identities)
        return build_report(rid, steps, notes, dry_run=True)
    checkpoint = _Checkpoint(engine, rid)
    meta, steps, notes, resumed = start_or_resume(engine, checkpoint, identities, rid, actor=actor,
                                                  reference=reference, source=source, located=located)
    for index, step in enumerate(steps):
        if step.done:
            continue
        step.affected = _run_step(engine, step)
        step.done = True
        if on_step is not None:
            on_step(index, step)
        if step.op != "none":  # a kept group has nothing to redo: no checkpoint write
            checkpoint.step_done(index, step)
    report = build_report(rid, steps, notes, dry_run=False)
    report["resumed"] = resumed
    report["ledger_id"] = meta["ledger_id"]
    checkpoint.finish(meta, report)  # the ledger entry done, with the done marker
    return report


def start_or_resume(engine: Context, checkpoint: _Checkpoint, identities: Mapping[str, Any], rid: str, *,
                    actor: str, reference: str, audit_extra: Mapping[str, Any] | None = None,
                    source: str = "request", located: Located | None = None
                    ) -> tuple[dict[str, Any], list[Step], list[str], bool]:
    """The saved work list of ``rid``, or a new one: planned (on ``located``, when the caller
    has just read the person's rows, see :func:`make_plan`), its intent written to the
    ledger, then saved with the audit entry. Returns ``(meta, steps, notes, resumed)``."""
    saved = checkpoint.load()
    if saved is not None:
        kept, done_or_not = saved
        engine.audit.record("rights.erase.resume", actor=actor, target=rid,
                            details={"steps_done": sum(s.done for s in done_or_not), "steps": len(done_or_not)})
        return kept, done_or_not, list(kept.get("notes", [])), True
    plan = make_plan(engine, identities, located=located)
    steps, notes = plan.steps, plan.notes
    tables: dict[str, int] = {}
    for s in steps:
        tables[s.table] = tables.get(s.table, 0) + len(s.keys)
    # intent first: the ledger (every identity found, each value keyed on its own), then the
    # audit entry with the persisted work list; one transaction, before anything changes
    preview = build_report(rid, steps, notes, dry_run=True, with_keys=False)
    with engine.store.begin() as conn, engine.audit.batch(conn):  # the INSERT brings the audit head (#19)
        ledger_id = engine.ledger.record_intent(plan.identities, source=source, reference=reference or rid,
                                                scope={"request_id": rid, "tables": tables}, conn=conn,
                                                audit=engine.audit)
        meta: dict[str, Any] = {"status": "running", "ledger_id": ledger_id, "actor": actor, "notes": notes}
        meta["audit_id"] = checkpoint.save_new(meta, steps, {
            "request_id": rid, "ledger_id": ledger_id, "totals": preview["totals"], "tables": preview["tables"],
            **(audit_extra or {})}, conn=conn)
    return meta, steps, notes, False
