"""Promises kept in Pledge's own records: request deadlines and the breach clock.

* **Requests**: every request that is not final (completed, partly completed, denied or
  expired) must still be within its effective due date (the extended one when it was
  extended). Examples are the requests' public ids.
* **Breaches**: the supervisory authority is told within ``breach.authority_hours`` of
  awareness unless the officer decided it need not be; a breach past that time and not
  yet notified breaks the promise now. Breaches notified late are counted on the side:
  that cannot be undone, but it is no longer happening.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from pledge.prove.findings import EXAMPLES, Finding
from pledge.rights.requests import FINAL_STATES
from pledge.store.tables.breach import breaches
from pledge.store.tables.requests import requests as requests_table

if TYPE_CHECKING:
    from pledge.context import Context


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def request_findings(engine: Context, now: datetime) -> list[Finding]:
    rights = engine.policy.rights
    today = now.date()
    due = func.coalesce(requests_table.c.extended_due_on, requests_table.c.due_on)
    open_ = requests_table.c.state.not_in(sorted(FINAL_STATES))
    late = open_ & (due < today)
    with engine.store.connect() as conn:
        n_open = int(conn.execute(select(func.count()).select_from(requests_table).where(open_)).scalar() or 0)
        n_late = int(conn.execute(select(func.count()).select_from(requests_table).where(late)).scalar() or 0)
        ids = [str(r[0]) for r in conn.execute(
            select(requests_table.c.public_id).where(late).order_by(due, requests_table.c.id).limit(EXAMPLES))]
    return [Finding.titled("requests", id="requests:deadlines", kind="requests", source=rights.source,
                    status="broken" if n_late else "kept", count=n_late, examples=ids,
                    detail={"open": n_open, "today": today.isoformat(),
                            "promise": str(rights.promise) if rights.promise else None})]


def breach_findings(engine: Context, now: datetime) -> list[Finding]:
    policy = engine.policy.breach
    hours = policy.authority_hours
    window = timedelta(hours=hours)
    q = select(breaches.c.id, breaches.c.aware_at, breaches.c.authority_notified_at,
               breaches.c.notify_authority).order_by(breaches.c.aware_at, breaches.c.id)
    overdue: list[Any] = []
    late = 0
    total = 0
    with engine.store.connect() as conn:
        for row in conn.execute(q):
            total += 1
            deadline = _aware(row.aware_at) + window
            if row.authority_notified_at is not None:
                late += _aware(row.authority_notified_at) > deadline
            elif row.notify_authority is not False and now > deadline:
                overdue.append(row.id)
    return [Finding.titled("breach", {"hours": hours}, id="breach:authority", kind="breach",
                           source=policy.source, status="broken" if overdue else "kept", count=len(overdue),
                    examples=[f"#{i}" for i in overdue[:EXAMPLES]],
                    detail={"hours": hours, "breaches": total, "notified_late": late})]
