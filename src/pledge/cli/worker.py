"""``pledge worker``: a Celery worker for a deployment (needs PLEDGE_BROKER_URL)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from pledge.cli import app
from pledge.cli.common import ConfigOpt, console, fail, load_engine
from pledge.settings import default_config_path


@app.command()
def worker(
    config: ConfigOpt = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=64,
                                             help="Tasks run at once by this worker (processes).")] = 1,
    pool: Annotated[str, typer.Option(help="Celery pool: prefork, solo or threads.")] = "prefork",
    beat: Annotated[bool, typer.Option("--beat/--no-beat",
                                       help="Also run the scheduler that starts the daily retention sweep "
                                            "(run it in exactly one worker).")] = False,
    queue: Annotated[str | None, typer.Option(help="Queue to consume. Default: $PLEDGE_JOBS_QUEUE or pledge.")]
    = None,
    loglevel: Annotated[str, typer.Option(help="Celery log level: debug, info, warning or error.")] = "warning",
) -> None:
    """Run tasks sent by Pledge (requests split per collection, sweeps per key range)."""
    from pledge.jobs.celery import JobSettings, make_app

    if pool not in ("prefork", "solo", "threads"):
        fail(f"--pool {pool!r} is not one of prefork, solo, threads")
    if loglevel.lower() not in ("debug", "info", "warning", "error"):
        fail(f"--loglevel {loglevel!r} is not one of debug, info, warning, error")
    engine = load_engine(config, distributed=False)  # loads the keys first: no keys, no worker
    url = engine.settings.broker_url
    if not url:
        fail("PLEDGE_BROKER_URL is not set: e.g. redis://127.0.0.1:6379/0 or amqp://guest:guest@127.0.0.1:5672//")
    if not url.startswith(("redis://", "rediss://", "amqp://", "amqps://", "pyamqp://")):
        fail(f"PLEDGE_BROKER_URL {url!r} is neither a redis:// nor an amqp:// URL")
    if engine.config.store_url.startswith("sqlite"):
        console.print("[yellow]warning:[/] the store is SQLite: workers on other machines cannot share it; "
                      "use PostgreSQL (PLEDGE_DATABASE_URL)")
    from pledge.cli.db import check_store

    check_store(engine, config)  # production: refuse an old schema; else upgrade it once, under the lock
    from pledge.rights.blob_erasure import resume_pending

    resumed = resume_pending(engine)  # files a crashed erasure committed but had not deleted yet
    if resumed.gone or resumed.failed:
        console.print(f"resumed file deletions: {resumed.gone} deleted, {resumed.failed} still pending")
    engine.close()
    settings = JobSettings()
    if queue:
        settings.jobs_queue = queue
    path = str((config or default_config_path()).resolve())
    celery_app = make_app(url, path, settings)
    console.print(f"Pledge worker for [bold]{engine.config.name}[/] on {url.split('@')[-1]}, "
                  f"queue {settings.jobs_queue}, pid {os.getpid()}")
    argv = ["worker", f"--concurrency={concurrency}", f"--pool={pool}", f"--loglevel={loglevel.upper()}",
            f"--queues={settings.jobs_queue}", f"--hostname=pledge-{os.getpid()}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    if beat:
        argv.append("--beat")
    from pledge import logs

    logs.configure(level=loglevel.upper())  # JSON lines off a terminal: each task's start and end, counted
    celery_app.worker_main(argv)
