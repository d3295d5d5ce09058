"""The privacy centre at ``/privacy``: people submit requests, verify, follow and download.

Pages (server-rendered, English and Polish):

- ``GET /privacy``: pick a right the policy offers, give an email (and, to correct
  data, the field and the right value). ``POST /privacy/requests`` records the request,
  emails a one-time code and moves on to the code page.
- ``GET|POST /privacy/requests/{id}/verify``: enter the code (``…/resend`` sends a new one).
- ``GET /privacy/requests/{id}``: the status with its due date, and the download link
  once the package is ready.
- ``GET /privacy/status/{id}?token=…``: the status link of the emails; it remembers the
  token in this browser and shows the status page.
- ``GET|POST /privacy/org-confirm/{id}?token=…``: an organisation's administrator confirms
  a member's request (a GET only shows the button: mail scanners fetch links).

Privacy rules kept here:

- The answer to a submission is the same whether or not the email has an account.
- The status page opens only with that request's status token: set, signed, in a cookie
  when the code is accepted, or given in the status link of the emails (``?t=``). A
  code, cookie or link of one request never opens another.
- Every form carries a signed double-submit CSRF token.

Nothing here blocks the event loop: a POST reads its form on the loop, then does its
work (the store, the rate limits, the code's hash, queueing mail) on a worker thread
(``run_in_threadpool``); every other page is a plain ``def``, which FastAPI runs on one.
Mail is only queued (pledge.outbox): no page waits on SMTP.
"""

from __future__ import annotations

import json
from typing import Any

from babel.dates import format_date
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from pledge.context import Context
from pledge.emails import is_email_address
from pledge.ratelimit import RateLimited
from pledge.rights.delivery import DeliveryError
from pledge.rights.kept import kept_items
from pledge.rights.request_input import objectable_purposes as objectable_for
from pledge.rights.request_input import rectifiable_fields
from pledge.rights.requests import KINDS, RequestError, RequestNotFound, RequestView
from pledge.web.center_form import (
    check_changes,
    clean_note,
    field_inputs,
    new_once,
    purposes_for,
    remember_sent,
    sent_before,
)
from pledge.web.deps import EngineDep, TranslatorDep, client_address
from pledge.web.i18n import LANGUAGES, Translator, translator
from pledge.web.labels import policy_in
from pledge.web.preferences import send_choices_link
from pledge.web.sessions import FORM_COOKIE, form_token, form_token_ok, new_form_secret
from pledge.web.templates import render

router = APIRouter(include_in_schema=False)

STATUS_COOKIE = "pledge_requests"
MAX_REMEMBERED = 10

#: English labels of the request kinds a person may pick; translated in center.po.
KIND_LABELS: dict[str, str] = {
    "access": "Get a copy of my data",
    "portability": "Get my data in a machine-readable format",
    "erasure": "Delete my data",
    "rectification": "Correct my data",
    "restriction": "Limit how my data is used",
    "objection": "Object to how my data is used",
    "withdraw_consent": "Withdraw my consent",
    "ccpa_know": "Know what personal information is collected (California)",
    "ccpa_delete": "Delete my personal information (California)",
    "ccpa_opt_out": "Opt out of the sale or sharing of my personal information (California)",
}

KIND_HINTS: dict[str, str] = {
    "access": "We send you a package with the data we hold about you and how we use it.",
    "portability": "Your data in CSV and JSON files that another service can read.",
    "erasure": "We delete your data, except what the law requires us to keep.",
    "rectification": "Tell us which detail is wrong and what it should be.",
    "restriction": "We keep your data but stop using it while a question is settled.",
    "objection": "We stop processing based on our legitimate interests or for direct marketing.",
    "withdraw_consent": "We stop everything you agreed to, such as marketing emails.",
    "ccpa_know": "The categories and pieces of personal information we hold about you.",
    "ccpa_delete": "We delete your personal information, subject to the exceptions of the law.",
    "ccpa_opt_out": "We stop selling or sharing your personal information.",
}

