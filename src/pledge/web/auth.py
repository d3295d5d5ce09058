"""API keys on the JSON API: ``Authorization: Bearer plk_…`` with a scope per route.

Keys are made with ``pledge admin create-api-key --scope …`` (or
``engine.admins.create_api_key``) and checked by ``engine.admins.check_api_key``, which
remembers valid keys in-process for a short time, so a check costs a hash and a dict
lookup. The answers follow RFC 6750:

- no key, or a key that is unknown, malformed or revoked → ``401`` with
  ``WWW-Authenticate: Bearer`` (``error="invalid_token"`` when a key was sent);
- a valid key without the route's scope → ``403`` (``error="insufficient_scope"``).

Routes use :data:`BearerDep` with :func:`api_key`, or ``Depends(requires(scope))``,
which runs before the body is validated. A raw Starlette route (the decisions fast
path) uses :func:`key_for` with the header's value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pledge.admins import ApiKey
from pledge.context import Context

__all__ = ["AUTH_RESPONSES", "BearerDep", "api_key", "bearer", "bearer_token", "key_for", "requires"]

SCHEME = "ApiKey"
bearer = HTTPBearer(
    auto_error=False, scheme_name=SCHEME,
    description="A scoped API key from `pledge admin create-api-key --scope …`, sent as "
                "`Authorization: Bearer plk_…`. Scopes: requests:read, requests:write, requests:approve, "
                "exports:read, decisions:read, consent:write, activity:write, metrics:read. No key or a revoked key: 401; "
                "a key without the route's scope: 403.")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]

#: OpenAPI ``responses`` for a route that needs a key.
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or the key is not valid (unknown, malformed or revoked)."},
    403: {"description": "The API key lacks the scope this route needs."},
}


def bearer_token(authorization: str | None) -> str | None:
    """The credentials of an ``Authorization: Bearer …`` header value, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def key_for(engine: Context, token: str | None, scope: str) -> ApiKey:
    """The key's record when ``token`` is a valid key holding ``scope``; else HTTPException."""
    if token is None:
        raise HTTPException(401, "an API key is needed (Authorization: Bearer plk_…)",
                            headers={"WWW-Authenticate": "Bearer"})
    key = engine.admins.check_api_key(token)
    if key is None:
        raise HTTPException(401, "this API key is not valid (unknown, malformed or revoked)",
                            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    if not key.allows(scope):
        raise HTTPException(403, f"this API key lacks the {scope} scope",
                            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'})
    return key


def api_key(engine: Context, creds: HTTPAuthorizationCredentials | None, scope: str) -> ApiKey:
    """:func:`key_for` with the credentials FastAPI's :data:`bearer` found."""
    return key_for(engine, creds.credentials if creds is not None else None, scope)


def requires(scope: str) -> Callable[[Request, HTTPAuthorizationCredentials | None], ApiKey]:
    """A dependency that admits only a key holding ``scope``: ``Depends(requires("x:y"))``."""

    def check(request: Request, creds: BearerDep) -> ApiKey:
        return api_key(request.app.state.engine, creds, scope)

    check.__name__ = f"requires_{scope.replace(':', '_')}"
    return check
