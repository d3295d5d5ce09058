"""A retention sweep split into row-key ranges, one task each, for a job runner.

:func:`sweep_fanout` finds the highest integer leading row-key column among the data map's
collections (the primary key, or the first column of a composite one), cuts ``1..top``
into ``parts`` ranges and runs
:func:`pledge.retention.sweep.run` with ``start_pk``/``end_pk`` on each (every range
has its own checkpoints, so each task resumes on its own). Every range is swept with
the same ``now``. The report adds up the ranges' rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pledge.dataplane import selection
from pledge.retention import sweep

if TYPE_CHECKING:
    from pledge.context import Context
    from pledge.tasks import JobRunner

__all__ = ["key_ranges", "sweep_fanout", "sweep_range_task"]


def sweep_range_task(engine: Context, payload: dict[str, Any]) -> dict[str, Any]:
    report = sweep.run(engine, datetime.fromisoformat(payload["now"]), start_pk=payload["start_pk"],
                       end_pk=payload["end_pk"], actor=payload.get("actor", "retention"))
    return {"start_pk": payload["start_pk"], "end_pk": payload["end_pk"], "total_rows": report["total_rows"],
            "status": report["status"], "targets": report["targets"]}


def _top_key(engine: Context) -> int:
    top = 0
    for db in engine.dataset.databases:
        connector = engine.connectors.get(db.name)
        with connector.begin() as conn:
            for coll in db.collections:
                key = connector.row_key(coll.name)
                if not key or selection.family(connector, coll.name, key[0]) != "integer":
                    continue
                value = selection.maximum(connector, conn, coll.name, key[0])
                top = max(top, int(value or 0))
    return top


def key_ranges(top: int, parts: int) -> list[tuple[int, int]]:
    """``1..top`` cut into at most ``parts`` inclusive ranges (the last one open-ended)."""
    parts = max(1, parts)
    size = max(1, -(-top // parts))
    ranges = [(start, start + size - 1) for start in range(1, max(top, 1) + 1, size)]
    return ranges or [(1, 1)]


def sweep_fanout(engine: Context, now: datetime | None = None, *, parts: int = 4,
                 actor: str = "retention", jobs: JobRunner | None = None) -> dict[str, Any]:
    """Sweep at ``now`` (default: the engine's clock), one task per key range, through ``jobs``
    (default: the engine's own runner; Celery beat passes a runner that sends to workers)."""
    moment = now or engine.now()
    ranges = key_ranges(_top_key(engine), parts)
    payloads: list[dict[str, Any]] = [{"now": moment.isoformat(), "start_pk": lo, "end_pk": hi, "actor": actor}
                                      for lo, hi in ranges]
    payloads[0]["start_pk"] = None  # keys below 1 too
    payloads[-1]["end_pk"] = None  # and rows added above top while it runs
    results = (jobs or engine.jobs).run_all("retention.sweep_range", payloads, batch=f"sweep-{moment.isoformat()}")
    return {"now": moment.isoformat(), "ranges": results, "total_rows": sum(r["total_rows"] for r in results),
            "status": "done" if all(r["status"] == "done" for r in results) else "partial"}