STATE_LABELS: dict[str, str] = {
    "received": "Received by us",
    "verifying": "Waiting for your code",
    "verified": "Verified, waiting to be carried out",
    "awaiting_approval": "Verified, waiting for review by our privacy team",
    "executing": "In progress",
    "completed": "Completed",
    "partially_completed": "Partly completed",
    "failed": "Delayed by a problem on our side; our team is on it",
    "denied": "Refused",
    "expired": "Expired",
}


def offered_kinds(engine: Context) -> list[str]:
    """The request kinds this policy offers that the request service can handle."""
    offered = {r.kind for r in engine.policy.rights.offered}
    return [k for k in KINDS if k in offered and k in KIND_LABELS]


def correctable_fields(engine: Context) -> list[str]:
    """Fields a person may ask to correct: those the dataset declares ``rectifiable``."""
    return rectifiable_fields(engine)


def objectable_purposes(engine: Context) -> list[tuple[str, str]]:
    """Purposes open to an Art. 21 objection: legitimate interests, public task, marketing."""
    return objectable_for(engine.policy)


# -- the per-browser memory of verified requests ----------------------------------------------
def _status_signer(engine: Context) -> URLSafeSerializer:
    return URLSafeSerializer(engine.keys.signers, salt="privacy-centre-status")


def remembered(engine: Context, request: Request) -> dict[str, str]:
    raw = request.cookies.get(STATUS_COOKIE)
    if not raw:
        return {}
    try:
        data = _status_signer(engine).loads(raw)
    except BadSignature:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def remember(engine: Context, request: Request, response: Response, public_id: str, token: str) -> None:
    known = remembered(engine, request)
    known.pop(public_id, None)
    known[public_id] = token
    keep = dict(list(known.items())[-MAX_REMEMBERED:])
    response.set_cookie(STATUS_COOKIE, _status_signer(engine).dumps(keep), max_age=30 * 86400,
                        httponly=True, samesite="lax", path="/privacy")


def may_see(engine: Context, request: Request, public_id: str) -> str | None:
    """The status token that proves this browser may see the request, or None."""
    for token in (request.query_params.get("t"), remembered(engine, request).get(public_id)):
        if token and engine.requests.check_status_token(public_id, token):
            return token
    return None


# -- CSRF for the centre's forms ---------------------------------------------------------------
def _page(request: Request, engine: Context, t: Translator, name: str, status_code: int = 200,
          **ctx: Any) -> HTMLResponse:
    secret = request.cookies.get(FORM_COOKIE) or new_form_secret()
    response = render(request, name, t, status_code=status_code, csrf=form_token(engine, secret),
                      policy=policy_in(engine, t), **ctx)
    if request.cookies.get(FORM_COOKIE) != secret:
        response.set_cookie(FORM_COOKIE, secret, httponly=True, samesite="strict")
    return response


def _csrf_ok(engine: Context, request: Request, form: Any) -> bool:
    return form_token_ok(engine, request.cookies.get(FORM_COOKIE), form.get("csrf"))


def _forbidden(request: Request, engine: Context, t: Translator) -> HTMLResponse:
    return _page(request, engine, t, "center/message.html", status_code=403,
                 heading=t("This form has expired"),
                 message=t("For your security the form could not be accepted. Please go back and try again."))


def _promise_days(engine: Context) -> int | None:
    promise = engine.policy.rights.promise
    return round(promise.approx_days) if promise else None


def _cards_page(request: Request, engine: Context, t: Translator, *, errors: list[tuple[str, str]] | None = None,
                status_code: int = 200, **extra: Any) -> HTMLResponse:
    kinds = [{"key": k, "label": t(KIND_LABELS[k]), "hint": t(KIND_HINTS[k])} for k in offered_kinds(engine)]
    return _page(request, engine, t, "center/index.html", status_code=422 if errors else status_code,
                 kinds=kinds, errors=errors or [], promise_days=_promise_days(engine), **extra)


