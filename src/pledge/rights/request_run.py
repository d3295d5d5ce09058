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
  The files of the person's rows (the data map's ``blobs:``) are planned as durable intents
  before the SQL work and deleted after it commits (:mod:`pledge.rights.blob_erasure`);
  ``summary.files_deleted`` counts files the store confirmed gone, and files it did not
  (``files_pending``) make it ``partially_completed`` too: running it again retries them.
- rectification [``changes``: {field: value}] — :func:`pledge.rights.rectify.rectify`.
- restriction [``purpose``, optional] — :func:`pledge.rights.restrict.restrict`.
- objection [``purpose``] — :func:`pledge.rights.restrict.object_to`.
- withdraw_consent [``purposes``, optional: every consent purpose] and ccpa_opt_out
  (every purpose that sells or shares) — withdrawn in the consent ledger.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pledge.reports.certificate import issue as issue_certificate
from pledge.rights.export import dumps, write_zip
from pledge.rights.request_model import Approval
from pledge.tasks import LOCAL

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from pledge.context import Context
    from pledge.rights.access import AccessExport
    from pledge.rights.requests import RequestService, RequestView

__all__ = ["execute", "request_task"]

#: Writes a run leaves for the transaction that completes the request (see ``execute``).
Finish = list[Callable[["Connection"], object]]


def _later(engine: Context, finish: Finish | None, step: Callable[[Connection], object]) -> None:
    """Run ``step`` in the completing transaction, or now in its own when there is none."""
    if finish is not None:
        finish.append(step)
        return
    with engine.store.begin() as conn:
        step(conn)


def _zip(files: Mapping[str, str | bytes]) -> bytes:
    buf = io.BytesIO()
    write_zip(buf, files)
    return buf.getvalue()


def _access_export(engine: Context, ids: dict[str, str], lang: str) -> AccessExport:
    """What :func:`pledge.rights.access.access` gives, the rows fetched through ``engine.jobs``,
    with the policy's words in the request's language."""
    from pledge.policy.localize import localized
    from pledge.rights.access import AccessExport, pledge_records
    from pledge.rights.art15 import categories_found, information
    from pledge.rights.fanout import access_located

    found = access_located(engine, ids)
    cats = categories_found(engine.dataset, found.rows)
    info = information(localized(engine.policy, lang), cats, lang)
    return AccessExport(found, cats, info, engine.now().isoformat(), pledge_records(engine, ids))


def _access(engine: Context, svc: RequestService, view: RequestView, ids: dict[str, str],
            params: dict[str, Any], actor: str, finish: Finish | None) -> dict[str, Any]:
    from pledge.rights.access import access_files, subject_target

    lang = view.lang if view.lang in ("en", "pl") else engine.policy.language
    export = _access_export(engine, ids, lang)
    if view.kind == "ccpa_know" and not params.get("specific"):
        content = _zip({"categories.json": dumps({
            "generated_at": export.generated_at, "categories": export.categories,
            "information": export.information})})
        details: dict[str, Any] = {"collections": len(export.categories)}
        action, target = "rights.access.categories", f"request:{view.id}"
        summary = {"collections": len(export.categories)}
    else:
        from pledge.rights.blob_files import blob_package, files_summary

        located = export.located
        package: dict[str, str | bytes] = dict(access_files(engine, export, lang))  # index.html in their language
        package.update(blob_package(engine, located))  # files/: the files of the person's rows, with an index
        content = _zip(package)
        details = {"collections": located.counts(), "rows": located.total, "statements": located.statements}
        action, target = "rights.access", subject_target(engine, located.identities)
        summary = {"collections": len(located.counts()), "rows": located.total}
        if engine.dataset.stores:
            details.update(files_summary(package))
            summary.update(files_summary(package))
    token, record = svc.delivery.prepare(view, f"{view.kind}-{view.id}.zip", content)

    def written(conn: Connection) -> None:
        engine.audit.record(action, actor=actor, target=target, details=details, conn=conn)
        record(conn)

    _later(engine, finish, written)
    # rows per table as the package holds them: the console's record of what was sent (counts only)
    tables = details["collections"] if isinstance(details.get("collections"), dict) else {}
    return {"summary": summary, "export": token, "tables": tables}


def _portability(engine: Context, svc: RequestService, view: RequestView, ids: dict[str, str],
                 actor: str, finish: Finish | None) -> dict[str, Any]:
    from pledge.rights.portability import write_portability_zip

    buf = io.BytesIO()
    export = write_portability_zip(engine, ids, buf, actor=actor)
    token, record = svc.delivery.prepare(view, f"portability-{view.id}.zip", buf.getvalue())
    _later(engine, finish, record)
    summary: dict[str, Any] = {"collections": len(export.rows), "rows": export.total}
    if engine.dataset.stores:
        from pledge.rights.blob_files import FOLDER

        names = zipfile.ZipFile(buf).namelist()
        summary["files"] = sum(1 for n in names if n.startswith(f"{FOLDER}/") and not n.startswith(f"{FOLDER}/index."))
    return {"summary": summary, "export": token,
            "tables": {c: len(rs) for c, rs in sorted(export.rows.items()) if rs}}


