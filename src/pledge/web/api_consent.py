"""Consent over HTTP: purpose decisions, recording choices, the cookie banner's script.

- ``GET /v1/decisions?subject=EMAIL&purpose=KEY`` → ``{"allowed", "reason", "code"}``
- ``POST /v1/decisions/batch`` → one decision per item, in order
- ``POST /v1/consent`` records a choice (a purpose, or the banner's cookie categories)
- ``GET /v1/consent/config`` and ``GET /consent.js`` serve the banner with the policy's
  cookie categories and notice version; ``GET /consent/demo`` embeds it.

A ``Sec-GPC: 1`` request header counts as the person's Global Privacy Control signal.

Server-to-server calls need a scoped API key (``Authorization: Bearer plk_…``, see
:mod:`pledge.web.auth`): decisions single and batch ``decisions:read``; recording a
choice for a person named by ``subject`` (an email) ``consent:write``. The browser needs
no key: the banner posts with the person's signed token (``data-subject-token``), and
for an unknown visitor it keeps the choice in a cookie only and posts nothing; a raw
``subject`` without a key is refused with 401. ``GET /v1/decisions`` is the hot path: one
documented route that reads its query itself (no dependency injection, no validation
models), checks the key before anything else, so a cached answer never reaches a caller
without the scope, and decides on a worker thread (a cached decision still reads the
person's version counter: :mod:`pledge.consent.versions`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field

from pledge.consent.decisions import Decision
from pledge.consent.ledger import COOKIE_PREFIX, STATES, UnknownPurpose
from pledge.consent.unsubscribe import LinkError, read_preferences
from pledge.context import Context
from pledge.emails import is_email_address
from pledge.policy.localize import localized
from pledge.policy.model import CookieCategory, Policy
from pledge.web.auth import AUTH_RESPONSES, BearerDep, api_key, bearer_token, key_for, requires
from pledge.web.deps import EngineDep, TranslatorDep
from pledge.web.i18n import LANGUAGES, translator
from pledge.web.templates import render

router = APIRouter()
STATIC = Path(__file__).parent / "static"
CONFIG_MARK = "/*__PLEDGE_CONFIG__*/null"
DEFAULT_CATEGORIES = ("essential", "functional", "analytics", "marketing")
MAX_BATCH = 1000
READ, WRITE = "decisions:read", "consent:write"


def gpc_header(request: Request) -> bool | None:
    return True if request.headers.get("sec-gpc", "").strip() == "1" else None


def _bad(status: int, message: str) -> HTTPException:
    return HTTPException(status_code=status, detail=message)


def _email(value: str) -> str:
    value = value.strip()
    if not is_email_address(value):
        raise _bad(422, f"subject {value!r} is not an email address")
    return value


# -- decisions ---------------------------------------------------------------------------
def _query(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": True, "description": description, "schema": {"type": "string"}}


DECISION_OPENAPI: dict[str, Any] = {
    "parameters": [_query("subject", "The person's email address."),
                   _query("purpose", "A purpose key from the policy."),
                   {"name": "Sec-GPC", "in": "header", "required": False, "schema": {"type": "string"},
                    "description": "1: the person's Global Privacy Control signal (no sale or sharing)."}],
    "security": [{"ApiKey": []}],
}
DECISION_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The decision and its reason.", "content": {"application/json": {"schema": {
        "type": "object", "required": ["allowed", "reason", "code"], "properties": {
            "allowed": {"type": "boolean"}, "reason": {"type": "string"}, "code": {"type": "string"}}}}}},
    **AUTH_RESPONSES,
    404: {"description": "The purpose is not in the policy."},
    422: {"description": "subject or purpose is missing, or subject is not an email address."},
}


def _decision(engine: Context, token: str | None, remembered: bool, email: str, purpose: str,
              gpc: bool | None) -> Decision:
    """The key check (unless it was just done from memory) and the decision, on one worker thread."""
    if not remembered:
        key_for(engine, token, READ)
    return engine.may(email, purpose, gpc)


@router.get("/v1/decisions", tags=["consent"], responses=DECISION_RESPONSES, openapi_extra=DECISION_OPENAPI,
            response_class=JSONResponse)
async def decision(request: Request) -> Response:
    """May this purpose be carried out for this person now? With the reason.

    Needs an API key with the ``decisions:read`` scope. The key is checked first (from
    memory while it was seen in the last 30 s); the decision comes from the cache while
    the person's version counter in the store has not moved, so a change made through any
    server process counts at once."""
    engine: Context = request.app.state.engine
    token = bearer_token(request.headers.get("authorization"))
    remembered = token is not None and engine.admins.remembered_api_key(token) is not None
    try:
        if remembered or token is None:
            key_for(engine, token, READ)  # from memory: a hash and a dict lookup (or a plain 401)
        q = request.query_params
        subject, purpose = q.get("subject", ""), q.get("purpose", "")
        if not purpose or not is_email_address(subject.strip()):
            if not remembered:  # the key before anything else, even a bad query
                await run_in_threadpool(key_for, engine, token, READ)
            raise _bad(422, "give subject (an email) and purpose (a purpose key)" if not subject or not purpose
                       else f"subject {subject.strip()!r} is not an email address")
        found = await run_in_threadpool(_decision, engine, token, remembered, subject.strip(), purpose,
                                        gpc_header(request))
    except HTTPException as exc:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    return Response(json.dumps(found.as_dict()), media_type="application/json")


class DecisionItem(BaseModel):
    subject: str
    purpose: str


class BatchIn(BaseModel):
    items: list[DecisionItem] = Field(max_length=MAX_BATCH)
    gpc: bool | None = None


@router.post("/v1/decisions/batch", tags=["consent"], responses=AUTH_RESPONSES,
             dependencies=[Depends(requires(READ))])
def decisions_batch(body: BatchIn, request: Request, engine: EngineDep) -> dict[str, Any]:
    """Up to 1,000 decisions at once, in the order asked. Needs the ``decisions:read`` scope."""
    gpc = body.gpc or gpc_header(request)
    asked = [(_email(item.subject), item.purpose) for item in body.items]
    decided = engine.decisions.many(asked, gpc)  # an unknown purpose: 404 (pledge.web.errors)
    return {"results": [{"subject": item.subject, "purpose": item.purpose, **d.as_dict()}
                        for item, d in zip(body.items, decided, strict=True)]}


# -- recording choices -----------------------------------------------------------------
class ConsentIn(BaseModel):
    subject: str | None = Field(default=None, description=(
        "The person's email (server-to-server: needs an API key with the consent:write scope)."))
    token: str | None = Field(default=None, description=(
        "A signed preference-centre token instead (the banner's data-subject-token; no key needed)."))
    purpose: str | None = None
    state: str | None = Field(default=None, description="given, withdrawn or refused")
    choices: dict[str, bool] | None = Field(
        default=None, description="Cookie categories from the banner: {analytics: true, ...}")
    notice_version: str | None = None
    method: str = "api"
    channel: str = "api"
    gpc: bool | None = None


def gpc_blocks(cat: CookieCategory) -> bool:
    """Global Privacy Control turns a category off by default: sale or sharing, and marketing."""
    return cat.sells_or_shares or cat.key == "marketing"


def cookie_choices(engine: Context, choices: dict[str, bool], gpc: bool) -> dict[str, str]:
    """Banner categories to ledger entries: the category itself and each of its purposes.
    Essential is never recorded (it needs no consent); GPC refuses sale, sharing and marketing."""
    out: dict[str, str] = {}
    cats: dict[str, CookieCategory] = {c.key: c for c in engine.policy.cookies}
    for key, on in choices.items():
        if key == "essential":
            continue
        cat = cats.get(key)
        if cat is None:
            raise _bad(422, f"no cookie category {key!r}; known: {', '.join(cats) or 'none'}")
        on = on and not (gpc and gpc_blocks(cat))
        state = "given" if on else "refused"
        out[COOKIE_PREFIX + key] = state
        for purpose in cat.purposes:
            p = engine.policy.purpose(purpose)
            if gpc and (p.sells_or_shares or p.data_use.startswith("marketing")):
                out[purpose] = "refused"
            elif p.consent_required or p.legal_basis == "consent":
                out[purpose] = state
    return out


_CONSENT_BODY = {"required": True, "content": {
    media: {"schema": ConsentIn.model_json_schema()} for media in ("application/json", "text/plain")}}


@router.post("/v1/consent", tags=["consent"], responses=AUTH_RESPONSES,
             openapi_extra={"requestBody": _CONSENT_BODY, "security": [{}]})
async def record_consent(request: Request, engine: EngineDep, creds: BearerDep) -> JSONResponse:
    """Record a choice for the person a signed ``token`` names (the banner, no key needed),
    or, server-to-server, for a ``subject`` email with an API key holding ``consent:write``.

    The banner posts ``text/plain`` JSON so that no preflight is needed."""
    try:
        body = ConsentIn.model_validate(json.loads(await request.body() or b"{}"))
    except ValueError as exc:
        raise _bad(422, f"body is not a valid consent choice: {exc}") from None
    return await run_in_threadpool(_record_consent, request, engine, creds, body)


def _record_consent(request: Request, engine: Context, creds: HTTPAuthorizationCredentials | None,
                    body: ConsentIn) -> JSONResponse:
    """The key check and the ledger write, on a worker thread (both read the store)."""
    actor = "subject"
    if body.token:
        try:
            email = read_preferences(engine, body.token)
        except LinkError as exc:
            raise _bad(403, str(exc)) from None
    elif body.subject:
        actor = f"api_key:{api_key(engine, creds, WRITE).prefix}"
        email = _email(body.subject)
    else:
        raise _bad(422, "give subject (an email) or token")
    gpc = bool(body.gpc or gpc_header(request))
    if body.choices is not None:
        entries = cookie_choices(engine, body.choices, gpc)
    elif body.purpose and body.state:
        if body.state not in STATES:
            raise _bad(422, f"state {body.state!r} is not one of {', '.join(STATES)}")
        entries = {body.purpose: body.state}
    else:
        raise _bad(422, "give purpose and state, or choices")
    client = request.client.host if request.client else None
    try:
        rows = engine.consent.record_many(
            email, entries, notice_version=body.notice_version, method=body.method, channel=body.channel,
            gpc=gpc, ip=client, user_agent=request.headers.get("user-agent"), actor=actor)
    except UnknownPurpose as exc:
        raise _bad(404, str(exc)) from None
    except ValueError as exc:
        raise _bad(422, str(exc)) from None
    return JSONResponse({"recorded": [{"purpose": r["purpose"], "state": r["state"]} for r in rows]},
                        headers={"Access-Control-Allow-Origin": "*"})


# -- the banner ------------------------------------------------------------------------
BANNER_TEXTS = {
    "title": "Cookies on this site",
    "body": "We use essential cookies to make this site work. With your permission we would also "
            "like to use the cookies below. You can change your mind at any time.",
    "accept_all": "Accept all",
    "reject_all": "Reject all",
    "save": "Save my choices",
    "always_on": "Always on",
    "gpc_note": "Off: your browser asks sites not to sell or share your data (Global Privacy Control).",
    "categories": "Cookie categories",
    "essential": "Essential",
    "functional": "Functional",
    "analytics": "Analytics",
    "marketing": "Marketing",
    "essential_desc": "Needed for signing in and security. They cannot be switched off.",
    "functional_desc": "Remember your settings, such as language.",
    "analytics_desc": "Help us understand how the site is used.",
    "marketing_desc": "Measure and personalise advertising.",
    "gpc_honoured": "Your browser sent a Global Privacy Control signal. We honoured it: selling or sharing "
                    "your data and marketing stay off.",
    "notice_link": "Read our privacy notice",
    "cookies_list": "Cookies in this category",
    "cookie_provider": "Provider",
    "cookie_duration": "Duration",
    "not_stated": "not stated",
    "receipt": "Your choice was recorded. Receipt:",
}


def _category(c: CookieCategory | None, key: str, policy: Policy) -> dict[str, Any]:
    """One banner category: flags, and per language its name, description and cookies."""
    words: dict[str, Any] = {}
    for lang in LANGUAGES:
        here = localized(policy, lang)
        cat = next((x for x in here.cookies if x.key == key), None)
        own = cat is not None and c is not None and (lang == policy.language or lang in c.translations)
        words[lang] = {"name": cat.name if cat and own else None,  # else the banner's own word for the key
                       "description": cat.description if cat and own else None,
                       "cookies": [k.words(lang) for k in cat.cookies] if cat else []}
    return {"key": key, "locked": key == "essential",
            "sells_or_shares": bool(c.sells_or_shares) if c else key == "marketing",
            "gpc_off": gpc_blocks(c) if c else key == "marketing",
            "cookies": [k.name for k in c.cookies] if c else [], "words": words}


def banner_config(engine: Context, gpc: bool | None) -> dict[str, Any]:
    policy = engine.policy
    keys: list[str] = [c.key for c in policy.cookies] or list(DEFAULT_CATEGORIES)
    if "essential" not in keys:
        keys.insert(0, "essential")
    by_key: dict[str, CookieCategory] = {c.key: c for c in policy.cookies}
    categories = [_category(by_key.get(k), k, policy) for k in keys]
    texts = {lang: {k: translator(lang)(v) for k, v in BANNER_TEXTS.items()} for lang in LANGUAGES}
    return {"version": policy.version, "language": policy.language, "gpc": bool(gpc),
            "categories": categories, "texts": texts, "endpoint": "/v1/consent",
            "receipt_endpoint": "/v1/consent/receipt", "notice": "/notice"}


@router.get("/v1/consent/config", tags=["consent"])
def consent_config(request: Request, engine: EngineDep) -> dict[str, Any]:
    """The banner's categories, notice version and texts (English and Polish)."""
    return banner_config(engine, gpc_header(request))


@router.get("/consent.js", include_in_schema=False)
def consent_js(request: Request, engine: EngineDep) -> Response:
    source = (STATIC / "consent.js").read_text(encoding="utf-8")
    config = json.dumps(banner_config(engine, gpc_header(request)), ensure_ascii=False).replace("</", "<\\/")
    return Response(source.replace(CONFIG_MARK, config, 1), media_type="text/javascript; charset=utf-8",
                    headers={"Cache-Control": "no-store", "Vary": "Sec-GPC"})


@router.get("/consent/demo", response_class=HTMLResponse, include_in_schema=False)
def consent_demo(request: Request, t: TranslatorDep,
                 token: str | None = Query(None, description="A preference token: the known person.")
                 ) -> HTMLResponse:
    return render(request, "consent_demo.html", t, token=token)
