"""Breach pages of the admin console: the register with the 72-hour clock, one breach, and
the forms that work on it (GDPR Art. 33 and 34).

- ``/admin/breaches`` lists every breach with its authority clock (hours left, or overdue);
- ``/admin/breaches/new`` registers one (:mod:`pledge.web.admin_breach_forms`);
- ``/admin/breaches/{id}`` shows what happened, what was exposed, the risk, the decisions
  with their reasons, the Art. 33(3) draft and the audit trail, with the forms to assess
  the risk and to record a phase of the authority report;
- ``/admin/breaches/{id}/people`` the affected people (emails masked for a viewer) and the
  form that tells them (Art. 34), with the email they will get;
- ``/admin/breaches/{id}/report.{md,html,json}`` downloads the draft.

Sign-in, sessions and CSRF are the console's own (:mod:`pledge.web.admin_core`). Every
form needs the ``breach`` permission (owner, privacy officer) and carries the breach's
version (``seen``), so a second submission of the same form does nothing twice.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from pledge.breach.register import LEVELS, PHASES, Breach, BreachError
from pledge.breach.report import FORMATS, authority_report, render_report
from pledge.context import Context
from pledge.web import admin_breach_forms as forms
from pledge.web.admin_core import Admin, AdminDep, checked_form, page, permitted, seen_of, version_of
from pledge.web.deps import MAX_ROW_ID, EngineDep, TranslatorDep
from pledge.web.i18n import Translator
from pledge.web.recorded import translate_recorded

router = APIRouter(prefix="/admin/breaches", include_in_schema=False)

MEDIA = {"md": "text/markdown; charset=utf-8", "html": "text/html; charset=utf-8",
         "json": "application/json"}
#: what the breach page says after a form
DONE = {"opened": "The breach is registered. Assess its risk next.",
        "exists": "This breach was already registered: here it is.",
        "assessed": "The assessment is recorded with its decisions.",
        "reported": "The phase of the authority report is recorded.",
        "notified": "The notices were sent.",
        "exempt": "No notices were sent: the exemption is recorded in the audit log.",
        "stale": "This form was already sent, or the breach changed after the page was drawn. "
                 "Nothing more was done: this is where the breach stands now."}
MAX_TEXT = 5000


def _breach(engine: Context, breach_id: int, t: Translator) -> Breach:
    if not 0 < breach_id <= MAX_ROW_ID:
        raise HTTPException(404, t("No such breach."))
    try:
        return engine.breaches.get(breach_id)
    except BreachError as exc:
        raise HTTPException(404, t("No such breach.")) from exc


def _done(request: Request, t: Translator) -> str | None:
    done = request.query_params.get("done", "")
    return t(DONE[done]) if done in DONE else None


def _after(breach_id: int, done: str, path: str = "") -> RedirectResponse:
    return RedirectResponse(f"/admin/breaches/{breach_id}{path}?done={done}", status_code=303)


def _stale(engine: Context, breach_id: int, form: Any) -> bool:
    seen = seen_of(form)
    return seen is not None and version_of(engine, f"breach:{breach_id}") != seen


# -- the register -------------------------------------------------------------------------------
@router.get("", response_class=HTMLResponse)
def breach_list(request: Request, engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> HTMLResponse:
    reg = engine.breaches
    rows = [(b, reg.clock(b)) for b in reg.all()]
    return page(request, t, "admin/breaches.html", admin, rows=rows,
                hours=engine.policy.breach.authority_hours)


@router.get("/new", response_class=HTMLResponse)
def new_breach(request: Request, engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> HTMLResponse:
    permitted(admin, "breach", t)
    return forms.open_page(request, engine, admin, t, forms.blank(engine))


@router.post("/new")
async def open_breach(request: Request, engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> Response:
    form = await checked_form(request, admin, t)
    permitted(admin, "breach", t)
    return await run_in_threadpool(forms.open_breach, request, engine, admin, t, form)


# -- one breach ---------------------------------------------------------------------------------
def breach_context(engine: Context, breach_id: int, t: Translator) -> dict[str, Any]:
    reg = engine.breaches
    breach = _breach(engine, breach_id, t)
    trail = reg.audit_trail(breach_id)
    return {"b": breach, "clock": reg.clock(breach), "draft": authority_report(engine, breach_id),
            "trail": trail, "notified": reg.notified_count(breach_id), "levels": LEVELS, "phases": PHASES,
            "next_phase": "initial" if not reg.phases(breach_id) else "supplementary",
            "seen": version_of(engine, f"breach:{breach_id}"),
            "recorded": lambda text: translate_recorded(text, t),
            "category_words": _category_words(engine, breach.categories, t)}


def _category_words(engine: Context, keys: list[str], t: Translator) -> list[str]:
    """The exposed categories in the page's language, with their codes (as the draft names them)."""
    from pledge.web.labels import category_label, policy_in

    policy = policy_in(engine, t)
    return [f"{name} ({k})" if (name := category_label(k, policy, t)) else k for k in keys]


