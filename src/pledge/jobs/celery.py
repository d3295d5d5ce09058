"""Celery workers fed by Redis or RabbitMQ (``PLEDGE_BROKER_URL``), sharing one store.

* :func:`make_app` builds the Celery app for a config: ``acks_late`` with
  ``reject_on_worker_lost`` (a killed worker's message is delivered again),
  prefetch 1, JSON only, a Redis visibility timeout short enough to recover in minutes
  (unacked messages looked for every few seconds, not kombu's ~100 s), and beat's
  daily retention sweep (followed by the expiry of unverified requests and a signed audit
  checkpoint).
* The one task, ``pledge.run``, builds the worker's engine once and calls
  :func:`pledge.tasks.execute` (the claim row makes a second delivery harmless). A claim
  held by a live lease elsewhere is retried after a pause.
* :class:`CeleryJobs` is the runner the engine gets: it writes the claim rows, sends
  one message per task (its task id is the claim's) and waits for every row to be
  ``done`` in the store, which is the result backend (``submit`` sends without waiting:
  a data-subject request runs whole on one worker, its own sub-work inline there).

Settings (environment): ``PLEDGE_BROKER_URL``; ``PLEDGE_JOBS_QUEUE`` (default
``pledge``); ``PLEDGE_JOBS_LEASE`` seconds (60); ``PLEDGE_JOBS_TIMEOUT`` seconds a
submitter waits (600); ``PLEDGE_JOBS_VISIBILITY`` seconds for Redis redelivery (120);
``PLEDGE_SWEEP_HOUR`` UTC hour of the daily sweep (3); ``PLEDGE_SWEEP_PARTS`` (4);
``PLEDGE_MAIL_EVERY`` seconds between beat's ``pledge.mail`` runs, which deliver due mail
from the outbox (15; each worker also runs its own sender thread for mail it queues).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic_settings import BaseSettings, SettingsConfigDict

from pledge.extras import missing_extra
from pledge.tasks import ClaimRefused, TaskFailed, claim_rows, execute, results

try:
    from celery import Celery
    from celery.schedules import crontab
except ModuleNotFoundError as _exc:  # installed without the celery extra
    raise (missing_extra(_exc, "Celery workers (PLEDGE_BROKER_URL, pledge worker)") or _exc) from _exc

if TYPE_CHECKING:
    from pledge.context import Context

__all__ = ["CeleryJobs", "JobSettings", "make_app"]


class JobSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PLEDGE_", extra="ignore")

    broker_url: str | None = None
    jobs_queue: str = "pledge"
    jobs_lease: float = 60.0
    jobs_timeout: float = 600.0
    jobs_visibility: int = 120
    sweep_hour: int = 3
    sweep_parts: int = 4
    #: seconds between beat's ``pledge.mail`` deliveries of due mail (pledge.outbox)
    mail_every: float = 15.0


def make_app(broker_url: str, config_path: str | None = None, settings: JobSettings | None = None) -> Celery:
    """The Celery app; ``config_path`` is the deployment a worker serves."""
    js = settings or JobSettings()
    app = Celery("pledge", broker=broker_url)
    app.conf.update(
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        task_serializer="json", accept_content=["json"], result_serializer="json", task_ignore_result=True,
        task_default_queue=js.jobs_queue, broker_connection_retry_on_startup=True,
        # Redis: a killed worker's message comes back after the visibility timeout, looked
        # for every few seconds (kombu's default sweep runs about every 100 s)
        broker_transport_options={"visibility_timeout": js.jobs_visibility,
                                  "unacked_restore_interval": min(10, max(1, js.jobs_visibility // 2)),
                                  "unacked_restore_throttle": 1},
        worker_hijack_root_logger=False, worker_enable_remote_control=False, enable_utc=True, timezone="UTC",
        beat_schedule={"daily-retention-sweep": {
            "task": "pledge.sweep", "schedule": crontab(minute=0, hour=js.sweep_hour),
            "kwargs": {"parts": js.sweep_parts}},
            # mail retries (pledge.outbox); each worker's own sender sends new mail at once
            "mail-outbox": {"task": "pledge.mail", "schedule": js.mail_every}},
    )
    engines: dict[str, Context] = {}

    def engine() -> Context:
        if config_path is None:
            raise RuntimeError("this Celery app has no config: start workers with `pledge worker -c CONFIG`")
        if config_path not in engines:
            from pledge.engine import Engine as _Engine

            # no jobs factory: a task's own sub-work (a request's fetches and erasure steps)
            # runs here, inline; waiting on other workers from inside a task could leave every
            # worker waiting
            # mail queued here goes out from this worker's sender thread
            built = _Engine.from_config_file(config_path, send_mail_in_background=True)
            engines[config_path] = built
        return engines[config_path]

    @app.task(name="pledge.run", bind=True, max_retries=None)  # type: ignore[untyped-decorator]
    def run(self: Any, task_id: str, name: str, payload: dict[str, Any], batch: str) -> None:
        try:
            execute(engine(), task_id, name, payload, batch=batch, lease=timedelta(seconds=js.jobs_lease))
        except ClaimRefused as exc:
            raise self.retry(exc=exc, countdown=min(js.jobs_lease, 5.0)) from exc

    @app.task(name="pledge.mail", ignore_result=True)  # type: ignore[untyped-decorator]
    def send_mail() -> dict[str, Any]:
        """Deliver the outbox's due mail (retries, and mail no sender has woken for)."""
        return engine().outbox.deliver_due().as_dict()

    @app.task(name="pledge.sweep")  # type: ignore[untyped-decorator]
    def daily_sweep(parts: int = 4) -> dict[str, Any]:
        from pledge.retention.fanout import sweep_fanout
        from pledge.retention.scheduler import after_sweep

        eng = engine()
        try:  # the ranges go to every worker; this worker's engine keeps running its tasks inline
            return sweep_fanout(eng, parts=parts, jobs=CeleryJobs(eng, app=app))
        finally:
            # expire unverified requests, purge old exports, prove on live data, publish the
            # audit head: what `pledge serve`'s own scheduler does after its sweep
            after_sweep(eng)

    return app


