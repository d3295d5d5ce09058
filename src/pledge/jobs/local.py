"""In-process jobs: every task runs here, through the same claim rows as on workers.

Going through :func:`pledge.tasks.execute` keeps in-process runs resumable the same way
distributed ones are: a task finished before a crash is not run again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pledge.tasks import claim_rows, execute

if TYPE_CHECKING:
    from pledge.context import Context

__all__ = ["LocalJobs"]


class LocalJobs:
    distributed = False

    def __init__(self, engine: Context) -> None:
        self.engine = engine

    def run_all(self, name: str, payloads: Sequence[dict[str, Any]], *, batch: str) -> list[dict[str, Any]]:
        ids = claim_rows(self.engine, batch, name, payloads)
        return [execute(self.engine, tid, name, dict(p), batch=batch)
                for tid, p in zip(ids, payloads, strict=True)]

    def submit(self, name: str, payload: dict[str, Any], *, batch: str, local: Any = None) -> dict[str, Any]:
        [tid] = claim_rows(self.engine, batch, name, [payload])
        return execute(self.engine, tid, name, dict(payload), batch=batch)
