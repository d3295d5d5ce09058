"""Job runners for the engine: in-process (default) or Celery workers (with a broker URL).

Interfaces (CLI, web server, workers) choose the runner when they build the engine::

    engine = Engine.from_config_file(config, settings, jobs=runner_for)   # a broker is set

``runner_for`` gives Celery when ``PLEDGE_BROKER_URL`` is set and in-process runs
through the claim rows otherwise. An engine's runner is never replaced; work that must
go elsewhere takes a runner as an argument (``sweep_fanout(engine, jobs=…)``). The core
only ever sees ``engine.jobs`` (:class:`pledge.tasks.JobRunner`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pledge.context import Context
    from pledge.tasks import JobRunner

__all__ = ["runner_for"]


def runner_for(engine: Context) -> JobRunner:
    if engine.settings.broker_url:
        from pledge.jobs.celery import CeleryJobs

        return CeleryJobs(engine)
    from pledge.jobs.local import LocalJobs

    return LocalJobs(engine)