class CeleryJobs:
    """Send tasks to workers and wait for their results in the store."""

    distributed = True

    def __init__(self, engine: Context, *, app: Celery | None = None, settings: JobSettings | None = None) -> None:
        self.engine = engine
        self.settings = settings or JobSettings()
        url = self.settings.broker_url or engine.settings.broker_url
        if not url:
            raise RuntimeError("PLEDGE_BROKER_URL is not set: there is no broker to send tasks to")
        self.app = app or make_app(url, None, self.settings)

    def send(self, task_id: str, name: str, payload: dict[str, Any], batch: str) -> None:
        self.app.send_task("pledge.run", args=[task_id, name, payload, batch], task_id=task_id,
                           queue=self.settings.jobs_queue)

    def submit(self, name: str, payload: dict[str, Any], *, batch: str, local: Any = None) -> None:
        """Write the claim row and send the task; a worker runs it (the store holds the outcome)."""
        [tid] = claim_rows(self.engine, batch, name, [payload])
        self.send(tid, name, dict(payload), batch)

    def run_all(self, name: str, payloads: Sequence[dict[str, Any]], *, batch: str) -> list[dict[str, Any]]:
        if not payloads:
            return []
        ids = claim_rows(self.engine, batch, name, payloads)
        for tid, payload in zip(ids, payloads, strict=True):
            self.send(tid, name, dict(payload), batch)
        deadline = time.monotonic() + self.settings.jobs_timeout
        pause = 0.01
        while True:
            got = results(self.engine, ids)
            failed = [(t, got[t][2]) for t in ids if got.get(t, ("", None, None))[0] == "failed"]
            if failed:
                raise TaskFailed(f"{len(failed)} of {len(ids)} {name} tasks failed; first: {failed[0][1]}")
            if all(got.get(t, ("", None, None))[0] == "done" for t in ids):
                return [dict(got[t][1] or {}) for t in ids]
            if time.monotonic() > deadline:
                left = sum(1 for t in ids if got.get(t, ("",))[0] != "done")
                raise TimeoutError(f"{left} of {len(ids)} {name} tasks not done after "
                                   f"{self.settings.jobs_timeout:.0f} s: are workers running on this queue?")
            time.sleep(pause)
            pause = min(pause * 1.5, 0.2)

