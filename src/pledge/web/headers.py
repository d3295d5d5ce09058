"""Browser hardening on every response: a Content-Security-Policy, no framing, no sniffing,
no referrer, HSTS and ``Secure`` cookies when the deployment is served over https.

:class:`SecurityHeaders` is plain ASGI and adds, unless a route set its own:

- ``Content-Security-Policy``: only Pledge's own scripts, styles, images and fonts; no
  plugins; forms post only to Pledge; no page may be framed (``frame-ancestors 'none'``).
  Two exceptions, by path: ``/consent/demo`` imitates a platform's page, with an inline
  ``onclick`` and the inline scripts the banner switches on (``'unsafe-inline'`` for
  scripts and styles there); ``/docs`` runs Swagger UI's inline start-up script (its files are our own, never a CDN's).
  ``/consent.js`` itself runs on *other* sites, under their policies: it only adds a
  ``<style>`` element and calls back to this origin.
- ``X-Frame-Options: DENY`` (browsers without ``frame-ancestors``),
  ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` (links carry
  signed tokens, which must not leak to other sites).
- With an ``https://`` base URL: ``Strict-Transport-Security`` (one year, subdomains),
  and every ``Set-Cookie`` gets ``Secure``. Always: ``HttpOnly`` (no Pledge script reads
  a server cookie) and ``SameSite=Lax`` when the cookie named none.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CSP", "HSTS", "SecurityHeaders", "csp_for", "harden_cookie"]

_BASE = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
_DEMO = {**_BASE, "script-src": "'self' 'unsafe-inline'", "style-src": "'self' 'unsafe-inline'"}
# Swagger UI is served from our own static files (web/docs_page): no CDN, works offline
_DOCS = {**_BASE, "script-src": "'self' 'unsafe-inline'", "style-src": "'self' 'unsafe-inline'",
         "font-src": "'self' data:", "worker-src": "'self' blob:"}


def _text(policy: dict[str, str]) -> str:
    return "; ".join(f"{name} {value}" for name, value in policy.items())


CSP = _text(_BASE)
CSP_DEMO = _text(_DEMO)
CSP_DOCS = _text(_DOCS)
HSTS = "max-age=31536000; includeSubDomains"
_PLAIN = (("x-frame-options", "DENY"), ("x-content-type-options", "nosniff"), ("referrer-policy", "no-referrer"))


def csp_for(path: str, images: str = "") -> str:
    """The page's policy; ``images`` adds an origin to ``img-src`` (a brand's https logo)."""
    if path == "/consent/demo":
        policy = CSP_DEMO
    elif path in ("/docs", "/docs/oauth2-redirect"):
        policy = CSP_DOCS
    else:
        policy = CSP
    return policy.replace("img-src 'self' data:", f"img-src 'self' data: {images}") if images else policy


def harden_cookie(value: str, *, secure: bool) -> str:
    """A ``Set-Cookie`` value with ``HttpOnly``, a ``SameSite`` and, over https, ``Secure``."""
    names = {part.split("=", 1)[0].strip().lower() for part in value.split(";")[1:]}
    extra = []
    if secure and "secure" not in names:
        extra.append("Secure")
    if "httponly" not in names:
        extra.append("HttpOnly")
    if "samesite" not in names:
        extra.append("SameSite=Lax")
    return "; ".join([value.rstrip("; "), *extra]) if extra else value


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, https: bool, images: str = "") -> None:
        self.app = app
        self.https = https
        self.images = images  # an https origin pages may load images from (pledge.branding's logo)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))

        async def hardened(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("content-security-policy", csp_for(path, self.images))
                for name, value in _PLAIN:
                    headers.setdefault(name, value)
                if self.https:
                    headers.setdefault("strict-transport-security", HSTS)
                cookies = headers.getlist("set-cookie")
                if cookies:
                    del headers["set-cookie"]
                    for cookie in cookies:
                        headers.append("set-cookie", harden_cookie(cookie, secure=self.https))
            await send(message)

        await self.app(scope, receive, hardened)
