"""The proof page of the admin console: runs of ``pledge prove`` and what they found.

``/admin/prove`` shows the newest run (``/admin/prove/{id}`` an older one): broken
promises first, with counts, keyed examples and the seed's words, then the kept ones,
then the promises that cannot be checked on data, grouped by why; below, the history of
runs. ``POST /admin/prove/run`` runs a proof now (roles that may run requests);
``/admin/prove/{id}/report.{json,html}`` downloads a run. Sign-in, roles and sessions are
the console's own (:mod:`pledge.web.admin`). Handlers are plain functions: FastAPI runs
them on worker threads, so a proof's queries never hold the event loop.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pledge.prove import ProveError, describe, get_run, history, latest, render, run
from pledge.prove.findings import KINDS, REASONS, TITLES, Finding, Proof
from pledge.prove.render import unknown_groups
from pledge.web.admin import AdminDep, page, permitted
from pledge.web.deps import MAX_ROW_ID, EngineDep, TranslatorDep
from pledge.web.i18n import Translator
from pledge.web.labels import right_label
from pledge.web.sessions import csrf_ok

router = APIRouter(prefix="/admin/prove", include_in_schema=False)

MEDIA = {"json": "application/json", "html": "text/html; charset=utf-8"}
#: words of the page (msgids; prove.po has the Polish)
STATUS_LABELS = {"kept": "Kept", "broken": "Broken", "unknown": "Cannot be checked on data"}
OUTCOME_LABELS = {"kept": "All kept", "broken": "Something is broken"}
HISTORY = 30


def _title(f: Finding, t: Translator) -> str:
    """Policy names stay as written; Pledge's own titles and the rights' kinds are translated."""
    if f.title_key in TITLES:
        return t(TITLES[f.title_key], **f.title_params)
    if f.kind == "right" and f.detail.get("right"):
        return right_label(str(f.detail["right"]), t)
    return f.title


def _show(request: Request, engine: Any, admin: Any, t: Translator, proof: Proof | None,
          error: str | None = None, status_code: int = 200) -> HTMLResponse:
    return page(request, t, "admin/prove.html", admin, status_code=status_code, proof=proof,
                runs=history(engine, HISTORY), error=error,
                groups=unknown_groups(proof) if proof else [],
                describe=lambda f: describe(f, t), title=lambda f: _title(f, t),
                kinds={k: t(v) for k, v in KINDS.items()}, reasons={k: t(v) for k, v in REASONS.items()},
                status_labels={k: t(v) for k, v in STATUS_LABELS.items()},
                outcome_labels={k: t(v) for k, v in OUTCOME_LABELS.items()})


@router.get("", response_class=HTMLResponse)
def prove_page(request: Request, engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> HTMLResponse:
    return _show(request, engine, admin, t, latest(engine))


@router.post("/run")
def prove_now(request: Request, engine: EngineDep, admin: AdminDep, t: TranslatorDep,
              csrf: Annotated[str, Form()] = "") -> Response:
    if not csrf_ok(admin.session, csrf):
        raise HTTPException(403, t("The form's security token is missing or wrong. Reload the page and try again."))
    permitted(admin, "run", t)
    try:
        proof = run(engine, actor=admin.actor)
    except ProveError as exc:  # the page again, saying why (503: try again once the database is back)
        return _show(request, engine, admin, t, latest(engine), error=str(exc), status_code=503)
    return RedirectResponse(f"/admin/prove/{proof.id}", status_code=303)


def _run(engine: Any, run_id: int, t: Translator) -> Proof:
    proof = get_run(engine, run_id) if 0 < run_id <= MAX_ROW_ID else None
    if proof is None:
        raise HTTPException(404, t("There is no such run."))
    return proof


@router.get("/{run_id}", response_class=HTMLResponse)
def prove_run_page(run_id: int, request: Request, engine: EngineDep, admin: AdminDep,
                   t: TranslatorDep) -> HTMLResponse:
    return _show(request, engine, admin, t, _run(engine, run_id, t))


@router.get("/{run_id}/report.{fmt}")
def prove_report(run_id: int, fmt: str, engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> Response:
    if fmt not in MEDIA:
        raise HTTPException(404, t("No such format."))
    proof = _run(engine, run_id, t)
    return Response(render(proof, fmt), media_type=MEDIA[fmt], headers={
        "Content-Disposition": f'attachment; filename="proof-{run_id}.{fmt}"'})