def _breach_page(request: Request, engine: Context, admin: Admin, t: Translator, breach_id: int, *,
                 status_code: int = 200, errors: dict[str, str] | None = None,
                 values: dict[str, Any] | None = None, flash: str | None = None) -> HTMLResponse:
    ctx = breach_context(engine, breach_id, t)
    b: Breach = ctx["b"]
    assess = values or {"likelihood": b.likelihood or "", "severity": b.severity or "", "encrypted": b.encrypted,
                        "measures": b.measures, "consequences": b.consequences}
    return page(request, t, "admin/breach.html", admin, status_code=status_code, errors=errors or {},
                assess=assess, flash=flash, stale=request.query_params.get("done") == "stale", **ctx)


@router.get("/{breach_id}", response_class=HTMLResponse)
def breach_page(breach_id: int, request: Request, engine: EngineDep, admin: AdminDep,
                t: TranslatorDep) -> HTMLResponse:
    return _breach_page(request, engine, admin, t, breach_id, flash=_done(request, t))


@router.post("/{breach_id}/assess")
async def assess(breach_id: int, request: Request, engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> Response:
    form = await checked_form(request, admin, t)
    permitted(admin, "breach", t)

    def work() -> Response:
        _breach(engine, breach_id, t)
        if _stale(engine, breach_id, form):
            return _after(breach_id, "stale")
        values = {"likelihood": str(form.get("likelihood") or ""), "severity": str(form.get("severity") or ""),
                  "encrypted": form.get("encrypted") == "yes",
                  "measures": str(form.get("measures") or "").strip(),
                  "consequences": str(form.get("consequences") or "").strip()}
        errors = {}
        for name, words in (("likelihood", t("Choose how likely harm to people is.")),
                            ("severity", t("Choose how serious the harm would be."))):
            if values[name] not in LEVELS:
                errors[name] = words
        for name in ("measures", "consequences"):
            if len(values[name]) > MAX_TEXT:
                errors[name] = t("At most {n} characters.", n=MAX_TEXT)
        if errors:
            return _breach_page(request, engine, admin, t, breach_id, status_code=422, errors=errors, values=values)
        engine.breaches.assess(breach_id, likelihood=values["likelihood"], severity=values["severity"],
                               encrypted=values["encrypted"], measures=values["measures"],
                               consequences=values["consequences"], actor=admin.actor)
        return _after(breach_id, "assessed")

    return await run_in_threadpool(work)


@router.post("/{breach_id}/report")
async def report_phase(breach_id: int, request: Request, engine: EngineDep, admin: AdminDep,
                       t: TranslatorDep) -> Response:
    form = await checked_form(request, admin, t)
    permitted(admin, "breach", t)

    def work() -> Response:
        breach = _breach(engine, breach_id, t)
        if _stale(engine, breach_id, form):
            return _after(breach_id, "stale")
        phase = str(form.get("phase") or "")
        note = str(form.get("note") or "").strip()
        errors = {}
        if phase not in PHASES:
            errors["phase"] = t("Choose which phase of the report this is.")
        if breach.notify_authority is None:
            errors["phase"] = t("Assess the breach first: the assessment decides whether the authority must be told.")
        if len(note) > MAX_TEXT:
            errors["phase-note"] = t("At most {n} characters.", n=MAX_TEXT)
        if errors:
            return _breach_page(request, engine, admin, t, breach_id, status_code=422, errors=errors)
        engine.breaches.record_phase(breach_id, phase, authority_report(engine, breach_id), note=note,
                                     actor=admin.actor)
        return _after(breach_id, "reported")

    return await run_in_threadpool(work)


@router.get("/{breach_id}/people", response_class=HTMLResponse)
def people_page(breach_id: int, request: Request, engine: EngineDep, admin: AdminDep,
                t: TranslatorDep) -> HTMLResponse:
    return forms.people_page(request, engine, admin, t, _breach(engine, breach_id, t), flash=_done(request, t))


@router.post("/{breach_id}/notify")
async def notify(breach_id: int, request: Request, engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> Response:
    form = await checked_form(request, admin, t)
    permitted(admin, "breach", t)

    def work() -> Response:
        breach = _breach(engine, breach_id, t)
        if _stale(engine, breach_id, form):
            return _after(breach_id, "stale", "/people")
        return forms.notify(request, engine, admin, t, breach, form)

    return await run_in_threadpool(work)


@router.get("/{breach_id}/report.{fmt}")
def breach_report(breach_id: int, fmt: str, engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> Response:
    if fmt not in FORMATS:
        raise HTTPException(404, t("No such format."))
    if not 0 < breach_id <= MAX_ROW_ID:
        raise HTTPException(404, t("No such breach."))
    try:
        text = render_report(authority_report(engine, breach_id), fmt)
    except BreachError as exc:
        raise HTTPException(404, t("No such breach.")) from exc
    return Response(text, media_type=MEDIA[fmt], headers={
        "Content-Disposition": f'attachment; filename="breach-{breach_id}-authority-report.{fmt}"'})
