"""One request in the admin console: everything needed to decide it, the decisions, and the
record of what was done.

``GET /admin/requests/{id}`` shows the requester and the evidence of their identity, what
they asked (a rectification as a diff), their note, the plan with sample rows
(:mod:`pledge.web.admin_facts`), what the run stored after it ran, the actions and the
audit trail. Actions are POSTs with the session's CSRF token and the form's version
(``seen``): a second submission of the same form does nothing and shows what happened.

- **Approve.** A request that changes data (erasure, deletion, rectification) is approved
  only from ``GET …/approve``, a confirmation page with the plan's counts: its POST needs
  the ticked ``confirm`` box and the fingerprint of the plan that was shown; if the plan
  changed meanwhile, it is shown again.
- **Refuse** offers only the grounds that fit the request's kind (:data:`GROUNDS_BY_KIND`),
  and the server refuses any other.
- **Re-run** says what the new run changed, from the runs' stored summaries.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from pledge.context import Context
from pledge.rights.delivery import DeliveryError
from pledge.rights.requests import DENIAL_GROUNDS, KINDS, RequestError, RequestNotFound, RequestView
from pledge.web import admin_facts as facts
from pledge.web.admin_core import (
    Admin,
    AdminDep,
    checked_form,
    page,
    permitted,
    seen_of,
    show_value,
    version_of,
)
from pledge.web.deps import EngineDep, TranslatorDep
from pledge.web.i18n import Translator

router = APIRouter()

#: what the request page says after an action
DONE_LABELS = {"approved": "Approved and carried out.", "denied": "The request was refused.",
               "extended": "The deadline was extended and the requester told why.", "rerun": "The request ran again.",
               "stale": "This form was already sent, or the request changed after the page was drawn. "
                        "Nothing more was done: this is where the request stands now."}
#: kinds whose approval changes or removes the person's data: they need the confirmation page
DESTRUCTIVE = frozenset({"erasure", "ccpa_delete", "rectification"})
_GDPR = ("manifestly_unfounded", "identity_not_verified")
_CCPA = ("ccpa_unverifiable", "ccpa_excessive")
#: the refusal grounds that fit each kind of request
GROUNDS_BY_KIND: dict[str, tuple[str, ...]] = {
    "access": (*_GDPR, "rights_of_others"),
    "portability": (*_GDPR, "rights_of_others"),
    "erasure": (*_GDPR, "legal_obligation", "legal_claims", "freedom_of_expression", "public_interest"),
    "rectification": _GDPR,
    "restriction": _GDPR,
    "objection": (*_GDPR, "compelling_grounds", "legal_claims"),
    "withdraw_consent": _GDPR,
    "ccpa_know": _CCPA,
    "ccpa_delete": (*_CCPA, "ccpa_exception"),
    "ccpa_opt_out": _CCPA,
}
#: audit detail keys that hold people's own words: masked for a viewer
FREE_TEXT = frozenset({"note", "evidence"})
PREVIEW_STATES = frozenset({"verified", "awaiting_approval", "executing", "failed", "partially_completed"})


def grounds_for(kind: str) -> dict[str, str]:
    return {g: DENIAL_GROUNDS[g] for g in GROUNDS_BY_KIND.get(kind, _GDPR)}


def _view(engine: Context, public_id: str, t: Translator) -> RequestView:
    try:
        return engine.requests.get(public_id)
    except RequestNotFound as exc:
        raise HTTPException(404, t("There is no such request.")) from exc


def _trail(engine: Context, public_id: str) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from pledge.store.tables.core import audit_log

    with engine.store.connect() as conn:
        rows = conn.execute(select(audit_log).where(audit_log.c.target == f"request:{public_id}")
                            .order_by(audit_log.c.id))
        return [dict(r._mapping) for r in rows]


def _detail_items(details: dict[str, Any] | None, unmasked: bool) -> list[tuple[str, str]]:
    out = []
    for key, value in (details or {}).items():
        if isinstance(value, dict):
            text = ", ".join(f"{k}: {v}" for k, v in value.items())
        elif isinstance(value, list):
            text = ", ".join(str(v) for v in value) or "—"
        else:
            text = str(value)
        out.append((key, text if unmasked or key not in FREE_TEXT else show_value(text, False)))
    return out


def context(engine: Context, admin: Admin, t: Translator, public_id: str, *, want_preview: bool = True
            ) -> dict[str, Any]:
    """Everything the request page (and the confirmation page) shows."""
    view = _view(engine, public_id, t)
    _, payload = engine.requests.load(public_id)
    trail = _trail(engine, public_id)
    unmasked = admin.unmasked

    def shown(value: Any) -> str:
        return show_value(value, unmasked)

    identities = dict(payload.get("identities") or {})
    record = facts.record(view, trail, t)
    preview = facts.preview(engine, view, identities, shown, t) \
        if want_preview and view.state in PREVIEW_STATES else None
    has_export = view.result.get("export") is not None or engine.requests.delivery.latest(public_id) is not None
    for entry in trail:
        entry["items"] = _detail_items(entry.get("details"), unmasked)
    return {
        "req": view, "kind_label": t(KINDS.get(view.kind, view.kind)),
        "who": facts.requester(engine, view, payload, trail, admin, t),
        "asked": facts.asked(engine, view, payload, admin, shown, t.lang),
        "preview": preview, "record": record, "trail": trail,
        "failure": facts.failure_reason(view.result.get("failure"), t) if view.state == "failed" else None,
        "grounds": grounds_for(view.kind), "all_grounds": DENIAL_GROUNDS, "has_export": has_export,
        "destructive": view.kind in DESTRUCTIVE, "seen": trail[-1]["id"] if trail else 0,
        "initiative_grounds": _initiative(), "becomes": facts.BECOMES,
        "reason": lambda text: facts.reason_words(text, t),
        "exempt": lambda key, law: facts.exemption_words(engine, t, key, law),
    }


def _initiative() -> dict[str, str]:
    from pledge.rights.requests import INITIATIVE_GROUNDS

    return INITIATIVE_GROUNDS


def _render(request: Request, engine: Context, admin: Admin, t: Translator, public_id: str, *,
            status_code: int = 200, error: str | None = None, flash: str | None = None,
            errors: dict[str, str] | None = None) -> HTMLResponse:
    ctx = context(engine, admin, t, public_id)
    return page(request, t, "admin/request.html", admin, status_code=status_code, error=error, flash=flash,
                errors=errors or {}, **ctx)


@router.get("/requests/{public_id}", response_class=HTMLResponse)
def request_page(public_id: str, request: Request, engine: EngineDep, admin: AdminDep,
                 t: TranslatorDep) -> HTMLResponse:
    done = request.query_params.get("done", "")
    flash = t(DONE_LABELS[done]) if done in DONE_LABELS and done != "rerun" else None
    ctx = context(engine, admin, t, public_id)
    if done == "rerun" and ctx["record"]:
        flash = facts.rerun_words(ctx["record"]["runs"], ctx["req"], t)
    return page(request, t, "admin/request.html", admin, flash=flash, error=None, errors={},
                stale=done == "stale", **ctx)


def _after(public_id: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"/admin/requests/{public_id}?done={done}", status_code=303)


def _stale(engine: Context, public_id: str, form: Any) -> bool:
    """The form was drawn before the newest entry about the request: sent twice, or out of date."""
    seen = seen_of(form)
    return seen is not None and version_of(engine, f"request:{public_id}") != seen


def _act(request: Request, engine: Context, admin: Admin, t: Translator, public_id: str, action: str,
         done: str, form: Any, work: Any) -> Response:
    """One action on one request, on a worker thread. ``work`` returns None when it was done,
    or ``(field, message)`` for an inline error on the request page (422)."""
    permitted(admin, action, t)
    _view(engine, public_id, t)
    if _stale(engine, public_id, form):
        return _after(public_id, "stale")
    try:
        problem = work()
    except RequestError as exc:
        return _render(request, engine, admin, t, public_id, status_code=409, error=str(exc))
    if problem:
        field, message = problem
        return _render(request, engine, admin, t, public_id, status_code=422, error=message,
                       errors={field: message})
    return _after(public_id, done)


# -- approving --------------------------------------------------------------------------------
def _confirm_page(request: Request, engine: Context, admin: Admin, t: Translator, public_id: str, *,
                  status_code: int = 200, error: str | None = None) -> Response:
    ctx = context(engine, admin, t, public_id)
    view: RequestView = ctx["req"]
    if view.state not in ("verified", "awaiting_approval"):
        return _after(public_id, "stale")
    return page(request, t, "admin/confirm.html", admin, status_code=status_code, error=error, **ctx)


@router.get("/requests/{public_id}/approve", response_class=HTMLResponse)
def confirm(public_id: str, request: Request, engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> Response:
    permitted(admin, "approve", t)
    return _confirm_page(request, engine, admin, t, public_id)


@router.post("/requests/{public_id}/approve")
async def approve(public_id: str, request: Request, engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> Response:
    form = await checked_form(request, admin, t)

    def run() -> Response:
        permitted(admin, "approve", t)
        view = _view(engine, public_id, t)
        if _stale(engine, public_id, form):
            return _after(public_id, "stale")
        if view.kind in DESTRUCTIVE:
            if form.get("confirm") != "yes":
                return _confirm_page(request, engine, admin, t, public_id, status_code=422, error=t(
                    "Tick the box to confirm that you checked the plan."))
            identities = engine.requests.identities(public_id)
            plan = facts.preview(engine, view, identities, str, t) if view.kind != "rectification" else None
            if plan is not None and plan["fingerprint"] != str(form.get("plan") or ""):
                return _confirm_page(request, engine, admin, t, public_id, status_code=409, error=t(
                    "The plan changed after the page was drawn. Check it again, then confirm."))
        return _act(request, engine, admin, t, public_id, "approve", "approved", form,
                    lambda: engine.requests.approve(public_id, actor=admin.actor) and None)

    return await run_in_threadpool(run)


# -- refusing, extending, running again ----------------------------------------------------------
@router.post("/requests/{public_id}/deny")
async def deny(public_id: str, request: Request, engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> Response:
    form = await checked_form(request, admin, t)
    ground = str(form.get("ground") or "")
    note = str(form.get("note") or "").strip()[:2000]

    def work() -> tuple[str, str] | None:
        view = _view(engine, public_id, t)
        if ground not in grounds_for(view.kind):
            if ground in DENIAL_GROUNDS:
                return "ground", t("This ground does not apply to this kind of request. Choose one from the list.")
            return "ground", t("Choose the legal ground for the refusal.")
        engine.requests.deny(public_id, ground, note=note, actor=admin.actor)
        return None

    return await run_in_threadpool(_act, request, engine, admin, t, public_id, "deny", "denied", form, work)


@router.post("/requests/{public_id}/extend")
async def extend(public_id: str, request: Request, engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> Response:
    form = await checked_form(request, admin, t)
    reason = str(form.get("reason") or "").strip()[:2000]

    def work() -> tuple[str, str] | None:
        if not reason:
            return "reason", t("Write the reason the requester will read.")
        engine.requests.extend(public_id, reason, actor=admin.actor)
        return None

    return await run_in_threadpool(_act, request, engine, admin, t, public_id, "extend", "extended", form, work)


@router.post("/requests/{public_id}/rerun")
async def rerun(public_id: str, request: Request, engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> Response:
    form = await checked_form(request, admin, t)
    return await run_in_threadpool(_act, request, engine, admin, t, public_id, "run", "rerun", form,
                                   lambda: engine.requests.run(public_id, actor=admin.actor) and None)


# -- downloads --------------------------------------------------------------------------------
@router.get("/requests/{public_id}/download", response_model=None)
def download(public_id: str, engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> Response:
    permitted(admin, "download", t)
    _view(engine, public_id, t)
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


@router.get("/requests/{public_id}/certificate.json", response_model=None)
def certificate(public_id: str, request: Request, engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> Response:
    """The signed erasure certificate the run stored (no personal data; any role may read it);
    ``?run=N`` an earlier run's (1 = the first)."""
    view = _view(engine, public_id, t)
    cert = view.result.get("certificate")
    run = request.query_params.get("run", "")
    if run:
        earlier = view.result.get("earlier_certificates") or []
        cert = earlier[int(run) - 1] if run.isdigit() and 1 <= int(run) <= len(earlier) else None
    if not isinstance(cert, dict):
        raise HTTPException(404, t("This request has no erasure certificate."))
    return JSONResponse(cert, headers={
        "Content-Disposition": f'attachment; filename="erasure-certificate-{public_id}.json"'})
