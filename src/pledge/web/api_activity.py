"""``POST /v1/activity``: a platform tells Pledge that a person was just active.

The body names the person by one identity (``{"email": "…"}``, matched case-insensitively,
or ``{"user_id": 42}``) and optionally the time (``"at"``, ISO 8601; default now). Pledge
moves the "last session" column of the person's row in the table of people — the data
map's ``facts.last_active`` (by default the column the retention rules run from:
``last_login_at`` unless a rule names another ``last_*`` column) — so the inactivity clock
restarts. A time older than the stored one never moves it back. The row is found and
updated through the data plane (:mod:`pledge.dataplane.people`).

The platform calls it with an API key holding the ``activity:write`` scope
(``Authorization: Bearer plk_…``); without one the answer is 401, with another scope 403.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from pledge.context import Context
from pledge.web.auth import AUTH_RESPONSES, requires
from pledge.web.deps import EngineDep

router = APIRouter()


class Activity(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, max_length=320)
    #: a 64-bit signed integer: every engine's id column can hold it
    user_id: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    at: datetime | None = None


def activity_column(engine: Context) -> tuple[str, str, str]:
    """(database, table of people, last-activity column): the data map's ``facts.last_active``,
    else the ``last_*`` trigger of a retention rule on the table of people, else ``last_login_at``."""
    from pledge.dataplane.people import activity_column as target

    found = target(engine)
    if found is None:
        raise HTTPException(status_code=501, detail="the data map declares no table of people with an email")
    return found


def record_activity(engine: Context, body: Activity) -> dict[str, Any]:
    from pledge.connectors.base import ConnectorError
    from pledge.dataplane.people import advance_activity

    at = body.at or engine.now()
    at = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)
    value: str | int
    if body.email:
        kind, value = "email", body.email  # matched case-insensitively, like everywhere
    elif body.user_id is not None:
        kind, value = "user_id", body.user_id
    else:
        raise HTTPException(status_code=422, detail="name the person: email or user_id")
    activity_column(engine)  # 501 when there is no table of people
    try:
        done = advance_activity(engine, kind, value, at)
    except ConnectorError as exc:
        raise HTTPException(status_code=501, detail=str(exc)) from None
    if not done.found:
        raise HTTPException(status_code=404, detail="no such person")
    return {"recorded": done.moved, "column": done.column, "at": at.isoformat()}


@router.post("/v1/activity", responses=AUTH_RESPONSES, dependencies=[Depends(requires("activity:write"))])
async def post_activity(body: Activity, engine: EngineDep) -> dict[str, Any]:
    """Record a person's latest activity (restarts the inactivity clock). Needs ``activity:write``."""
    return await run_in_threadpool(record_activity, engine, body)