def _form_page(request: Request, engine: Context, t: Translator, *, values: dict[str, str] | None = None,
               errors: list[tuple[str, str]] | None = None) -> HTMLResponse:
    values = values or {}
    kind = values.get("kind", "")
    if kind not in offered_kinds(engine):
        return _cards_page(request, engine, t, errors=errors)
    return _page(request, engine, t, "center/new.html", status_code=422 if errors else 200,
                 kind=kind, kind_label=t(KIND_LABELS[kind]), kind_hint=t(KIND_HINTS[kind]),
                 fields=field_inputs(engine, t) if kind == "rectification" else [],
                 purposes=purposes_for(engine, t, kind), values=values, errors=errors or [],
                 once=values.get("once") or new_once(), promise_days=_promise_days(engine))


# -- pages -----------------------------------------------------------------------------------
@router.get("/privacy", response_class=HTMLResponse)
def centre(request: Request, engine: EngineDep, t: TranslatorDep) -> HTMLResponse:
    return _cards_page(request, engine, t)


@router.get("/privacy/new/{kind}", response_class=HTMLResponse)
def new_request(kind: str, request: Request, engine: EngineDep, t: TranslatorDep) -> HTMLResponse:
    """The form for one kind of request: only the fields it needs."""
    if kind not in offered_kinds(engine):
        return _not_found(request, engine, t)
    return _form_page(request, engine, t, values={"kind": kind})


@router.post("/privacy/requests", response_class=HTMLResponse)
async def submit(request: Request, engine: EngineDep, t: TranslatorDep) -> Response:
    form = await request.form()
    return await run_in_threadpool(_submit, request, engine, t, form)


def _submit(request: Request, engine: Context, t: Translator, form: FormData) -> Response:
    """Record the request and queue its code (on a worker thread)."""
    if not _csrf_ok(engine, request, form):
        return _forbidden(request, engine, t)
    values = {k: str(form.get(k) or "").strip()[:400] for k in ("kind", "email", "purpose", "once")}
    values["details"] = clean_note(form)
    kind = values["kind"]
    if kind not in offered_kinds(engine):
        return _cards_page(request, engine, t, errors=[("kind", t("Choose what you would like us to do."))])
    earlier = sent_before(engine, request, values["once"])
    if earlier is not None:  # Back, then Send again: the same request, not a second one
        return RedirectResponse(f"/privacy/requests/{earlier}/verify", status_code=303)
    errors: list[tuple[str, str]] = []
    email = values["email"]
    if not is_email_address(email) or len(email) > 320:
        errors.append(("email", t("Enter your email address, like name@example.com.")))
    params: dict[str, Any] = {}
    if kind == "rectification":
        changes, typed, problems = check_changes(engine, t, form, engine.now().date())
        values.update(typed)
        errors += problems
        params["changes"] = changes
    elif kind in ("objection", "restriction"):
        allowed = dict(purposes_for(engine, t, kind))
        if values["purpose"] and values["purpose"] not in allowed or kind == "objection" and not values["purpose"]:
            errors.append(("purpose", t("Choose the use of your data you object to.") if kind == "objection"
                           else t("Choose a use of your data from the list.")))
        elif values["purpose"]:
            params["purpose"] = values["purpose"]
    elif kind == "withdraw_consent":
        allowed = dict(purposes_for(engine, t, kind))
        picked = [str(p) for p in form.getlist("purposes")][:len(allowed) + 1]
        values["purposes"] = ",".join(picked)
        if any(p not in allowed for p in picked):
            errors.append(("purposes", t("Choose a use of your data from the list.")))
        elif picked:
            params["purposes"] = picked
    if values["details"]:
        params["details"] = values["details"]
    if errors:
        return _form_page(request, engine, t, values=values, errors=errors)
    try:
        with engine.limits.counting("create", email=email, client=client_address(request), refund=RequestError):
            view = engine.requests.create(kind, {"email": email}, params=params, lang=t.lang)
        engine.requests.start_verification(view.id, client=client_address(request))
    except RateLimited as exc:
        return _limited(_form_page(request, engine, t, values=values, errors=[("email", _wait(t, exc))]), exc)
    except RequestError as exc:
        if str(exc).startswith("params.changes"):
            errors.append(("field", t("This value cannot be used for that detail. Check its format, for example "
                                      "a date as 1990-05-17.")))
        elif str(exc).startswith("params.purpose"):
            errors.append(("purpose", t("Choose a use of your data from the list.")))
        else:
            errors.append(("email", t("Enter your email address, like name@example.com.")))
        return _form_page(request, engine, t, values=values, errors=errors)
    response = RedirectResponse(f"/privacy/requests/{view.id}/verify", status_code=303)
    remember_sent(engine, request, response, values["once"], view.id)
    return response


