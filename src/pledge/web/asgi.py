"""The ASGI application factory, for process managers and several workers.

    uvicorn --factory pledge.web.asgi:app_factory --workers 4 --host 0.0.0.0 --port 8000
    gunicorn -k uvicorn.workers.UvicornWorker -w 4 'pledge.web.asgi:app_factory()'

Each worker process calls :func:`app_factory` once. It reads the settings from the
``PLEDGE_*`` environment and the deployment from ``PLEDGE_CONFIG`` (default
``./pledge.yaml``), configures structured logging (:mod:`pledge.logs`), loads the keys
(none: it raises :class:`pledge.keys.KeysMissing` and the worker does not start), checks
the store (in production an old schema raises :class:`pledge.store.SchemaOutOfDate`:
run ``pledge db upgrade`` first; elsewhere it is upgraded once, under the migration lock)
and hands tasks to Celery workers when ``PLEDGE_BROKER_URL`` is set.

uvicorn's own lines go through the same handler, and its access log is off (Pledge logs
each request by its route template, never its query string).

Only one worker on a host runs the in-process daily retention sweep: the first to take
``<state dir>/scheduler.lock``; the others leave it to that one. ``pledge serve --workers
N`` starts uvicorn with this factory.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import IO, Any

from fastapi import FastAPI

from pledge import logs
from pledge.engine import Engine
from pledge.settings import Settings, default_config_path

__all__ = ["app_factory", "build_engine"]

log = logging.getLogger("pledge.web")
LOCK_NAME = "scheduler.lock"


def build_engine(settings: Settings | None = None) -> Engine:
    """The engine a served process uses: tasks to Celery workers when a broker is set."""
    settings = settings or Settings()
    jobs = None
    if settings.broker_url:
        from pledge.jobs import runner_for

        jobs = runner_for
    engine = Engine.from_config_file(default_config_path(), settings, jobs=jobs)
    engine.keys  # noqa: B018 - no keys, no server
    engine.store  # noqa: B018 - production: refuses a store behind this Pledge; else upgrades it once
    return engine


def _hold_scheduler_lock(engine: Engine) -> IO[bytes] | None:
    """Take this host's scheduler lock without waiting; the open file holds it (None: another
    process has it, or locks do not exist here)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return None
    engine.state_dir.mkdir(parents=True, exist_ok=True)
    fh = open(engine.state_dir / LOCK_NAME, "a+b")  # noqa: SIM115 - held for the process's life
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        return None
    return fh


def _close_with(app: FastAPI, engine: Engine) -> None:
    inner: Callable[[Any], AbstractAsyncContextManager[Any]] = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        try:
            async with inner(a) as state:
                yield state
        finally:
            engine.close()

    app.router.lifespan_context = lifespan


def _adopt_uvicorn_logs() -> None:
    """uvicorn's lines through Pledge's handler; its access log off, however uvicorn was
    started (its access lines carry query strings, which may hold tokens)."""
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


def app_factory() -> FastAPI:
    """One worker's app (see the module docstring)."""
    logs.configure()
    _adopt_uvicorn_logs()
    engine = build_engine()
    lock = _hold_scheduler_lock(engine)
    if lock is None and os.environ.get("PLEDGE_RETENTION_SWEEP", "").strip().lower() not in ("off", "0", "false", "no"):
        os.environ["PLEDGE_RETENTION_SWEEP"] = "off"  # this worker process only: another one sweeps
        log.info("another worker on this host runs the daily retention sweep", extra={"pid": os.getpid()})
    from pledge.web.app import create_app

    app = create_app(engine)
    app.state.scheduler_lock = lock
    _close_with(app, engine)
    import gc

    gc.collect()
    gc.freeze()  # what startup built lives as long as the worker (see pledge.cli.serve)
    return app
