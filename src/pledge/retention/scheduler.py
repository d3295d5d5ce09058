"""A small in-process scheduler: ``pledge serve`` sweeps once a day.

After each sweep it expires data-subject requests never verified in time, destroying their
identities (:meth:`pledge.rights.requests.RequestService.expire_stale`), runs a proof on live
data (``pledge.prove``: is every checkable promise kept now?) and appends a signed audit checkpoint to the deployment's checkpoint
file (:func:`pledge.audit_anchor.write_checkpoint`).

Started from the web application's lifespan (:func:`attach`). It is off under pytest
unless ``PLEDGE_RETENTION_SWEEP`` asks for it; ``off`` turns it off anywhere, and a
number sets the interval in seconds (default one day). A sweep that fails is logged
and retried at the next tick. With a broker (``PLEDGE_BROKER_URL``) it steps aside:
Celery beat (``pledge worker --beat``) starts the daily sweep then, split into key
ranges (:func:`pledge.retention.fanout.sweep_fanout`), and two schedulers must not both
sweep.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pledge.context import Context

DAY = 24 * 3600
log = logging.getLogger("pledge.retention")


def interval(environ: dict[str, str] | None = None) -> float | None:
    """Seconds between sweeps, or None when the scheduler is off."""
    env = dict(os.environ) if environ is None else environ
    value = env.get("PLEDGE_RETENTION_SWEEP", "").strip().lower()
    if value in ("off", "0", "false", "no"):
        return None
    if not value:
        return None if "PYTEST_CURRENT_TEST" in env else float(DAY)
    if value in ("on", "daily", "true", "yes"):
        return float(DAY)
    try:
        return max(float(value), 1.0)
    except ValueError:
        log.warning("PLEDGE_RETENTION_SWEEP=%r is not off, daily or seconds; sweeping daily", value)
        return float(DAY)


def checkpoint(engine: Context) -> None:
    """Publish the audit head after a sweep (pledge.audit_anchor); a failure is logged, loudly."""
    from pledge.audit_anchor import write_checkpoint

    try:
        doc, path = write_checkpoint(engine)
        log.info("audit checkpoint of entry %s appended to %s", doc["last_id"], path)
    except Exception:
        log.exception("audit checkpoint NOT written; run `pledge audit verify`")


def expire_requests(engine: Context) -> None:
    """Expire unverified requests past their time, destroying their identities; a failure is
    logged and the next tick tries again."""
    try:
        expired = engine.requests.expire_stale(actor="scheduler")
        if expired:
            log.info("%d unverified request(s) expired; their identities are destroyed", len(expired))
    except Exception:
        log.exception("expiring unverified requests failed; it runs again at the next tick")


def prove_now(engine: Context) -> None:
    """The daily proof on live data after the sweep (:mod:`pledge.prove`), stored and audited;
    a failure is logged and the next tick tries again."""
    from pledge.prove import run as prove

    try:
        proof = prove(engine, actor="scheduler")
        log.info("proof run %s: %s (%s)", proof.id, proof.outcome, proof.summary)
    except Exception:
        log.exception("proof on live data failed; it runs again at the next tick")


def purge_exports(engine: Context) -> None:
    """Delete access and portability packages past their download period (the promise that
    exports are purged); a failure is logged and the next tick tries again."""
    try:
        purged = engine.requests.delivery.purge(actor="scheduler")
        if purged:
            log.info("%d export(s) past their download period deleted", purged)
    except Exception:
        log.exception("purging old exports failed; it runs again at the next tick")


def after_sweep(engine: Context) -> None:
    """The daily housekeeping after each sweep, the same in ``pledge serve``'s scheduler and
    in Celery beat's daily task: expire unverified requests, purge old exports, prove the
    promises on live data, and publish the audit head."""
    expire_requests(engine)
    purge_exports(engine)
    prove_now(engine)
    checkpoint(engine)


class Scheduler:
    def __init__(self, engine: Context, every: float) -> None:
        self.engine = engine
        self.every = every
        self.stop = threading.Event()
        self.runs = 0
        self.thread = threading.Thread(target=self._loop, name="pledge-retention", daemon=True)

    def _loop(self) -> None:
        from pledge.retention.sweep import run

        while not self.stop.wait(0 if self.runs == 0 else self.every):
            try:
                report = run(self.engine, self.engine.now(), actor="scheduler")  # time is an argument
                log.info("retention sweep: %s rows", report["total_rows"])
            except Exception:  # a bad night must not stop the server
                log.exception("retention sweep failed; retrying at the next tick")
            after_sweep(self.engine)
            self.runs += 1

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def attach(app: Any, engine: Context) -> None:
    """Wrap the app's lifespan so that the scheduler starts and stops with it."""
    inner: Callable[[Any], AbstractAsyncContextManager[Any]] = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        every = None if engine.settings.broker_url else interval()
        if engine.settings.broker_url:
            log.info("retention sweeps are left to Celery beat: a broker is set")
        sched = Scheduler(engine, every) if every else None
        if sched:
            sched.start()
        a.state.retention_scheduler = sched
        try:
            async with inner(a) as state:
                yield state
        finally:
            if sched:
                sched.close()

    app.router.lifespan_context = lifespan
