"""Breach pages of the admin console: the register with the 72-hour clock, and one breach.

``/admin/breaches`` lists every breach with its authority clock (hours left, or overdue);
``/admin/breaches/{id}`` shows what happened, what was exposed, the risk, the decisions
with their reasons, the Art. 33(3) draft and the audit trail;
``/admin/breaches/{id}/report.{md,html,json}`` downloads the draft. Sign-in, roles and
sessions are the console's own (:mod:`pledge.web.admin`); these pages only read.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from pledge.breach.register import BreachError
from pledge.breach.report import FORMATS, authority_report, render_report
from pledge.web.admin import AdminDep, page
from pledge.web.deps import EngineDep, TranslatorDep
from pledge.web.recorded import translate_recorded

router = APIRouter(prefix="/admin/breaches", include_in_schema=False)

MEDIA = {"md": "text/markdown; charset=utf-8", "html": "text/html; charset=utf-8",
         "json": "application/json"}


@router.get("", response_class=HTMLResponse)
def breach_list(request: Request, engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> HTMLResponse:
    reg = engine.breaches
    rows = [(b, reg.clock(b)) for b in reg.all()]
    return page(request, t, "admin/breaches.html", admin, rows=rows,
                hours=engine.policy.breach.authority_hours)


@router.get("/{breach_id}", response_class=HTMLResponse)
def breach_page(breach_id: int, request: Request, engine: EngineDep, admin: AdminDep,
                t: TranslatorDep) -> HTMLResponse:
    reg = engine.breaches
    try:
        breach = reg.get(breach_id)
    except BreachError as exc:
        raise HTTPException(404, t("No such breach.")) from exc
    return page(request, t, "admin/breach.html", admin, b=breach, clock=reg.clock(breach),
                draft=authority_report(engine, breach_id), trail=reg.audit_trail(breach_id),
                notified=reg.notified_count(breach_id),
                recorded=lambda text: translate_recorded(text, t))


@router.get("/{breach_id}/report.{fmt}")
def breach_report(breach_id: int, fmt: str, engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> Response:
    if fmt not in FORMATS:
        raise HTTPException(404, t("No such format."))
    try:
        text = render_report(authority_report(engine, breach_id), fmt)
    except BreachError as exc:
        raise HTTPException(404, t("No such breach.")) from exc
    return Response(text, media_type=MEDIA[fmt], headers={
        "Content-Disposition": f'attachment; filename="breach-{breach_id}-authority-report.{fmt}"'})
