"""Data-subject requests split into tasks for ``engine.jobs`` (in-process or Celery).

* :func:`access_rows` follows the traversal plan here, keys only (cheap), then fetches
  each database's collections' rows in one task per ``database.collection``.
* :func:`erase_fanout` plans the erasure here and persists its work list exactly as
  :func:`pledge.rights.erasure.erase` does (ledger intent and audit first), then runs
  the steps as tasks in waves: every UPDATE at once, then each DELETE in order, children
  before parents. Task ids derive from the request and its ledger entry, so a resumed
  or re-delivered step is recognised, and every step is idempotent.

Results equal the in-process functions' (the tests run both and compare).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from pledge.rights.erasure import (
    _PREFIX,
    _Checkpoint,
    _run_step,
    build_report,
    request_id_for,
    run_steps_together,
    start_or_resume,
)
from pledge.rights.erasure_plan import Step
from pledge.rights.export import json_rows
from pledge.rights.locate import Located, locate
from pledge.store.tables.core import checkpoints
from pledge.tasks import runs_inline

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from pledge.context import Context

__all__ = ["access_located", "access_rows", "erase_fanout", "erase_step_task", "fetch_rows_task"]


# -- tasks ----------------------------------------------------------------------------------------
def fetch_rows_task(engine: Context, payload: dict[str, Any]) -> dict[str, Any]:
    """Whole rows of one collection by row key (read only); composite keys as lists."""
    from pledge.dataplane.schema import require_live_schema

    require_live_schema(engine, [payload["database"]])  # sets the row keys in a worker, too
    connector = engine.connectors.get(payload["database"])
    pk = payload["pk"] if isinstance(payload["pk"], list) else [payload["pk"]]
    keys = [tuple(k) if isinstance(k, list) else (k,) for k in payload["keys"]]
    with connector.begin() as conn:
        rows = list(connector.fetch(conn, payload["collection"], keys))
    rows.sort(key=lambda r: tuple((r[c] is None, r[c]) for c in pk))
    return {"rows": json_rows(rows)}


def erase_step_task(engine: Context, payload: dict[str, Any]) -> dict[str, Any]:
    """One erasure step (a DELETE or an UPDATE of some rows of one table); idempotent."""
    return {"index": payload["index"], "affected": _run_step(engine, Step.from_dict(payload["step"]))}


# -- access -----------------------------------------------------------------------------------------
def _digest(identities: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(dict(identities), sort_keys=True, default=str).encode()).hexdigest()[:16]


def access_located(engine: Context, identities: Mapping[str, Any]) -> Located:
    """:func:`locate` with whole rows, the rows fetched as tasks (JSON-ready values).

    The traversal runs here on keys only; each collection's rows are then read by row key
    (composite keys included) in one ``rights.fetch_rows`` task. Rows come back as :func:`json_rows` gives them,
    which is what the access package writes either way.

    When the tasks would run here and now anyway (``engine.jobs`` is :class:`InlineJobs`:
    ``pledge serve`` without a broker, and inside a worker), the traversal reads whole
    rows on one connection per database instead: the same rows, in the same order, without
    a second statement, connection and commit per collection (#19).
    """
    if runs_inline(engine.jobs):  # tasks run here and now: no need to split the sub-work (#19)
        return _located_whole(engine, identities)
    found = locate(engine, identities, columns="keys")
    payloads: list[dict[str, Any]] = []
    for coll in found.collections():
        pk = found.primary_keys.get(coll, [])
        database, name = coll.split(".", 1)
        payloads.append({"database": database, "collection": name, "pk": list(pk),
                         "keys": [list(k) for k in found.keys(coll)]})
    # A fresh batch per call: a redelivered message finds its own task's stored result,
    # but a later access for the same person always reads the data anew.
    results = engine.jobs.run_all("rights.fetch_rows", payloads,
                                  batch=f"access-{_digest(identities)}-{secrets.token_hex(8)}")
    out = {f"{p['database']}.{p['collection']}": r["rows"] for p, r in zip(payloads, results, strict=True)}
    rows = {c: (out.get(c) or []) if found.rows.get(c) else [] for c in found.plan.collections}
    return Located(found.plan, found.identities, rows, dict(found.primary_keys),
                   found.statements + len(payloads), dict(found.via), discovered=dict(found.discovered))


def _by_key(rows: list[dict[str, Any]], pk: list[str]) -> list[dict[str, Any]]:
    """Rows in :func:`fetch_rows_task`'s order (by row key, NULLs last)."""
    return sorted(rows, key=lambda r: tuple((r[c] is None, r[c]) for c in pk))


def _located_whole(engine: Context, identities: Mapping[str, Any]) -> Located:
    """:func:`access_located` in one pass: the traversal reads whole rows (JSON-ready)."""
    found = locate(engine, identities, columns="all")
    rows = {c: json_rows(_by_key(found.rows[c], list(found.primary_keys.get(c, []))))
            if found.rows.get(c) else [] for c in found.plan.collections}
    return Located(found.plan, found.identities, rows, dict(found.primary_keys), found.statements,
                   dict(found.via), discovered=dict(found.discovered))


def access_rows(engine: Context, identities: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every row about the person, per ``database.collection``, JSON-ready (as ``data.json``)."""
    found = access_located(engine, identities)
    return {c: found.rows[c] for c in found.collections()}


# -- erasure ------------------------------------------------------------------------------------------
def _waves(steps: list[Step]) -> list[list[int]]:
    """Indexes of steps to run together: all updates, then each delete alone, in order."""
    updates = [i for i, s in enumerate(steps) if s.op == "update" and not s.done]
    deletes = [[i] for i, s in enumerate(steps) if s.op == "delete" and not s.done]
    return ([updates] if updates else []) + deletes


def finished_report(engine: Context, request_id: str, run_token: str,
                    checkpoint: _Checkpoint | None = None) -> dict[str, Any] | None:
    """The report kept by an :func:`erase_fanout` run with this ``run_token`` that finished
    (from ``checkpoint``'s last read when given: one read serves this and the resume)."""
    if checkpoint is None:
        with engine.store.read() as conn:
            value = conn.execute(select(checkpoints.c.value).where(
                checkpoints.c.key == f"{_PREFIX}{request_id}:meta")).scalar()
        meta = json.loads(value) if value else {}
    else:
        meta = checkpoint.meta() or {}
    if meta.get("status") == "done" and meta.get("run_token") == run_token and meta.get("report"):
        return dict(meta["report"])
    return None


def erase_fanout(engine: Context, identities: Mapping[str, Any], *, request_id: str | None = None,
                 actor: str = "system", reference: str = "", run_token: str | None = None,
                 finish: list[Callable[[Connection], object]] | None = None,
                 located: Located | None = None) -> dict[str, Any]:
    """Erase the person with the steps run as tasks; returns the same report as ``erase``.

    ``located``: the person's rows, just found for ``identities`` by a caller that needed
    them first (the request's blob planning), so that the plan does not read them again.

    With a ``run_token`` (a request's run), the finished report (without row keys) is kept
    in the done marker, and the same run delivered again returns it instead of erasing
    again: a second pass would find nothing left and report zero rows.

    With ``finish`` (a request's completing transaction, :mod:`pledge.rights.request_run`),
    the last store writes (the ledger entry done, the done marker, the audit entry) are
    appended there as a step instead of being committed here: they commit with the
    request's move to ``completed``, or not at all, and a re-run then resumes the saved work
    list (every step is idempotent).
    """
    rid = request_id or request_id_for(engine, identities)
    checkpoint = _Checkpoint(engine, rid)
    checkpoint.read()  # one read: a finished run's report, or the work list to resume
    if run_token is not None and (kept := finished_report(engine, rid, run_token, checkpoint)) is not None:
        return kept
    meta, steps, notes, resumed = start_or_resume(engine, checkpoint, identities, rid, actor=actor,
                                                  reference=reference, audit_extra={"distributed": True},
                                                  located=located)
    for step in steps:
        if step.op == "none":
            step.done = True  # rows kept as they are: nothing to run, nothing to checkpoint
    if runs_inline(engine.jobs):
        # no workers: every step in order, one transaction per database, no task per step
        # and no checkpoint per step (a crash before ``finish`` runs them all again: idempotent)
        run_steps_together(engine, steps, [i for wave in _waves(steps) for i in wave])
    else:
        for wave in _waves(steps):
            payloads = [{"index": i, "step": steps[i].to_dict()} for i in wave]
            done = engine.jobs.run_all("rights.erase_step", payloads, batch=f"{rid}-{meta['ledger_id']}")
            for res in done:
                step = steps[int(res["index"])]
                step.affected = int(res["affected"])
                step.done = True
                checkpoint.step_done(int(res["index"]), step)
    report = build_report(rid, steps, notes, dry_run=False)
    report["resumed"] = resumed
    report["ledger_id"] = meta["ledger_id"]
    if run_token is not None:
        kept = build_report(rid, steps, notes, dry_run=False, with_keys=False)
        meta = {**meta, "run_token": run_token, "report": {**kept, "resumed": True, "ledger_id": meta["ledger_id"]}}
    if finish is not None:
        done_meta = meta
        finish.append(lambda conn: checkpoint.finish(done_meta, report, conn))
    else:
        checkpoint.finish(meta, report)  # the ledger entry done, with the done marker
    return report
