"""The admin console at ``/admin``: the request queue, decisions, the data map and metrics.

- **Login** takes an email, a password and a TOTP code (``engine.admins``); a good login
  starts a server-side session (:mod:`pledge.web.sessions`).
- **Roles.** ``owner`` and ``privacy_officer`` may decide (approve, deny, extend, re-run)
  and download; a ``viewer`` may only look. The check is made on the server for every
  action; hiding the buttons is a courtesy.
- **CSRF.** Every POST carries the session's CSRF secret; a missing or wrong one is 403.
- Pages: the queue (sorted by due date, days left, overdue flag), a request page with a
  preview of what the plan would touch, the request's audit trail and the actions, the
  data-map picture, and the request metrics of CCPA §7102 with a CSV export.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Annotated, Any

from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from pledge.admins import AdminError, AdminService, AdminUser
from pledge.engine import Engine
from pledge.reports.metrics import OUTCOMES, metrics_csv, request_metrics
from pledge.rights.delivery import DeliveryError
from pledge.rights.requests import DENIAL_GROUNDS, KINDS, STATES, RequestError, RequestNotFound, RequestView
from pledge.signin_throttle import Refusal
from pledge.web.deps import EngineDep, TranslatorDep
from pledge.web.i18n import Translator
from pledge.web.sessions import (
    COOKIE,
    FORM_COOKIE,
    ConsoleSession,
    csrf_ok,
    end_session,
    form_token,
    form_token_ok,
    load_session,
    new_form_secret,
    start_session,
)
from pledge.web.templates import render

router = APIRouter(prefix="/admin", include_in_schema=False)

ROLE_LABELS = {"owner": "Owner", "privacy_officer": "Privacy officer", "viewer": "Viewer"}
#: request states as the console names them; translated in console.po / center.po
STATE_LABELS = {"received": "New", "verifying": "Waiting for code", "verified": "Verified",
                "awaiting_approval": "Awaiting approval", "executing": "In progress", "completed": "Completed",
                "partially_completed": "Partly completed", "failed": "Failed, can be run again", "denied": "Denied",
                "expired": "Expired"}
#: what the request page says after an action
DONE_LABELS = {"approved": "Approved and carried out.", "denied": "The request was refused.",
               "extended": "The deadline was extended and the requester told why.", "rerun": "The request ran again."}
SOURCE_LABELS = {"person": "The person, through the privacy centre", "officer": "Our own initiative",
                 "api": "A machine client (API)"}
ASSURANCE_LABELS = {"none": "Not yet proven", "reasonable": "Reasonable (email code)",
                    "reasonably_high": "Reasonably high (signed-in account)", "officer": "Recorded by an officer"}


@dataclass(frozen=True)
class Admin:
    id: int
    email: str
    role: str
    session: ConsoleSession

    def can(self, action: str) -> bool:
        return AdminService.allowed(self.role, action)

    @property
    def actor(self) -> str:
        return f"admin:{self.id}"


def load_user(engine: Engine, user_id: int) -> AdminUser | None:
    try:
        return engine.admins.get_user(user_id)
    except AdminError:
        return None


def current_admin(request: Request, engine: EngineDep) -> Admin:
    """The signed-in admin; without a live session, a redirect to the login page."""
    cookie = request.cookies.get(COOKIE)
    session = load_session(engine, cookie)
    user = load_user(engine, session.user_id) if session else None
    if session is None or user is None:
        target = "/admin/login?expired=1" if cookie else "/admin/login"
        raise HTTPException(303, "sign in first", headers={"Location": target})
    return Admin(user.id, user.email, user.role, session)


AdminDep = Annotated[Admin, Depends(current_admin)]


def permitted(admin: Admin, action: str, t: Translator) -> None:
    """Refuse (403) an action the admin's role does not allow; checked on every request."""
    if not admin.can(action):
        raise HTTPException(403, t("Your role lets you look, not act. Ask an owner or a privacy officer."))


async def checked_form(request: Request, admin: Admin, t: Translator) -> Any:
    form = await request.form()
    if not csrf_ok(admin.session, str(form.get("csrf") or "")):
        raise HTTPException(403, t("The form's security token is missing or wrong. Reload the page and try again."))
    return form


