"""Work split into tasks, and the claim protocol that makes re-delivery harmless.

The core never imports a queue. It hands lists of task payloads to ``engine.jobs``,
some object with this shape (:class:`JobRunner`)::

    results = engine.jobs.run_all("rights.fetch_rows", [payload, ...], batch="req-…")
    result = engine.jobs.submit("requests.execute", payload, batch="request-…")

``run_all`` runs every payload with the task function named (from :data:`TASKS`) and
returns their results in order; ``submit`` starts one task: in-process it has run when
it returns and gives the task's result (with any :data:`LOCAL` part), on workers it
returns None at once and the store holds the outcome. :class:`InlineJobs` (the default)
calls the functions here, in this process. ``pledge.jobs.celery`` sends them to Celery
workers instead; a worker runs :func:`execute` for each message it receives. An engine's
runner is chosen when the engine is built and never replaced.

:func:`execute` is idempotent per task id: a ``job_runs`` row is the claim. A task that
is already ``done`` returns its stored result without running again; a task another
worker holds under a live lease is refused (the worker retries it later); a lease that
ran out (its worker died) may be taken over. Every task function is itself safe to run
twice (deleting absent rows is a no-op, masks are fixed points, sweeps resume from
checkpoints), so a task that ran but whose ``done`` was never written changes nothing
when it runs again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import and_, bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from pledge.errors import Failed, Unavailable
from pledge.logs import activity, bind
from pledge.store.conflicts import insert_skipping_taken
from pledge.store.tables.jobs import job_runs

if TYPE_CHECKING:
    from pledge.context import Context

__all__ = ["LOCAL", "TASKS", "ClaimRefused", "InlineJobs", "JobRunner", "TaskFailed", "claim_rows", "execute",
           "runs_inline", "task_id_for"]

TaskFn = Callable[["Context", dict[str, Any]], dict[str, Any]]
LEASE = timedelta(seconds=60)
#: A task's result may carry, under this key, objects for a caller in the same process (a
#: request's final view), and so may the payload of a task run here and now (the row its
#: submitter just wrote); it is never stored in the claim row, nor sent anywhere.
LOCAL = "local"


class JobRunner(Protocol):
    """What the engine needs from a job runner."""

    #: True when tasks leave this process (workers); False when they run here
    distributed: bool

    def run_all(self, name: str, payloads: Sequence[dict[str, Any]], *, batch: str) -> list[dict[str, Any]]:
        ...

    def submit(self, name: str, payload: dict[str, Any], *, batch: str, local: Any = None) -> dict[str, Any] | None:
        """Start one task: in-process run it now and return its result; on workers return
        None without waiting (the store holds the outcome). ``local`` is for a task run
        here and now without a claim row (under :data:`LOCAL` in its payload, never stored
        or sent); a runner that stores or sends the task leaves it."""
        ...


class TaskFailed(Failed):
    """A task raised; the message names the task and the error."""


class ClaimRefused(Unavailable):
    """Another worker holds a live lease on this task: try again later."""


def _registry() -> dict[str, TaskFn]:
    from pledge.retention.fanout import sweep_range_task
    from pledge.rights.fanout import erase_step_task, fetch_rows_task
    from pledge.rights.request_run import request_task

    return {
        "requests.execute": request_task,
        "rights.fetch_rows": fetch_rows_task,
        "rights.erase_step": erase_step_task,
        "retention.sweep_range": sweep_range_task,
    }


class _Tasks:
    """The task functions by name (imported on first use, so this module stays light)."""

    def __init__(self) -> None:
        self._fns: dict[str, TaskFn] | None = None

    def __getitem__(self, name: str) -> TaskFn:
        if self._fns is None:
            self._fns = _registry()
        if name not in self._fns:
            raise KeyError(f"unknown task {name!r}; known: {', '.join(sorted(self._fns))}")
        return self._fns[name]

    def names(self) -> list[str]:
        if self._fns is None:
            self._fns = _registry()
        return sorted(self._fns)


TASKS = _Tasks()


def task_id_for(batch: str, name: str, index: int, payload: dict[str, Any]) -> str:
    """A stable id: the same batch, task and payload always give the same id."""
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{batch}:{name}:{index}:{digest}"[:120]


def claim_rows(engine: Context, batch: str, name: str, payloads: Sequence[dict[str, Any]]) -> list[str]:
    """Insert a ``queued`` row per payload (existing rows are kept); returns the task ids."""
    ids = [task_id_for(batch, name, i, p) for i, p in enumerate(payloads)]
    if not ids:
        return ids
    now = engine.now()
    rows = [{"task_id": t, "batch": batch, "name": name, "state": "queued", "payload": p, "attempts": 0,
             "runs": 0, "created_at": now} for t, p in zip(ids, payloads, strict=True)]
    skipping = insert_skipping_taken(engine.store.engine.dialect.name, job_runs, ("task_id",))
    if skipping is not None:  # one statement, its own transaction (#19)
        with engine.store.single() as conn:
            conn.execute(skipping, rows)
        return ids
    with engine.store.begin() as conn:  # MariaDB: look first
        have = set(conn.execute(select(job_runs.c.task_id).where(job_runs.c.task_id.in_(ids))).scalars())
        new = [r for r in rows if r["task_id"] not in have]
        if new:
            conn.execute(insert(job_runs), new)
    return ids


log = logging.getLogger("pledge.jobs")
#: what a task's log line may show of its result: counts and states, never rows or identities
_LOGGED = ("total_rows", "affected", "state", "ran", "status")

# a task's claim, its end and its failure, built once (#19: building a statement cost about as
# much as running it); the claim takes a row waiting, failed, or whose lease ran out by ``:now``
_c = job_runs.c
_TAKE = (update(job_runs)
         .where(_c.task_id == bindparam("tid"),
                or_(_c.state.in_(("queued", "failed")),
                    and_(_c.state != "done",
                         or_(_c.lease_until.is_(None), _c.lease_until < bindparam("now", type_=_c.lease_until.type)))))
         .values(state="running", claimed_by=bindparam("v_claimed_by", type_=_c.claimed_by.type),
                 lease_until=bindparam("v_lease_until", type_=_c.lease_until.type), attempts=_c.attempts + 1))
_TAKE_RETURNING = _TAKE.returning(_c.task_id)
_DONE = (update(job_runs).where(_c.task_id == bindparam("tid"))
         .values(state="done", result=bindparam("v_result", type_=_c.result.type),
                 finished_at=bindparam("v_finished_at", type_=_c.finished_at.type), lease_until=None,
                 runs=_c.runs + 1))
_FAILED = (update(job_runs).where(_c.task_id == bindparam("tid"))
           .values(state="failed", error=bindparam("v_error", type_=_c.error.type), lease_until=None))


def _call(engine: Context, name: str, payload: dict[str, Any], batch: str, task_id: str | None = None) \
        -> dict[str, Any]:
    """Run one task function, logged at its start and end (pledge.logs), with its counts."""
    with bind(task_id=task_id or batch), activity(log, "job", job=name, batch=batch) as counts:
        ran = TASKS[name](engine, payload)
        counts.update({k: ran[k] for k in _LOGGED if isinstance(ran.get(k), int | str)})
        return ran


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _jsonable(result: dict[str, Any]) -> dict[str, Any]:
    """The result as stored and sent: JSON, without its :data:`LOCAL` part."""
    out: dict[str, Any] = json.loads(json.dumps({k: v for k, v in result.items() if k != LOCAL}, default=str))
    return out


def execute(engine: Context, task_id: str, name: str, payload: dict[str, Any], *,
            batch: str = "adhoc", lease: timedelta = LEASE) -> dict[str, Any]:
    """Run one task at most once to completion (see the module docstring)."""
    now = engine.now()
    take = {"tid": task_id, "now": now, "v_claimed_by": _worker_name(), "v_lease_until": now + lease}
    if not (engine.store.engine.dialect.update_returning and _claim_at_once(engine, take)):
        done = _claim(engine, take, task_id, name, payload, batch, now)
        if done is not None:
            return done
    try:
        ran = _call(engine, name, payload, batch, task_id)
        result = _jsonable(ran)
    except Exception as exc:
        with engine.store.single() as conn:
            conn.execute(_FAILED, {"tid": task_id, "v_error": f"{type(exc).__name__}: {exc}"[:2000]})
        raise
    with engine.store.single() as conn:  # one statement: its own transaction (#19)
        conn.execute(_DONE, {"tid": task_id, "v_result": result, "v_finished_at": engine.now()})
    return {**result, LOCAL: ran[LOCAL]} if LOCAL in ran else result


def _claim_at_once(engine: Context, take: dict[str, Any]) -> bool:
    """The usual case, a row the submitter inserted and nobody holds: one ``UPDATE …
    RETURNING``, its own transaction (#19). False when it took nothing (look closer)."""
    with engine.store.single() as conn:
        return conn.execute(_TAKE_RETURNING, take).first() is not None


def _claim(engine: Context, take: dict[str, Any], task_id: str, name: str, payload: dict[str, Any], batch: str,
           now: datetime) -> dict[str, Any] | None:
    """Claim the task's row in a transaction, inserting it when missing: None once claimed,
    the stored result of a task already done; :class:`ClaimRefused` when another worker
    holds it."""
    with engine.store.begin() as conn:
        row = conn.execute(select(job_runs).where(job_runs.c.task_id == task_id)).first()
        if row is None:
            try:
                with conn.begin_nested():
                    conn.execute(insert(job_runs).values(task_id=task_id, batch=batch, name=name, state="queued",
                                                         payload=payload, attempts=0, runs=0, created_at=now))
            except IntegrityError:
                pass
            row = conn.execute(select(job_runs).where(job_runs.c.task_id == task_id)).first()
        assert row is not None
        if row.state == "done":
            return dict(row.result or {})
        if conn.execute(_TAKE, take).rowcount != 1:
            raise ClaimRefused(f"task {task_id} is running elsewhere (lease until {row.lease_until})")
    return None


def results(engine: Context, ids: Sequence[str]) -> dict[str, tuple[str, dict[str, Any] | None, str | None]]:
    """``{task_id: (state, result, error)}`` for the given ids."""
    with engine.store.connect() as conn:
        rows = conn.execute(select(job_runs.c.task_id, job_runs.c.state, job_runs.c.result, job_runs.c.error)
                            .where(job_runs.c.task_id.in_(list(ids)))).all()
    return {r.task_id: (r.state, r.result, r.error) for r in rows}


class InlineJobs:
    """Runs every task here and now, one after another (no broker, no claim rows)."""

    distributed = False

    def __init__(self, engine: Context) -> None:
        self.engine = engine

    def run_all(self, name: str, payloads: Sequence[dict[str, Any]], *, batch: str) -> list[dict[str, Any]]:
        return [_jsonable(_call(self.engine, name, dict(p), batch)) for p in payloads]

    def submit(self, name: str, payload: dict[str, Any], *, batch: str, local: Any = None) -> dict[str, Any]:
        """Run the task now; its result, :data:`LOCAL` part included."""
        return _call(self.engine, name, {**payload, LOCAL: local} if local is not None else dict(payload), batch)


def runs_inline(jobs: JobRunner) -> bool:
    """Do ``jobs``' tasks run here and now, one after another, without claim rows, each handed
    what its submitter gives it (:class:`InlineJobs`)? Then a request's sub-work need not be
    split into tasks, and its approval can ride on its completion (#19)."""
    return isinstance(jobs, InlineJobs)
