"""Job runners for the engine: in-process (default) or Celery workers (with a broker URL).

Interfaces (CLI, web) call :func:`attach` once after building an engine::

    engine = load_engine(config)
    attach(engine)        # PLEDGE_BROKER_URL set -> Celery; otherwise in-process

The core only ever sees ``engine.jobs`` (:class:`pledge.tasks.JobRunner`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pledge.engine import Engine
    from pledge.tasks import JobRunner

__all__ = ["attach", "runner_for"]


def runner_for(engine: Engine) -> JobRunner:
    if engine.settings.broker_url:
        from pledge.jobs.celery import CeleryJobs

        return CeleryJobs(engine)
    from pledge.jobs.local import LocalJobs

    return LocalJobs(engine)


def attach(engine: Engine) -> JobRunner:
    runner = runner_for(engine)
    engine.jobs = runner
    return runner
