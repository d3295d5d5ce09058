"""``POST /v1/activity``: a platform tells Pledge that a person was just active.

The body names the person by one identity (``{"email": "…"}`` or ``{"user_id": 42}``) and
optionally the time (``"at"``, ISO 8601; default now). Pledge moves the "last session"
column of the person's row in the table of people — the column the retention rules
run from (``last_login_at`` unless a rule names another ``last_*`` column) — so the
inactivity clock restarts. A time older than the stored one never moves it back.

The platform calls it with an API key holding the ``activity:write`` scope
(``Authorization: Bearer plk_…``); without one the answer is 401, with another scope 403.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from pledge.engine import Engine
from pledge.web.auth import AUTH_RESPONSES, requires
from pledge.web.deps import EngineDep

router = APIRouter()


class Activity(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, max_length=320)
    #: a 64-bit signed integer: every engine's id column can hold it
    user_id: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    at: datetime | None = None


def activity_column(engine: Engine) -> tuple[str, str, str]:
    """(database, table of people, last-activity column) the retention rules read."""
    people: tuple[str, str] | None = None
    for db in engine.dataset.databases:
        for coll in db.collections:
            if any(f.identity and f.primary_key for f in coll.fields) and any(
                    f.identity == "email" for f in coll.fields):
                people = people or (db.name, coll.name)
    if people is None:
        raise HTTPException(status_code=501, detail="the data map declares no table of people with an email")
    column = "last_login_at"
    for rule in engine.policy.retention:
        name = rule.trigger.split(".")[-1].strip()
        if name.startswith("last_") and f"{people[0]}.{people[1]}" in rule.collections:
            column = name
            break
    return people[0], people[1], column


def record_activity(engine: Engine, body: Activity) -> dict[str, Any]:
    from sqlalchemy import or_, update

    database, name, column = activity_column(engine)
    connector = engine.connectors.get(database)
    table = connector.table(name)  # type: ignore[attr-defined]
    coll = engine.dataset.database(database).collection(name)
    if column not in table.c:
        raise HTTPException(status_code=501, detail=f"{name} has no column {column}")
    at = body.at or engine.now()
    at = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)
    if connector.engine.dialect.name != "postgresql":  # type: ignore[attr-defined]
        at = at.replace(tzinfo=None)
    if body.email:
        field = next(f.name for f in coll.fields if f.identity == "email")
        match = table.c[field] == body.email.strip()
    elif body.user_id is not None:
        field = next(f.name for f in coll.fields if f.primary_key)
        match = table.c[field] == body.user_id
    else:
        raise HTTPException(status_code=422, detail="name the person: email or user_id")
    col = table.c[column]
    with connector.begin() as conn:
        found = conn.execute(update(table).where(match, or_(col.is_(None), col < at)).values({column: at}))
        moved = max(found.rowcount or 0, 0)
        if not moved:
            from sqlalchemy import select

            if conn.execute(select(table.c[field]).where(match)).first() is None:
                raise HTTPException(status_code=404, detail="no such person")
    return {"recorded": bool(moved), "column": f"{database}.{name}.{column}", "at": at.isoformat()}


@router.post("/v1/activity", responses=AUTH_RESPONSES, dependencies=[Depends(requires("activity:write"))])
async def post_activity(body: Activity, engine: EngineDep) -> dict[str, Any]:
    """Record a person's latest activity (restarts the inactivity clock). Needs ``activity:write``."""
    return await run_in_threadpool(record_activity, engine, body)
