"""Operations endpoints: ``/healthz``, ``/readyz``, ``/metrics``; and :func:`install`.

- ``GET /healthz``: 200 ``{"status": "ok", "platform": NAME}`` while the process serves; it touches
  nothing else (a liveness probe must not restart a server whose database is down).
- ``GET /readyz``: 200 when the store (reachable, schema current), every platform
  database and the broker (when set) answer, else 503 naming the failing checks
  (:mod:`pledge.health`: 2 s per check, the outcome cached for 1 s).
- ``GET /metrics``: Prometheus text (:mod:`pledge.web.metrics`). Served to a loopback
  client that came straight in (no ``X-Forwarded-For``, ``Forwarded`` or ``X-Real-IP``
  header: a reverse proxy on the same host does not make the internet local), or to a
  caller with an API key holding ``metrics:read``; anyone else gets 401/403.

:func:`install` adds these routes, the request log and metrics middleware
(:mod:`pledge.web.requestlog`) and, when asked, OpenTelemetry tracing
(:mod:`pledge.web.tracing`) to an app; :func:`pledge.web.app.create_app` calls it.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from pledge.health import Readiness
from pledge.web.auth import bearer_token, key_for

if TYPE_CHECKING:
    from pledge.context import Context
    from pledge.web.metrics import AppMetrics

__all__ = ["METRICS_SCOPE", "install", "router"]

router = APIRouter(tags=["operations"])
METRICS_SCOPE = "metrics:read"
_PROXY_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


@router.get("/healthz", summary="Liveness: the process serves",
            responses={200: {"content": {"application/json": {"example": {"status": "ok", "platform": "omni-one"}}}}})
async def healthz(request: Request) -> dict[str, str]:
    engine: Context = request.app.state.engine
    return {"status": "ok", "platform": engine.config.name}


@router.get("/readyz", summary="Readiness: store, platform databases and broker answer",
            responses={503: {"description": "Not ready: the failing checks are named"}})
async def readyz(request: Request) -> JSONResponse:
    probe: Readiness = request.app.state.readiness
    report = await run_in_threadpool(probe.report)
    return JSONResponse(report.as_dict(), status_code=200 if report.ready else 503,
                        headers={"Cache-Control": "no-store"})


def _local(request: Request) -> bool:
    if request.client is None or any(h in request.headers for h in _PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


@router.get("/metrics", summary="Prometheus metrics (loopback, or an API key with metrics:read)",
            response_class=Response, responses={200: {"content": {"text/plain": {}}},
                                                401: {"description": "Not local, and no valid API key"},
                                                403: {"description": "The API key lacks metrics:read"}})
async def metrics(request: Request) -> Response:
    engine: Context = request.app.state.engine
    if not _local(request):
        token = bearer_token(request.headers.get("authorization"))
        try:
            await run_in_threadpool(key_for, engine, token, METRICS_SCOPE)
        except HTTPException as exc:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    app_metrics: AppMetrics = request.app.state.metrics
    body, media = await run_in_threadpool(app_metrics.render)
    return Response(body, media_type=media, headers={"Cache-Control": "no-store"})


def install(app: FastAPI, engine: Context) -> None:
    """Routes, the request log and metrics, and (optionally) tracing; call it last in
    ``create_app``, so that the request log is the outermost middleware."""
    from pledge.web import tracing
    from pledge.web.metrics import AppMetrics
    from pledge.web.requestlog import RequestLog

    app.state.readiness = Readiness(engine)
    app.state.metrics = AppMetrics(engine)
    app.include_router(router)
    tracing.install(app)
    app.add_middleware(RequestLog, metrics=app.state.metrics)