def _erasure(engine: Context, view: RequestView, ids: dict[str, str], actor: str,
             run_token: str | None, finish: Finish | None = None) -> tuple[str, dict[str, Any]]:
    from pledge.rights import blob_erasure
    from pledge.rights.fanout import erase_fanout

    files = f"request:{view.id}"
    # the blobs of the person's rows, planned while the rows can be read; the erasure's plan
    # is made from the same read of those rows
    located = blob_erasure.plan_person_rows(engine, files, ids)[1] if engine.dataset.stores else None
    # its last store writes (ledger done, done marker, audit) commit with the request's completion
    report = erase_fanout(engine, ids, request_id=f"request-{view.id}", actor=actor,
                          reference=f"request:{view.id}", run_token=run_token, finish=finish, located=located)
    if engine.dataset.stores:  # the SQL work has committed: delete the files of rows now gone
        # a file the store did not confirm gone stays pending (durable): the request ends
        # partially_completed, saying so, and a re-run or the worker's resume deletes it
        report["blobs"] = blob_erasure.after_commit(engine, files).as_dict()
    cert = issue_certificate(report, engine.keys.secret, issued_at=engine.now(),
                             controller=engine.policy.controller.name, policy_version=engine.policy.version)
    totals = report.get("totals", {})
    kept = report.get("kept", {})
    # rows of the person kept under an exemption (an invoice the tax law keeps) make it partial;
    # a re-run no longer reaches rows an earlier run kept but cut loose from the person, so the
    # request keeps their row keys and each run counts how many the platform still holds
    # (a sweep deletes them when the legal period ends): what is kept now, read, not remembered
    before = view.result if isinstance(view.result, dict) else {}
    from pledge.rights.kept import exempt_rows, still_kept

    kept_rows = exempt_rows(report, before.get("kept_rows"))
    kept_now = still_kept(engine, kept_rows) if kept_rows else {}
    exempt = sum(kept_now.values()) if kept_rows else int(kept.get("exempt", 0)) if isinstance(kept, dict) else 0
    pending = int(report["blobs"]["failed"]) if "blobs" in report else 0
    state = "partially_completed" if exempt or pending else "completed"
    # every earlier run's certificate stays with the request: the record is never overwritten
    certificates = [*before.get("earlier_certificates", []), *([before["certificate"]] if before.get("certificate")
                                                                else [])]
    out: dict[str, Any] = {"summary": {**totals, "exempt": exempt} if isinstance(totals, dict) else totals,
                           "certificate": cert}
    if "blobs" in report and isinstance(out["summary"], dict):
        out["summary"]["files_deleted"] = report["blobs"]["gone"]  # only files the store confirmed gone
        if pending:
            out["summary"]["files_pending"] = pending
            out["files_not_deleted"] = report["blobs"]["errors"]  # the store's reasons (no keys)
    if certificates:
        out["earlier_certificates"] = certificates
    if kept_rows:  # row keys only, for the next run's count; and how many of them are held now
        out["kept_rows"], out["kept_now"] = kept_rows, kept_now
    return state, out


def _consent(engine: Context, view: RequestView, email: str, params: dict[str, Any], actor: str) -> dict[str, Any]:
    policy = engine.policy
    if view.kind == "ccpa_opt_out":
        purposes = [p.key for p in policy.purposes if p.sells_or_shares]
    else:
        purposes = list(params.get("purposes") or [p.key for p in policy.purposes if p.consent_required])
    if purposes:
        engine.consent.record_many(email, dict.fromkeys(purposes, "withdrawn"), method="request",
                                   channel="request", actor=actor)
    return {"summary": {"purposes": len(purposes)}, "purposes": purposes}


def execute(engine: Context, svc: RequestService, view: RequestView, identities: dict[str, str],
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
        return _erasure(engine, view, identities, actor, run_token, finish)
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


def request_task(engine: Context, payload: dict[str, Any]) -> dict[str, Any]:
    """The task ``requests.execute``: carry out one request that is ``executing``.

    Safe to deliver twice: a request already closed is left alone, and an erasure run
    that finished returns its kept report (``run_token``) instead of erasing again.
    """
    svc = engine.requests
    # in-process the submitter hands over the row it just committed, or the approval this run
    # writes when it completes (LOCAL, never sent)
    local = payload.get(LOCAL)
    approval = local if isinstance(local, Approval) else None
    row, data = svc.load_row(str(payload["request_id"]), known=approval.after if approval else local)
    if row.state != "executing":
        return {"request_id": row.public_id, "state": row.state, "ran": False}
    view = svc.carry_out(row.public_id, actor=str(payload.get("actor") or "system"),
                         run_token=payload.get("run") or None, loaded=(row, data), approval=approval)
    # the final view goes back to a submitter in this process (never stored or sent)
    return {"request_id": view.id, "state": view.state, "ran": True, LOCAL: view}
