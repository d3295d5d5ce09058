"""Banner choices of visitors Pledge does not know, kept server-side under a receipt id.

``POST /v1/consent/receipt`` with ``{"receipt"?, "choices": {analytics: true, ...},
"notice_version"?, "gpc"?}`` records the choices in the consent ledger under
``rcpt_<random>`` and answers ``{"receipt", "recorded", "gpc", "gpc_honoured"}``; the
banner keeps the receipt in its cookie and sends it back with a later change, so one
visitor's history stays together. Nothing personal is stored: no email, no network
address, no browser string (the ledger's ``proof`` stays empty).

Guards, in order: the request must come from a page of this site, or of one of the
platform's own sites that embed the banner (``banner_origins:`` in pledge.yaml), as its
``Origin`` (or failing that ``Referer``) says: another site's form or script cannot record
in a visitor's name. An embedding site gets the answer through CORS (``Access-Control-Allow-
Origin`` names it; the banner posts ``text/plain``, so no preflight is needed). Then its
body at most 2 KiB (413), and the client address at most 60 choices an hour (429,
:mod:`pledge.ratelimit`, action ``banner``). A Global Privacy Control signal (the body's
``gpc`` or a ``Sec-GPC: 1`` header) refuses sale/sharing and marketing whatever was ticked,
and the answer says that it was honoured.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Collection
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from pledge.consent.ledger import RECEIPT_PREFIX, UnknownPurpose
from pledge.context import Context
from pledge.ratelimit import RateLimited
from pledge.web.api_consent import cookie_choices, gpc_header
from pledge.web.deps import client_address

router = APIRouter()
MAX_BYTES = 2048
RECEIPT_RE = re.compile(r"^rcpt_[A-Za-z0-9_-]{22}$")


class ReceiptIn(BaseModel):
    receipt: str | None = Field(default=None, max_length=40, description="A receipt this visitor was given before.")
    choices: dict[str, bool] = Field(max_length=8, description="Cookie categories: {analytics: false, ...}")
    notice_version: str | None = Field(default=None, max_length=40)
    gpc: bool | None = None


SELF = "self"


def sender(request: Request, embedding: Collection[str] = ()) -> str | None:
    """Which page sent this: ``"self"`` for a page of this site, the origin of one of the
    platform's sites that embed the banner (``embedding``), else None. (Origin, else Referer.)"""
    host = request.headers.get("host", "")
    sent = request.headers.get("origin") or request.headers.get("referer") or ""
    if not sent or sent == "null":
        return None
    parts = urlsplit(sent)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    if parts.netloc == host:
        return SELF
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    return origin if origin in embedding else None


def same_origin(request: Request) -> bool:
    """Did the browser send this from a page of this site? (Origin, else Referer.)"""
    return sender(request) == SELF


def new_receipt() -> str:
    return RECEIPT_PREFIX + secrets.token_urlsafe(16)


@router.post("/v1/consent/receipt", tags=["consent"], openapi_extra={"security": [{}]}, responses={
    403: {"description": "Not sent from a page of this site."}, 413: {"description": "Body over 2 KiB."},
    422: {"description": "Not a banner choice."}, 429: {"description": "Too many choices from this address."}})
async def record_receipt(request: Request) -> JSONResponse:
    """Record an anonymous visitor's cookie-banner choices under a receipt id (no personal data)."""
    engine: Context = request.app.state.engine
    origin = sender(request, engine.config.banner_origins)
    if origin is None:
        raise HTTPException(403, "cookie choices are accepted only from this site's own pages "
                                 "and the sites that embed its banner (banner_origins)")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BYTES:
            raise HTTPException(413, f"the body is larger than {MAX_BYTES} bytes")
    try:
        body = ReceiptIn.model_validate(json.loads(raw or b"{}"))
    except (ValueError, ValidationError, RecursionError) as exc:  # RecursionError: JSON nested too deep
        raise HTTPException(422, f"body is not a banner choice: {str(exc)[:200]}") from None
    answer = await run_in_threadpool(_record, request, engine, body)
    if origin != SELF:  # an embedding site's page reads the receipt through CORS
        answer.headers["Access-Control-Allow-Origin"] = origin
        answer.headers["Vary"] = "Origin"
    return answer


def _record(request: Request, engine: Context, body: ReceiptIn) -> JSONResponse:
    try:
        engine.limits.hit("banner", client=client_address(request))
    except RateLimited as exc:
        return JSONResponse({"detail": str(exc)}, status_code=429, headers={"Retry-After": str(exc.retry_after)})
    gpc = bool(body.gpc or gpc_header(request))
    entries = cookie_choices(engine, body.choices, gpc)
    asked = {k for k, on in body.choices.items() if on}
    honoured = gpc and any(state == "refused" and _wanted(engine, key, asked) for key, state in entries.items())
    receipt = body.receipt if body.receipt and RECEIPT_RE.match(body.receipt) else new_receipt()
    try:
        rows = engine.consent.record_receipt(receipt, entries, notice_version=body.notice_version, gpc=gpc)
    except (UnknownPurpose, ValueError) as exc:
        raise HTTPException(422, str(exc)) from None
    engine.audit.record("consent.receipt", actor="visitor", target=receipt[:16],
                        details={"gpc": gpc, "gpc_honoured": honoured, "choices": entries})
    out: dict[str, Any] = {"receipt": receipt, "recorded": [{"purpose": r["purpose"], "state": r["state"]}
                                                            for r in rows],
                           "gpc": gpc, "gpc_honoured": gpc, "gpc_overrode": honoured}
    return JSONResponse(out, headers={"Cache-Control": "no-store"})


def _wanted(engine: Context, key: str, asked: set[str]) -> bool:
    """Was this ledger entry's category ticked (so GPC overrode a yes)?"""
    from pledge.consent.ledger import COOKIE_PREFIX

    if key.startswith(COOKIE_PREFIX):
        return key[len(COOKIE_PREFIX):] in asked
    return any(key in c.purposes for c in engine.policy.cookies if c.key in asked)