@router.post("/privacy/choices", response_class=HTMLResponse)
async def choices_link(request: Request, engine: EngineDep, t: TranslatorDep) -> Response:
    form = await request.form()
    return await run_in_threadpool(_choices_link, request, engine, t, form)


def _choices_link(request: Request, engine: Context, t: Translator, form: FormData) -> Response:
    """Email a signed link to the person's privacy choices; the same answer whoever asks."""
    if not _csrf_ok(engine, request, form):
        return _forbidden(request, engine, t)
    email = str(form.get("email") or "").strip()[:400]
    if not is_email_address(email) or len(email) > 320:
        return _cards_page(request, engine, t, errors=[("choices-email", t(
            "Enter your email address, like name@example.com."))])
    try:
        with engine.limits.counting("send", email=email, client=client_address(request)):
            send_choices_link(engine, email, t.lang)
    except RateLimited as exc:
        return _limited(_cards_page(request, engine, t, errors=[("choices-email", _wait(t, exc))]), exc)
    return _cards_page(request, engine, t, choices_sent=True)


def _wait(t: Translator, exc: RateLimited) -> str:
    return t("Too many attempts. For your security, please try again in {minutes} min.",
             minutes=max(1, -(-exc.retry_after // 60)))


def _limited(response: HTMLResponse, exc: RateLimited) -> HTMLResponse:
    """A page that says a rate limit refused the form (pledge.ratelimit): 429 with Retry-After."""
    response.status_code = 429
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def in_request_language(request: Request, t: Translator, view: RequestView) -> Translator:
    """The switch or the remembered choice wins; otherwise the language the request was made in
    (a status link from a Polish email opens in Polish)."""
    if request.query_params.get("lang") in LANGUAGES or request.cookies.get("lang") in LANGUAGES:
        return t
    return translator(view.lang)


def _get(engine: Context, public_id: str) -> RequestView | None:
    try:
        return engine.requests.get(public_id)
    except RequestNotFound:
        return None


def _not_found(request: Request, engine: Context, t: Translator) -> HTMLResponse:
    return _page(request, engine, t, "center/message.html", status_code=404,
                 heading=t("Request not found"),
                 message=t("This link does not lead to a request. Check that you copied the whole link."))


def _posted_for_request(request: Request, engine: Context, t: Translator, form: FormData,
                        public_id: str) -> tuple[Any, RequestView] | HTMLResponse:
    """The form of a POST about one request, once its CSRF token holds and the request exists
    (on a worker thread: it reads the store)."""
    if not _csrf_ok(engine, request, form):
        return _forbidden(request, engine, t)
    view = _get(engine, public_id)
    if view is None:
        return _not_found(request, engine, t)
    return form, view


def _verify_page(request: Request, engine: Context, t: Translator, view: RequestView, *,
                 error: str | None = None, resent: bool = False, status_code: int = 200) -> HTMLResponse:
    return _page(request, engine, t, "center/verify.html", status_code=status_code, req=view,
                 kind_label=t(KIND_LABELS.get(view.kind, view.kind)), error=error, resent=resent)


@router.get("/privacy/requests/{public_id}/verify", response_class=HTMLResponse)
def verify_form(public_id: str, request: Request, engine: EngineDep, t: TranslatorDep) -> HTMLResponse:
    view = _get(engine, public_id)
    if view is None:
        return _not_found(request, engine, t)
    return _verify_page(request, engine, t, view, resent=request.query_params.get("resent") == "1")


@router.post("/privacy/requests/{public_id}/verify", response_class=HTMLResponse)
async def verify(public_id: str, request: Request, engine: EngineDep, t: TranslatorDep) -> Response:
    form = await request.form()
    return await run_in_threadpool(_verify, public_id, request, engine, t, form)


def _verify(public_id: str, request: Request, engine: Context, t: Translator, form: FormData) -> Response:
    posted = _posted_for_request(request, engine, t, form, public_id)
    if isinstance(posted, Response):
        return posted
    form, view = posted
    code = "".join(str(form.get("code") or "").split())
    if not code:
        return _verify_page(request, engine, t, view, error=t("Enter the code from the email."), status_code=422)
    try:
        view = engine.requests.verify_code(public_id, code, client=client_address(request))
    except RateLimited as exc:
        return _limited(_verify_page(request, engine, t, view, error=_wait(t, exc)), exc)
    except RequestError:
        return _verify_page(request, engine, t, _get(engine, public_id) or view, status_code=422,
                            error=t("That code is not right, or it has expired. Check the email, or ask for "
                                    "a new code."))
    response = RedirectResponse(f"/privacy/requests/{public_id}", status_code=303)
    remember(engine, request, response, public_id, engine.requests.status_token(public_id))
    return response


@router.post("/privacy/requests/{public_id}/resend", response_class=HTMLResponse)
async def resend(public_id: str, request: Request, engine: EngineDep, t: TranslatorDep) -> Response:
    form = await request.form()
    return await run_in_threadpool(_resend, public_id, request, engine, t, form)


def _resend(public_id: str, request: Request, engine: Context, t: Translator, form: FormData) -> Response:
    posted = _posted_for_request(request, engine, t, form, public_id)
    if isinstance(posted, Response):
        return posted
    form, view = posted
    try:
        engine.requests.resend_code(public_id, client=client_address(request))
    except RateLimited as exc:
        return _limited(_verify_page(request, engine, t, view, error=_wait(t, exc)), exc)
    except RequestError:
        return _verify_page(request, engine, t, view, status_code=422,
                            error=t("We cannot send another code for this request. Please start a new request."))
    return RedirectResponse(f"/privacy/requests/{public_id}/verify?resent=1", status_code=303)


def download_link(engine: Context, public_id: str) -> str | None:
    """The signed link to the newest export of a request, or None when there is none."""
    token = engine.requests.delivery.latest(public_id)
    if token is None:
        return None
    return f"/privacy/requests/{public_id}/download?sig={engine.requests.delivery.sign(public_id, token)}"


@router.get("/privacy/requests/{public_id}/download", response_model=None)
def download(public_id: str, request: Request, engine: EngineDep, t: TranslatorDep) -> Response:
    """The package behind a signed link; the signature names the request and the export."""
    try:
        name, data = engine.requests.delivery.open_signed(public_id, request.query_params.get("sig", ""))
    except DeliveryError as exc:
        messages = {
            "expired": t("This download link has expired. Open the status page to get a new one."),
            "used": t("This download link was already used. Open the status page to get a new one."),
            "purged": t("This package was deleted after its retention period. You can make a new request."),
        }
        return _page(request, engine, t, "center/message.html", status_code=410 if exc.reason in messages else 403,
                     heading=t("The download is not available"),
                     message=messages.get(exc.reason, t("This download link is not valid.")))
    safe = "".join(c for c in name if c.isalnum() or c in "._-") or "package.zip"
    return Response(data, media_type="application/zip" if safe.endswith(".zip") else "application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{safe}"',
                             "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@router.get("/privacy/requests/{public_id}", response_class=HTMLResponse)
def status(public_id: str, request: Request, engine: EngineDep, t: TranslatorDep) -> Response:
    view = _get(engine, public_id)
    token = may_see(engine, request, public_id) if view is not None else None
    if view is None or token is None:
        # the same answer for an unknown request and one this browser may not see
        return _page(request, engine, t, "center/message.html", status_code=403,
                     heading=t("Open the link from your email"),
                     message=t("To see this request, enter your code on this device or open the status "
                               "link from our email."))
    t = in_request_language(request, t, view)
    download = download_link(engine, public_id) if view.state in ("completed", "partially_completed") else None
    certificate = view.result.get("certificate") if isinstance(view.result, dict) else None
    response = _page(request, engine, t, "center/status.html", req=view, download=download,
                     kind_label=t(KIND_LABELS.get(view.kind, view.kind)),
                     state_label=t(STATE_LABELS.get(view.state, view.state)),
                     kept=kept_items(engine.policy, view.result or {}, t.lang),
                     certificate=f"/privacy/requests/{public_id}/certificate" if certificate else None,
                     public_key=(certificate or {}).get("signature", {}).get("public_key"),
                     day=lambda d: format_date(d, "long", locale=t.lang))
    if request.query_params.get("t"):
        remember(engine, request, response, public_id, token)
    return response


@router.get("/privacy/requests/{public_id}/certificate", response_model=None)
def certificate(public_id: str, request: Request, engine: EngineDep, t: TranslatorDep) -> Response:
    """The signed erasure certificate (JSON), for the browser that may see the request."""
    view = _get(engine, public_id)
    if view is None or may_see(engine, request, public_id) is None:
        return _page(request, engine, t, "center/message.html", status_code=403,
                     heading=t("Open the link from your email"),
                     message=t("To see this request, enter your code on this device or open the status "
                               "link from our email."))
    doc = view.result.get("certificate") if isinstance(view.result, dict) else None
    if not doc:
        return _not_found(request, engine, t)
    return Response(json.dumps(doc, indent=2, ensure_ascii=False), media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="erasure-certificate-{public_id}.json"',
                             "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@router.get("/privacy/status/{public_id}", response_model=None)
def status_link(public_id: str, request: Request, engine: EngineDep, t: TranslatorDep) -> Response:
    """The status link from our emails: remembered in this browser, then the status page."""
    token = request.query_params.get("token", "")
    if not token or _get(engine, public_id) is None or not engine.requests.check_status_token(public_id, token):
        return _page(request, engine, t, "center/message.html", status_code=403,
                     heading=t("Open the link from your email"),
                     message=t("To see this request, enter your code on this device or open the status "
                               "link from our email."))
    response = RedirectResponse(f"/privacy/requests/{public_id}", status_code=303)
    remember(engine, request, response, public_id, token)
    return response


@router.get("/privacy/org-confirm/{public_id}", response_class=HTMLResponse)
def org_confirm_form(public_id: str, request: Request, engine: EngineDep, t: TranslatorDep) -> HTMLResponse:
    view = _get(engine, public_id)
    if view is None:
        return _not_found(request, engine, t)
    return _page(request, engine, t, "center/org_confirm.html", req=view, token=request.query_params.get("token", ""),
                 kind_label=t(KIND_LABELS.get(view.kind, view.kind)), done=False)


@router.post("/privacy/org-confirm/{public_id}", response_class=HTMLResponse)
async def org_confirm(public_id: str, request: Request, engine: EngineDep, t: TranslatorDep) -> HTMLResponse:
    form = await request.form()
    return await run_in_threadpool(_org_confirm, public_id, request, engine, t, form)


def _org_confirm(public_id: str, request: Request, engine: Context, t: Translator, form: FormData) -> HTMLResponse:
    posted = _posted_for_request(request, engine, t, form, public_id)
    if isinstance(posted, Response):
        return posted
    form, view = posted
    try:
        view = engine.requests.confirm_org_admin(public_id, str(form.get("token") or ""))
    except RequestError:
        return _page(request, engine, t, "center/message.html", status_code=403,
                     heading=t("This confirmation link does not work"),
                     message=t("It may have expired, been used already, or belong to another request."))
    return _page(request, engine, t, "center/org_confirm.html", req=view, token="",
                 kind_label=t(KIND_LABELS.get(view.kind, view.kind)), done=True)
