"""Numbers about the work, read from the store at the moment they are asked for.

The metrics endpoint (:mod:`pledge.web.metrics`) asks these at each scrape, so every
process (every web worker, with Celery or without) reports the same values, however the
work was spread:

- :func:`requests_by_kind_state`: data-subject requests per kind and state (one
  ``GROUP BY`` on an indexed column);
- :func:`overdue_by_kind`: open requests past their (extended) due date, every kind
  named (0 too, so that an alert on it has a series to watch);
- :class:`SweepTally`: rows retention sweeps have removed, and sweeps by outcome, summed
  from the audit log's ``retention.sweep.done``/``paused`` entries (each carries the
  run's ``total_rows``), read incrementally: a scrape reads only the entries since the
  previous one. Sweeps run by ``pledge retention sweep``, the web app's scheduler and
  Celery workers all count.
"""

from __future__ import annotations

import threading
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from pledge.rights.requests import FINAL_STATES, KINDS
from pledge.store.tables.core import audit_log
from pledge.store.tables.requests import requests

if TYPE_CHECKING:
    from pledge.context import Context

__all__ = ["SWEEP_ACTIONS", "SweepTally", "overdue_by_kind", "requests_by_kind_state"]

#: audit actions that end a sweep run, and the outcome each stands for
SWEEP_ACTIONS = {"retention.sweep.done": "done", "retention.sweep.paused": "paused"}
_READ_AT_ONCE = 5000


def requests_by_kind_state(engine: Context) -> dict[tuple[str, str], int]:
    with engine.store.connect() as conn:
        rows = conn.execute(select(requests.c.kind, requests.c.state, func.count())
                            .group_by(requests.c.kind, requests.c.state)).all()
    return {(str(r[0]), str(r[1])): int(r[2]) for r in rows}


def overdue_by_kind(engine: Context, today: date | None = None) -> dict[str, int]:
    """Open requests whose effective due date (the extended one, if any) has passed."""
    day = today or engine.now().date()
    due = func.coalesce(requests.c.extended_due_on, requests.c.due_on)
    with engine.store.connect() as conn:
        rows = conn.execute(select(requests.c.kind, func.count())
                            .where(requests.c.state.not_in(sorted(FINAL_STATES)), due < day)
                            .group_by(requests.c.kind)).all()
    return {**dict.fromkeys(KINDS, 0), **{str(r[0]): int(r[1]) for r in rows}}  # every kind: 0 is news too


class SweepTally:
    """Running totals over the audit log's sweep entries, read a slice at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_id = 0
        self.rows = 0
        self.runs: dict[str, int] = dict.fromkeys(SWEEP_ACTIONS.values(), 0)

    def update(self, engine: Context) -> tuple[int, dict[str, int]]:
        """Read the entries since the last call; returns (rows, runs by outcome)."""
        with self._lock:
            with engine.store.connect() as conn:
                while True:
                    batch = conn.execute(
                        select(audit_log.c.id, audit_log.c.action, audit_log.c.details)
                        .where(audit_log.c.action.in_(list(SWEEP_ACTIONS)), audit_log.c.id > self._last_id)
                        .order_by(audit_log.c.id).limit(_READ_AT_ONCE)).all()
                    for entry in batch:
                        self._add(entry.action, entry.details)
                        self._last_id = int(entry.id)
                    if len(batch) < _READ_AT_ONCE:
                        break
            return self.rows, dict(self.runs)

    def _add(self, action: str, details: Any) -> None:
        outcome = SWEEP_ACTIONS[action]
        self.runs[outcome] = self.runs.get(outcome, 0) + 1
        rows = details.get("total_rows") if isinstance(details, dict) else None
        if isinstance(rows, int) and rows > 0:
            self.rows += rows
