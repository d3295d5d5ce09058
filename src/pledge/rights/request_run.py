"""Carrying out one verified request with the rights engine.

``execute(engine, service, view, identities, params, actor=...)`` returns the final state
(``completed`` or ``partially_completed``) and a result dict with a ``summary`` of counts
(no personal data), plus ``export`` (an export token, for access, portability and
``ccpa_know``) or ``certificate`` (a signed erasure certificate). It raises on failure,
leaving the request in ``executing`` so that a re-run resumes (erasure checkpoints).

Requests run as the task ``requests.execute`` (:func:`request_task`) through
``engine.jobs``: here and now in-process, or on a ``pledge worker`` when a broker is
set. Access rows are fetched with :func:`pledge.rights.fanout.access_located` and
erasure runs as :func:`pledge.rights.fanout.erase_fanout`, so both modes give the same
package and the same report.

Per kind (``params`` in brackets):

- access / ccpa_know — the access zip; ``ccpa_know`` without ``specific`` holds only the
  categories and the Art. 15 / §1798.110 information, no rows.
- portability — the portability zip.
- erasure / ccpa_delete — :func:`pledge.rights.erasure.erase`; rows kept under an
  exemption (``report["kept"]["exempt"]``) make it ``partially_completed``. A certificate is issued either way.
- rectification [``changes``: {field: value}] — :func:`pledge.rights.rectify.rectify`.
- restriction [``purpose``, optional] — :func:`pledge.rights.restrict.restrict`.
- objection [``purpose``] — :func:`pledge.rights.restrict.object_to`.
- withdraw_consent [``purposes``, optional: every consent purpose] and ccpa_opt_out
  (every purpose that sells or shares) — withdrawn in the consent ledger.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pledge.reports.certificate import issue as issue_certificate
from pledge.rights.export import dumps, write_zip
from pledge.tasks import LOCAL

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from pledge.engine import Engine
    from pledge.rights.access import AccessExport
    from pledge.rights.requests import RequestService, RequestView

__all__ = ["execute", "request_task"]

#: Writes a run leaves for the transaction that completes the request (see ``execute``).
Finish = list[Callable[["Connection"], object]]


def _later(engine: Engine, finish: Finish | None, step: Callable[[Connection], object]) -> None:
    """Run ``step`` in the completing transaction, or now in its own when there is none."""
    if finish is not None:
        finish.append(step)
        return
    with engine.store.begin() as conn:
        step(conn)


def _zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    write_zip(buf, files)
    return buf.getvalue()


def _access_export(engine: Engine, ids: dict[str, str]) -> AccessExport:
    """What :func:`pledge.rights.access.access` gives, the rows fetched through ``engine.jobs``."""
    from pledge.rights.access import AccessExport, pledge_records
    from pledge.rights.art15 import categories_found, information
    from pledge.rights.fanout import access_located

    found = access_located(engine, ids)
    cats = categories_found(engine.dataset, found.rows)
    info = information(engine.policy, cats, "pl" if engine.policy.language == "pl" else "en")
    return AccessExport(found, cats, info, engine.now().isoformat(), pledge_records(engine, ids))


def _access(engine: Engine, svc: RequestService, view: RequestView, ids: dict[str, str],
            params: dict[str, Any], actor: str, finish: Finish | None) -> dict[str, Any]:
    from pledge.rights.access import access_files, subject_target

    export = _access_export(engine, ids)
    if view.kind == "ccpa_know" and not params.get("specific"):
        content = _zip({"categories.json": dumps({
            "generated_at": export.generated_at, "categories": export.categories,
            "information": export.information})})
        details: dict[str, Any] = {"collections": len(export.categories)}
        action, target = "rights.access.categories", f"request:{view.id}"
        summary = {"collections": len(export.categories)}
    else:
        located = export.located
        content = _zip(access_files(engine, export))
        details = {"collections": located.counts(), "rows": located.total, "statements": located.statements}
        action, target = "rights.access", subject_target(engine, located.identities)
        summary = {"collections": len(located.counts()), "rows": located.total}
    token, record = svc.delivery.prepare(view, f"{view.kind}-{view.id}.zip", content)

    def written(conn: Connection) -> None:
        engine.audit.record(action, actor=actor, target=target, details=details, conn=conn)
        record(conn)

    _later(engine, finish, written)
    return {"summary": summary, "export": token}


def _portability(engine: Engine, svc: RequestService, view: RequestView, ids: dict[str, str],
                 actor: str, finish: Finish | None) -> dict[str, Any]:
    from pledge.rights.portability import write_portability_zip

    buf = io.BytesIO()
    export = write_portability_zip(engine, ids, buf, actor=actor)
    token, record = svc.delivery.prepare(view, f"portability-{view.id}.zip", buf.getvalue())
    _later(engine, finish, record)
    return {"summary": {"collections": len(export.rows), "rows": export.total}, "export": token}


def _erasure(engine: Engine, view: RequestView, ids: dict[str, str], actor: str,
             run_token: str | None) -> tuple[str, dict[str, Any]]:
    from pledge.rights.fanout import erase_fanout

    report = erase_fanout(engine, ids, request_id=f"request-{view.id}", actor=actor,
                          reference=f"request:{view.id}", run_token=run_token)
    cert = issue_certificate(report, engine.keys.secret, issued_at=engine.now(),
                             controller=engine.policy.controller.name, policy_version=engine.policy.version)
    totals = report.get("totals", {})
    kept = report.get("kept", {})
    # rows of the person kept under an exemption (an invoice the tax law keeps) make it partial
    exempt = int(kept.get("exempt", 0)) if isinstance(kept, dict) else 0
    state = "partially_completed" if exempt else "completed"
    return state, {"summary": {**totals, "exempt": exempt} if isinstance(totals, dict) else totals,
                   "certificate": cert}


def _consent(engine: Engine, view: RequestView, email: str, params: dict[str, Any], actor: str) -> dict[str, Any]:
    policy = engine.policy
    if view.kind == "ccpa_opt_out":
        purposes = [p.key for p in policy.purposes if p.sells_or_shares]
    else:
        purposes = list(params.get("purposes") or [p.key for p in policy.purposes if p.consent_required])
    if purposes:
        engine.consent.record_many(email, dict.fromkeys(purposes, "withdrawn"), method="request",
                                   channel="request", actor=actor)
    return {"summary": {"purposes": len(purposes)}, "purposes": purposes}


def execute(engine: Engine, svc: RequestService, view: RequestView, identities: dict[str, str],
            params: dict[str, Any], *, actor: str, run_token: str | None = None,
            finish: Finish | None = None) -> tuple[str, dict[str, Any]]:
    """Carry out the request; with ``finish``, the export row and the access audit entry
    are appended there as steps for the caller's completing transaction instead of being
    written now (so they commit with the request's move to ``completed``, or not at all)."""
    from pledge.rights.rectify import NothingToRectify, rectify
    from pledge.rights.restrict import object_to, restrict

    kind = view.kind
    email = identities["email"]
    if kind in ("access", "ccpa_know"):
        return "completed", _access(engine, svc, view, identities, params, actor, finish)
    if kind == "portability":
        return "completed", _portability(engine, svc, view, identities, actor, finish)
    if kind in ("erasure", "ccpa_delete"):
        return _erasure(engine, view, identities, actor, run_token)
    if kind == "rectification":
        try:
            report = rectify(engine, identities, dict(params.get("changes") or {}), actor=actor)
        except NothingToRectify as exc:  # no account here: nothing about the person to correct
            return "completed", {"summary": {"rows": 0}, "fields": {}, "not_found": str(exc)}
        return "completed", {"summary": {"rows": report["rows"]},
                             "fields": {c["field"]: c["rows"] for c in report["changes"]}}
    if kind == "restriction":
        out = restrict(engine, email, params.get("purpose"), reason=f"request {view.id}", actor=actor)
        return "completed", {"summary": {"restriction_id": out["id"]}}
    if kind == "objection":
        purpose = params.get("purpose")
        if not purpose:
            raise ValueError("an objection names the purpose objected to (params.purpose)")
        out = object_to(engine, email, str(purpose), reason=f"request {view.id}", actor=actor)
        return "completed", {"summary": {"objection_id": out["id"], "absolute": out["absolute"]}}
    if kind in ("withdraw_consent", "ccpa_opt_out"):
        return "completed", _consent(engine, view, email, params, actor)
    raise ValueError(f"no executor for request kind {kind!r}")


def request_task(engine: Engine, payload: dict[str, Any]) -> dict[str, Any]:
    """The task ``requests.execute``: carry out one request that is ``executing``.

    Safe to deliver twice: a request already closed is left alone, and an erasure run
    that finished returns its kept report (``run_token``) instead of erasing again.
    """
    svc = engine.requests
    loaded = svc.load(str(payload["request_id"]))
    view = loaded[0]
    if view.state != "executing":
        return {"request_id": view.id, "state": view.state, "ran": False}
    view = svc.carry_out(view.id, actor=str(payload.get("actor") or "system"), run_token=payload.get("run") or None,
                         loaded=loaded)
    # the final view goes back to a submitter in this process (never stored or sent)
    return {"request_id": view.id, "state": view.state, "ran": True, LOCAL: view}
