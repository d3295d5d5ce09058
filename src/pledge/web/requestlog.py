"""One log line and one measurement per HTTP request, under a request id.

A pure ASGI middleware (no body buffering, a few microseconds a request). It takes the
caller's ``X-Request-ID`` when it is a short token of letters, digits, ``-``, ``_`` and
``.``, else makes one; binds it to the logging context (:func:`pledge.logs.bind`), so
every line logged while the request runs carries it; and returns it in the response's
``X-Request-ID``. At the end it logs the method, the route's *template*
(``/v1/requests/{request_id}``, never the raw path with its query string, which may hold
tokens), the status and the duration, and hands them to the metrics
(:class:`pledge.web.metrics.AppMetrics`), when the app has them.
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import TYPE_CHECKING, Any

from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pledge.logs import bind

if TYPE_CHECKING:
    from pledge.web.metrics import AppMetrics

__all__ = ["HEADER", "RequestLog", "route_of"]

log = logging.getLogger("pledge.web.request")
HEADER = "x-request-id"
_GOOD_ID = re.compile(r"[A-Za-z0-9._\-]{1,64}")
#: paths no route answered are counted under one name: scanners must not grow the metrics
UNMATCHED = "(unmatched)"
#: probes and scrapes are logged at debug only: one line a second per probe says nothing
QUIET = frozenset({"/healthz", "/readyz", "/metrics"})


def route_of(scope: Scope) -> str:
    """The template of the route that answered (``/v1/requests/{request_id}``)."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    return path.rstrip("/") + "/{path}" if isinstance(route, Mount) else path  # a mount: static files


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1").strip()
            return text if _GOOD_ID.fullmatch(text) else None
    return None


class RequestLog:
    def __init__(self, app: ASGIApp, metrics: AppMetrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming_id(scope) or os.urandom(16).hex()
        status = 500
        started = time.perf_counter()
        header = (HEADER.encode(), rid.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        with bind(request_id=rid):
            try:
                await self.app(scope, receive, send_with_id)
            except BaseException:
                status = 500
                log.exception("request failed", extra=self._fields(scope, status, started))
                raise
            finally:
                self._done(scope, status, started)

    @staticmethod
    def _fields(scope: Scope, status: int, started: float) -> dict[str, Any]:
        return {"method": scope.get("method", ""), "route": route_of(scope), "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2)}

    def _done(self, scope: Scope, status: int, started: float) -> None:
        seconds = time.perf_counter() - started
        route = route_of(scope)
        method = str(scope.get("method", ""))
        if self.metrics is not None:
            self.metrics.observe_request(method, route, status, seconds)
        level = logging.DEBUG if route in QUIET and status < 500 else logging.INFO
        if log.isEnabledFor(level):
            log.log(level, "%s %s %s", method, route, status,
                    extra={"method": method, "route": route, "status": status,
                           "duration_ms": round(seconds * 1000, 2)})
