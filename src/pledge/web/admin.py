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
from datetime import datetime
from functools import partial

from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from pledge.context import Context
from pledge.reports.metrics import OUTCOMES, metrics_csv, request_metrics
from pledge.rights.requests import DENIAL_GROUNDS, KINDS
from pledge.signin_throttle import Refusal
from pledge.web import admin_queue, admin_request
from pledge.web.admin_core import (  # re-exported: the console's shared parts
    ASSURANCE_LABELS,
    REGIME_LABELS,
    ROLE_LABELS,
    SOURCE_LABELS,
    STATE_LABELS,
    Admin,
    AdminDep,
    checked_form,
    current_admin,
    load_user,
    page,
    permitted,
)
from pledge.web.admin_request import DONE_LABELS
from pledge.web.deps import EngineDep, TranslatorDep
from pledge.web.i18n import Translator
from pledge.web.labels import policy_in
from pledge.web.sessions import (
    COOKIE,
    FORM_COOKIE,
    end_session,
    form_token,
    form_token_ok,
    new_form_secret,
    start_session,
)
from pledge.web.templates import render

__all__ = ["ASSURANCE_LABELS", "DONE_LABELS", "REGIME_LABELS", "ROLE_LABELS", "SOURCE_LABELS", "STATE_LABELS",
           "Admin", "AdminDep", "checked_form", "current_admin", "load_user", "page", "permitted", "router"]

router = APIRouter(prefix="/admin", include_in_schema=False)


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


def https(engine: Context) -> bool:
    """Cookies are ``Secure`` when the deployment is served over https."""
    return engine.settings.base_url.lower().startswith("https://")


def wait_words(refusal: Refusal, now: datetime, t: Translator) -> str:
    """What a refused sign-in is told: how long to wait, and whether it is a lockout.

    A lockout names the moment it ends and who can lift it sooner; a short wait only how
    long. Neither invites a sign-in before then (the page shows no form while locked)."""
    minutes = refusal.minutes(now)
    hours = math.ceil(minutes / 60)
    if refusal.locked:
        until = refusal.until.strftime("%Y-%m-%d %H:%M")
        if minutes >= 120:
            return t("Too many failed sign-ins: signing in is locked until {until} UTC (about {hours} hours). "
                     "An owner can unlock it sooner.", until=until, hours=hours)
        return t("Too many failed sign-ins: signing in is locked until {until} UTC (about {minutes} minutes). "
                 "An owner can unlock it sooner.", until=until, minutes=minutes)
    if minutes == 1:
        return t("Too many attempts. Try again in 1 minute.")
    if minutes >= 120:
        return t("Too many attempts. Try again in {hours} hours.", hours=hours)
    return t("Too many attempts. Try again in {minutes} minutes.", minutes=minutes)


def _login_page(request: Request, engine: Context, t: Translator, *, error: str | None = None,
                email: str = "", status_code: int = 200, wait: str | None = None,
                locked: bool = False) -> HTMLResponse:
    secret = request.cookies.get(FORM_COOKIE) or new_form_secret()
    response = render(request, "admin/login.html", t, status_code=status_code, admin=None, error=error,
                      email=email, csrf=form_token(engine, secret), wait=wait, locked=locked)
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


def _login(request: Request, engine: Context, t: Translator, form: FormData) -> Response:
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
        refused = _login_page(request, engine, t, email=email, status_code=429, wait=wait_words(user, now, t),
                              locked=user.locked)
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


# -- the data map and the metrics -------------------------------------------------------------
@router.get("/datamap", response_class=HTMLResponse)
def datamap(request: Request, engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> HTMLResponse:
    from markupsafe import Markup

    from pledge.reports.datamap_svg import datamap_svg

    svg = datamap_svg(policy_in(engine, t), engine.dataset, t.lang)  # named in the page's language
    return page(request, t, "admin/datamap.html", admin, svg=Markup(svg))  # noqa: S704 - our own SVG, escaped inside


@router.get("/datamap.svg")
def datamap_file(engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> Response:
    from pledge.reports.datamap_svg import datamap_svg

    return Response(datamap_svg(policy_in(engine, t), engine.dataset, t.lang), media_type="image/svg+xml")


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


# the queue (pledge.web.admin_queue) and one request (pledge.web.admin_request)
router.add_api_route("", admin_queue.queue, methods=["GET"], response_class=HTMLResponse)
router.include_router(admin_request.router)
