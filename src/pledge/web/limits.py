"""A limit on the size of every request body, before any route reads it.

:class:`BodyLimit` is plain ASGI, outside everything else in the app. A request that
announces a ``Content-Length`` over the limit is answered ``413`` at once, unread. A body
that comes without a length (chunked) or lies about it is counted as it arrives; reading
stops at the first byte over the limit and the answer is ``413`` too. Either way the
connection is closed after the answer, so the rest of the upload is never waited for.

``/v1/…`` gets ``{"detail": …}`` like every API error; anything else a short text (or,
when the app was already reading, its usual error page).
The limit is ``settings.max_body_bytes`` (``PLEDGE_MAX_BODY_BYTES``, 1 MiB by default).
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DEFAULT_MAX_BODY_BYTES", "BodyLimit"]

DEFAULT_MAX_BODY_BYTES = 1024 * 1024


class _TooLarge(HTTPException):
    """The body went over the limit while the app was reading it.

    An ``HTTPException``, so that whatever reads the body (FastAPI's parsing turns other
    errors into 400) lets it through to the app's error handlers, which answer 413 in the
    app's usual way; should it reach this middleware instead, the middleware answers."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes", headers={"Connection": "close"})


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None and length > self.max_bytes:
            await self._refuse(scope, send)
            return
        seen = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except _TooLarge:
            if not started:
                await self._refuse(scope, send)
        except BaseExceptionGroup as group:  # the body may be read inside a task group
            rest = group.subgroup(lambda e: not isinstance(e, _TooLarge | BaseExceptionGroup))
            if rest is not None:
                raise
            if not started:
                await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        limit = self.max_bytes
        if str(scope.get("path", "")).startswith("/v1/"):
            body = json.dumps({"detail": f"the request body is larger than {limit} bytes"}).encode()
            media = b"application/json"
        else:
            body = f"Request body too large (the limit is {limit} bytes).\n".encode()
            media = b"text/plain; charset=utf-8"
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", media), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
