"""Error pages for people: a translated HTML page for browsers, JSON for API clients.

A browser (its ``Accept`` header names ``text/html``) that meets a 4xx/5xx raised as an
``HTTPException`` — a viewer pressing "Approve" in the console, a stale CSRF token, an
unknown page — gets a page in the site layout, in its language, with the reason and a way
back. Everything else (``/v1/…``, ``curl``, the test client's ``*/*``) keeps FastAPI's
JSON ``{"detail": …}``. Redirects raised as exceptions (the console's sign-in redirect)
pass through untouched.

This is also the one place where Pledge's own errors (:mod:`pledge.errors`) become HTTP:
a :class:`PledgeError` a route did not handle itself is answered with the status of its
kind (:data:`HTTP_STATUS`), as a page or as JSON by the same rule; a 5xx says nothing of
the error but is logged. A rate limit adds ``Retry-After``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from pledge.errors import (
    Conflict,
    Failed,
    Forbidden,
    InvalidInput,
    NotConfigured,
    NotFound,
    PledgeError,
    Throttled,
    Unavailable,
    kind_of,
)
from pledge.ratelimit import RateLimited
from pledge.web.deps import request_translator
from pledge.web.templates import render

#: heading and explanation for each status, as English msgids (site.po has the Polish)
TITLES = {
    400: ("This request cannot be used", "Something in the address or the form is not right."),
    401: ("Please sign in", "This page needs you to sign in first."),
    403: ("Not allowed", "You do not have permission to do this."),
    404: ("Page not found", "There is nothing at this address. It may have moved, or the link is incomplete."),
    405: ("This request cannot be used", "Something in the address or the form is not right."),
    410: ("No longer available", "This has expired or was removed."),
    409: ("This cannot be done now", "It is not possible in the state this is in. Reload the page to see it."),
    413: ("Too much data", "What was sent is larger than this page accepts."),
    422: ("This request cannot be used", "Something in the address or the form is not right."),
    429: ("Too many attempts", "Please wait a moment and try again."),
}
FALLBACK = ("Something went wrong", "We could not complete this. Please try again later.")
#: Starlette's default details, which say nothing the heading does not
GENERIC = {"Not Found", "Forbidden", "Bad Request", "Unauthorized", "Method Not Allowed", "Gone",
           "Internal Server Error", "Service Unavailable", "Too Many Requests", "Request Entity Too Large", "Content Too Large"}
API_PREFIXES = ("/v1/", "/openapi.json", "/docs", "/redoc", "/static/", "/consent.js", "/healthz")


def wants_html(request: Request) -> bool:
    if request.url.path.startswith(API_PREFIXES):
        return False
    return "text/html" in request.headers.get("accept", "")


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code < 400 or not wants_html(request):
        return await http_exception_handler(request, exc)
    t = request_translator(request)
    title, explanation = TITLES.get(exc.status_code, FALLBACK)
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail not in GENERIC else None
    in_console = request.url.path.startswith("/admin")
    response = render(request, "error.html", t, status_code=exc.status_code, title=t(title),
                      explanation=t(explanation), detail=detail, in_console=in_console,
                      status=exc.status_code)
    for name, value in (exc.headers or {}).items():
        response.headers.setdefault(name, value)
    return response


#: The HTTP status for each kind of :class:`pledge.errors.PledgeError`.
HTTP_STATUS: dict[type[PledgeError], int] = {
    InvalidInput: 422, NotFound: 404, Conflict: 409, Forbidden: 403, Throttled: 429,
    NotConfigured: 503, Unavailable: 503, Failed: 500, PledgeError: 500,
}
log = logging.getLogger("pledge.web")


def status_for(exc: PledgeError) -> int:
    kind = kind_of(exc)
    return HTTP_STATUS[kind] if kind is not None else 500


async def pledge_error(request: Request, exc: Exception) -> Response:
    """A :class:`PledgeError` no route handled: its kind's status, the message for 4xx (it says
    what would be valid), a plain page or ``{"detail"}`` for 5xx (logged with its traceback)."""
    assert isinstance(exc, PledgeError)
    status = status_for(exc)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    if status >= 500:
        log.error("%s %s: %s", request.method, request.url.path, type(exc).__name__, exc_info=exc)
        detail = "Service Unavailable" if status == 503 else "Internal Server Error"
    else:
        detail = str(exc)
    return await http_error(request, StarletteHTTPException(status, detail, headers=headers))


def install(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(PledgeError, pledge_error)  # RateLimited too: 429 with Retry-After