def page(request: Request, t: Translator, name: str, admin: Admin | None, status_code: int = 200,
         **ctx: Any) -> HTMLResponse:
    return render(request, name, t, status_code=status_code, admin=admin,
                  csrf=admin.session.csrf if admin else "",
                  state_labels={k: t(v) for k, v in STATE_LABELS.items()},
                  source_labels={k: t(v) for k, v in SOURCE_LABELS.items()},
                  assurance_labels={k: t(v) for k, v in ASSURANCE_LABELS.items()},
                  role_label=t(ROLE_LABELS.get(admin.role, admin.role)) if admin else "", **ctx)


# -- login ----------------------------------------------------------------------------------
#: sign-ins checked at once. Each password check is argon2 (about 0.1 s of CPU and 64 MiB);
#: they run on threads of their own, so a burst of sign-ins never holds the event loop nor
#: the threads that serve pages, and queues instead.
SIGNIN_THREADS = 4
_signin_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CapacityLimiter] = weakref.WeakKeyDictionary()


def _signin_limiter() -> CapacityLimiter:
    loop = asyncio.get_running_loop()
    limiter = _signin_limiters.get(loop)
    if limiter is None:
        limiter = _signin_limiters[loop] = CapacityLimiter(SIGNIN_THREADS)
    return limiter


def https(engine: Engine) -> bool:
    """Cookies are ``Secure`` when the deployment is served over https."""
    return engine.settings.base_url.lower().startswith("https://")


def wait_words(refusal: Refusal, now: datetime, t: Translator) -> str:
    """What a refused sign-in is told: how long to wait, and whether it is a lockout."""
    minutes = refusal.minutes(now)
    hours = math.ceil(minutes / 60)
    if refusal.locked:
        if minutes >= 120:
            return t("Too many failed sign-ins: signing in is locked. Try again in {hours} hours, "
                     "or ask an owner to unlock it.", hours=hours)
        return t("Too many failed sign-ins: signing in is locked. Try again in {minutes} minutes, "
                 "or ask an owner to unlock it.", minutes=minutes)
    if minutes == 1:
        return t("Too many attempts. Try again in 1 minute.")
    if minutes >= 120:
        return t("Too many attempts. Try again in {hours} hours.", hours=hours)
    return t("Too many attempts. Try again in {minutes} minutes.", minutes=minutes)


def _login_page(request: Request, engine: Engine, t: Translator, *, error: str | None = None,
                email: str = "", status_code: int = 200) -> HTMLResponse:
    secret = request.cookies.get(FORM_COOKIE) or new_form_secret()
    response = render(request, "admin/login.html", t, status_code=status_code, admin=None, error=error,
                      email=email, csrf=form_token(engine, secret))
    if request.cookies.get(FORM_COOKIE) != secret:
        response.set_cookie(FORM_COOKIE, secret, httponly=True, samesite="strict", secure=https(engine))
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, engine: EngineDep, t: TranslatorDep) -> HTMLResponse:
    return _login_page(request, engine, t, status_code=401 if request.query_params.get("expired") else 200,
                       error=t("Your session has ended. Please sign in again.")
                       if request.query_params.get("expired") else None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, engine: EngineDep, t: TranslatorDep) -> Response:
    form = await request.form()
    return await to_thread.run_sync(partial(_login, request, engine, t, form), limiter=_signin_limiter())


def _login(request: Request, engine: Engine, t: Translator, form: FormData) -> Response:
    """The sign-in itself, on a thread: throttle (pledge.signin_throttle), password, TOTP, session."""
    if not form_token_ok(engine, request.cookies.get(FORM_COOKIE), str(form.get("csrf") or "")):
        return _login_page(request, engine, t, status_code=403,
                           error=t("The form's security token is missing or wrong. Reload the page and try again."))
    email = str(form.get("email") or "").strip()
    address = request.client.host if request.client else "unknown"
    user = engine.admins.sign_in(email, str(form.get("password") or ""), str(form.get("code") or ""),
                                 address=address)
    if isinstance(user, Refusal):
        now = engine.now()
        refused = _login_page(request, engine, t, email=email, status_code=429, error=wait_words(user, now, t))
        refused.headers["Retry-After"] = str(user.seconds(now))
        return refused
    if user is None:
        return _login_page(request, engine, t, email=email, status_code=401,
                           error=t("The email, password or code is not right."))
    response = RedirectResponse("/admin", status_code=303)
    response.set_cookie(COOKIE, start_session(engine, user.id), httponly=True, samesite="strict",
                        path="/admin", secure=https(engine))
    return response


