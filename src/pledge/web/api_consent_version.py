"""``GET /v1/consent/version``: the decisions epoch, for clients that cache decisions.

Answers ``{"version": "<16 hex>"}`` with the same value as a strong ``ETag``; a request
with ``If-None-Match`` naming it gets ``304 Not Modified`` and no body. The version
changes whenever a purpose decision may have (:mod:`pledge.consent.epoch`), so a client
keeps its decisions while it stays the same (:class:`pledge.client.DecisionCache`).
Needs an API key with the ``decisions:read`` scope, like the decisions themselves.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from pledge.consent.epoch import decisions_epoch
from pledge.web.auth import AUTH_RESPONSES, requires
from pledge.web.deps import EngineDep

__all__ = ["ConsentVersion", "router"]

router = APIRouter()


class ConsentVersion(BaseModel):
    version: str


@router.get("/v1/consent/version", tags=["consent"], response_model=ConsentVersion,
            responses={**AUTH_RESPONSES, 304: {"description": "The version named in If-None-Match is current"}},
            dependencies=[Depends(requires("decisions:read"))])
async def consent_version(request: Request, engine: EngineDep) -> Response:
    """The decisions epoch: it changes whenever any purpose decision may have. Needs
    ``decisions:read``. Send ``If-None-Match`` with the last ETag to get 304 while nothing changed."""
    version = await run_in_threadpool(decisions_epoch, engine)
    etag = f'"{version}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    asked = request.headers.get("if-none-match", "")
    if etag in (t.strip() for t in asked.split(",")):
        return Response(status_code=304, headers=headers)
    return JSONResponse({"version": version}, headers=headers)