@router.post("/logout")
async def logout(request: Request, engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> Response:
    await checked_form(request, admin, t)
    await run_in_threadpool(end_session, engine, admin.session.id)
    response = RedirectResponse("/admin/login", status_code=303)
    response.delete_cookie(COOKIE, path="/admin", secure=https(engine), httponly=True, samesite="strict")
    return response


# -- the queue ------------------------------------------------------------------------------
@router.get("", response_class=HTMLResponse)
def queue(request: Request, engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> HTMLResponse:
    state = request.query_params.get("state") or None
    show_closed = request.query_params.get("closed") == "1"
    views = engine.requests.find(state=state if state in STATES else None)
    if not show_closed and state is None:
        views = [v for v in views if not v.final]
    return page(request, t, "admin/queue.html", admin, requests=views, kinds=KINDS, states=STATES,
                state=state, show_closed=show_closed, today=engine.now().date())


# -- one request ----------------------------------------------------------------------------
def _request(engine: Engine, public_id: str, t: Translator) -> RequestView:
    try:
        return engine.requests.get(public_id)
    except RequestNotFound as exc:
        raise HTTPException(404, t("There is no such request.")) from exc


def preview(engine: Engine, view: RequestView) -> dict[str, Any]:
    """What carrying out the request would touch, per table, read-only.

    Erasure kinds: the erasure dry run (deleted / masked / retained rows). Other kinds:
    the rows found for the person (read for access, updated for rectification).
    """
    from pledge.rights.erasure import erase
    from pledge.rights.locate import locate

    identities = engine.requests.identities(view.id)
    if not identities:  # an expired request's identities are destroyed (RequestService.expire_stale)
        return {"mode": "error", "rows": [], "totals": {}, "notes": ["its identities were destroyed when it expired"]}
    try:
        if view.kind in ("erasure", "ccpa_delete"):
            report = erase(engine, identities, plan=True)
            rows = [{"table": table, **counts} for table, counts in sorted(report["tables"].items())]
            return {"mode": "erasure", "rows": rows, "totals": report["totals"], "notes": report["notes"]}
        found = locate(engine, identities, columns="keys")
        rows = [{"table": table, "found": n} for table, n in sorted(found.counts().items())]
        return {"mode": "locate", "rows": rows, "totals": {"found": found.total}, "notes": []}
    except Exception as exc:  # a broken platform database must not hide the request page
        return {"mode": "error", "rows": [], "totals": {}, "notes": [f"{type(exc).__name__}: {exc}"]}


def _trail(engine: Engine, public_id: str) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from pledge.store.tables.core import audit_log

    target = f"request:{public_id}"
    with engine.store.connect() as conn:
        rows = conn.execute(select(audit_log).where(audit_log.c.target == target).order_by(audit_log.c.id))
        return [dict(r._mapping) for r in rows]


@router.get("/requests/{public_id}", response_class=HTMLResponse)
def request_page(public_id: str, request: Request, engine: EngineDep, admin: AdminDep,
                 t: TranslatorDep) -> HTMLResponse:
    view = _request(engine, public_id, t)
    has_export = view.result.get("export") is not None or engine.requests.delivery.latest(public_id) is not None
    return page(request, t, "admin/request.html", admin, req=view, kind_label=t(KINDS.get(view.kind, view.kind)),
                preview=preview(engine, view), trail=_trail(engine, public_id), grounds=DENIAL_GROUNDS,
                has_export=has_export,
                flash=t(DONE_LABELS[done]) if (done := request.query_params.get("done", "")) in DONE_LABELS else None,
                error=request.query_params.get("error"))


def _after(public_id: str, *, done: str | None = None, error: str | None = None) -> RedirectResponse:
    from urllib.parse import urlencode

    query = urlencode({k: v for k, v in (("done", done), ("error", error)) if v})
    return RedirectResponse(f"/admin/requests/{public_id}" + (f"?{query}" if query else ""), status_code=303)


def _act(engine: Engine, admin: Admin, t: Translator, public_id: str, action: str, done: str,
         work: Callable[[], object]) -> Response:
    """An action on one request, on a worker thread (it reads the store and may run a plan).

    ``work`` carries it out; a string it returns is an error to show instead."""
    permitted(admin, action, t)
    _request(engine, public_id, t)
    try:
        result = work()
    except RequestError as exc:
        return _after(public_id, error=str(exc))
    return _after(public_id, error=result) if isinstance(result, str) else _after(public_id, done=done)


@router.post("/requests/{public_id}/approve")
async def approve(public_id: str, request: Request, engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> Response:
    await checked_form(request, admin, t)
    return await run_in_threadpool(_act, engine, admin, t, public_id, "approve", "approved",
                                   lambda: engine.requests.approve(public_id, actor=admin.actor))


@router.post("/requests/{public_id}/deny")
async def deny(public_id: str, request: Request, engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> Response:
    form = await checked_form(request, admin, t)
    ground = str(form.get("ground") or "")
    note = str(form.get("note") or "").strip()

    def work() -> str | None:
        if ground not in DENIAL_GROUNDS:
            return t("Choose the legal ground for the refusal.")
        engine.requests.deny(public_id, ground, note=note, actor=admin.actor)
        return None

    return await run_in_threadpool(_act, engine, admin, t, public_id, "deny", "denied", work)


@router.post("/requests/{public_id}/extend")
async def extend(public_id: str, request: Request, engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> Response:
    form = await checked_form(request, admin, t)
    reason = str(form.get("reason") or "")
    return await run_in_threadpool(_act, engine, admin, t, public_id, "extend", "extended",
                                   lambda: engine.requests.extend(public_id, reason, actor=admin.actor))


@router.post("/requests/{public_id}/rerun")
async def rerun(public_id: str, request: Request, engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> Response:
    await checked_form(request, admin, t)
    return await run_in_threadpool(_act, engine, admin, t, public_id, "run", "rerun",
                                   lambda: engine.requests.run(public_id, actor=admin.actor))


@router.get("/requests/{public_id}/download", response_model=None)
def download(public_id: str, engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> Response:
    permitted(admin, "download", t)
    _request(engine, public_id, t)
    delivery = engine.requests.delivery
    token = delivery.latest(public_id)
    if token is None:
        raise HTTPException(404, t("This request has no package to download."))
    try:
        name, data = delivery.open_signed(public_id, delivery.sign(public_id, token))
    except DeliveryError as exc:
        raise HTTPException(410, str(exc)) from exc
    engine.audit.record("request.downloaded_by_admin", actor=admin.actor, target=f"request:{public_id}",
                        details={"bytes": len(data)})
    safe = "".join(c for c in name if c.isalnum() or c in "._-") or "package.zip"
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{safe}"', "Cache-Control": "no-store"})


# -- the data map and the metrics -------------------------------------------------------------
@router.get("/datamap", response_class=HTMLResponse)
def datamap(request: Request, engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> HTMLResponse:
    from markupsafe import Markup

    from pledge.reports.datamap_svg import datamap_svg

    svg = datamap_svg(engine.policy, engine.dataset, t.lang)
    return page(request, t, "admin/datamap.html", admin, svg=Markup(svg))  # noqa: S704 - our own SVG, escaped inside


@router.get("/datamap.svg")
def datamap_file(engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> Response:
    from pledge.reports.datamap_svg import datamap_svg

    return Response(datamap_svg(engine.policy, engine.dataset, t.lang), media_type="image/svg+xml")


@router.get("/metrics", response_class=HTMLResponse)
def metrics(request: Request, engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> HTMLResponse:
    report = request_metrics(engine.requests.find(limit=1_000_000))
    return page(request, t, "admin/metrics.html", admin, report=report, outcomes=OUTCOMES, kinds=KINDS,
                grounds=DENIAL_GROUNDS)


@router.get("/metrics.csv")
def metrics_export(engine: EngineDep, admin: AdminDep) -> Response:
    report = request_metrics(engine.requests.find(limit=1_000_000))
    return PlainTextResponse(metrics_csv(report), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="request-metrics.csv"'})
