"""What the console's request page shows to decide a request, read-only.

- :func:`requester`: who asked and the evidence of their identity (how and when verified,
  or the officer's ground, note and evidence), from the sealed payload and the audit trail.
- :func:`asked`: what exactly was asked, per kind: a rectification as a diff of the live
  value and the requested one, the purpose objected to, the purposes withdrawn, the note.
- :func:`preview`: what carrying it out would touch, per action and table, with a sample
  of the actual rows (other people's rows are counted, never shown).
- :func:`record`: what was done, read from what the run stored (the signed erasure
  certificate, the package's counts, the fields changed), never worked out again.
- :func:`failure_reason`: a failed run's reason in the reader's language where it is known.

Values of people's rows go through ``shown`` (:func:`pledge.web.admin_core.show_value`),
which masks them for a role without ``personal_data``.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from pledge.web.admin_core import mask_email
from pledge.web.i18n import Translator
from pledge.web.recorded import translate_recorded

if TYPE_CHECKING:
    from pledge.context import Context
    from pledge.rights.requests import RequestView
    from pledge.web.admin_core import Admin

#: how a request was verified, by the ``method`` its audit entry names
METHOD_LABELS = {"email_code": "A one-time code sent to the email address",
                 "platform_token": "A token the platform signed (the person was signed in)",
                 "org_admin": "Confirmed by the organisation's administrator"}
ACTION_LABELS = {"deleted": "Deleted", "masked": "Masked (personal fields cleared)",
                 "retained": "Kept, and why", "found": "Rows found"}
#: what a masked field becomes, as the erasure report names it
BECOMES = {"null": "empty", "[redacted]": "[redacted]", "hash": "keyed hash", "fake": "made-up value"}
#: reasons for a failed run people can act on, by the error's class name
FAILURES = {
    "SchemaMismatch": "The data map does not match the platform's database any more: a table or column "
                      "was changed. Fix the data map or the database, then run the request again.",
    "OperationalError": "The platform's database could not be reached or refused the statement. "
                        "Run the request again when it is back.",
    "ConnectorError": "The platform's database could not be reached or refused the statement. "
                      "Run the request again when it is back.",
    "RectifyError": "The correction does not fit the field in the database, so nothing was written.",
    "NothingToRectify": "The person has no rows where this field lives, so there is nothing to correct.",
    "TimeoutError": "The platform's database did not answer in time. Run the request again.",
    "KeysMissing": "This deployment's keys are missing, so the run could not sign or seal its results.",
}
#: why the erasure engine does what it does to a table, as it records it (English) → words to show
REASONS = ("erasure: delete", "dataset marks this collection erasure: retain", "no personal fields to mask",
           "shared content: every container it belongs to is erased too",
           "shared content inside the person's containers: erased with them",
           "other people's row, reached through the person's: nothing of theirs in it")
REASON_TEMPLATES = ("erasure: {strategy} on personal fields",
                    "other people's row: only its link to the person ({names}) is cut")
SAMPLE_ROWS = 3
SAMPLE_COLUMNS = 5


# -- who asked ----------------------------------------------------------------------------------
def _first(trail: list[dict[str, Any]], *actions: str) -> dict[str, Any] | None:
    return next((e for e in trail if e["action"] in actions), None)


def requester(engine: Context, view: RequestView, payload: dict[str, Any], trail: list[dict[str, Any]],
              admin: Admin, t: Translator) -> dict[str, Any]:
    email = str((payload.get("identities") or {}).get("email") or "")
    others = sorted(k for k in (payload.get("identities") or {}) if k != "email")
    verified = _first(trail, "request.verified", "request.awaiting_approval")
    method = (verified or {}).get("details", {}).get("method") if verified else None
    opened = trail[0] if trail else None
    details = (opened or {}).get("details") or {}
    opened_by = view.created_by
    if opened_by.startswith("admin:") and opened_by[6:].isdigit():
        from pledge.web.admin_core import load_user

        user = load_user(engine, int(opened_by[6:]))
        opened_by = user.email if user else opened_by
    free = admin.unmasked
    return {
        "email": (email if free else mask_email(email)) if email else None,
        "destroyed": not email,
        "other_identities": others,
        "method": t(METHOD_LABELS[method]) if method in METHOD_LABELS else None,
        "verified_at": view.verified_at,
        "officer": view.source == "officer",
        "opened_by": opened_by,
        "ground": view.initiative_ground,
        "note": view.initiative_note if free else None,
        "evidence": details.get("evidence") if free else None,
        "hidden": not free and bool(view.initiative_note or details.get("evidence")),
        "lang": view.lang,
    }


# -- what was asked -----------------------------------------------------------------------------
def _purpose(engine: Context, key: str, lang: str) -> dict[str, str]:
    purpose = next((p for p in engine.policy.purposes if p.key == key), None)
    if purpose is None:
        return {"key": key, "name": key}
    try:
        from pledge.policy.localize import label

        name = label(purpose, lang, engine.policy.language)
    except ImportError:  # pragma: no cover - an older policy package
        name = purpose.name
    return {"key": key, "name": name}


def _diff(engine: Context, identities: dict[str, Any], changes: dict[str, str],
          shown: Any) -> tuple[list[dict[str, Any]], str | None]:
    """Each requested change beside the live value(s), read now (no write: ``plan=True``)."""
    from pledge.rights.rectify import RectifyError, rectify

    rows = [{"field": name, "requested": shown(value), "current": [], "rows": 0, "same": 0}
            for name, value in changes.items()]
    if not identities:
        return rows, None
    try:
        report = rectify(engine, identities, changes, plan=True, record=False)
    except RectifyError as exc:
        return rows, str(exc)
    except Exception as exc:  # noqa: BLE001 - a broken platform database must not hide the request
        return rows, f"{type(exc).__name__}: {exc}"
    for row, change in zip(rows, report["changes"], strict=False):
        row["field"] = change["field"]
        row["current"] = sorted({shown(c["old"]) for c in change["changes"]})
        row["rows"] = change["rows"]
        row["same"] = change["unchanged"]
    return rows, None


def asked(engine: Context, view: RequestView, payload: dict[str, Any], admin: Admin,
          shown: Any, lang: str | None = None) -> dict[str, Any]:
    """What the person asked for; purposes named in ``lang`` (the page's; else the request's)."""
    params = dict(payload.get("params") or {})
    identities = dict(payload.get("identities") or {})
    out: dict[str, Any] = {"kind": view.kind, "note": None, "note_hidden": False}
    note = str(params.get("details") or "").strip()
    if note:
        out["note"] = note if admin.unmasked else None
        out["note_hidden"] = not admin.unmasked
    lang = lang or view.lang
    if view.kind == "rectification":
        out["diff"], out["diff_error"] = _diff(engine, identities, dict(params.get("changes") or {}), shown)
    elif view.kind in ("objection", "restriction") and params.get("purpose"):
        out["purposes"] = [_purpose(engine, str(params["purpose"]), lang)]
    elif view.kind == "withdraw_consent":
        keys = params.get("purposes") or [p.key for p in engine.policy.purposes if p.consent_required]
        out["purposes"] = [_purpose(engine, str(k), lang) for k in keys]
        out["every"] = not params.get("purposes")
    elif view.kind == "ccpa_opt_out":
        out["purposes"] = [_purpose(engine, p.key, lang) for p in engine.policy.purposes if p.sells_or_shares]
    elif view.kind == "ccpa_know":
        out["specific"] = bool(params.get("specific"))
    if view.kind == "restriction" and not params.get("purpose"):
        out["every"] = True
    return out


# -- the plan -----------------------------------------------------------------------------------
def _columns(engine: Context, table: str, row: dict[str, Any], first: list[str]) -> list[str]:
    """The columns a sample shows: the key and what changes first, then personal fields."""
    try:
        _, coll = engine.dataset.resolve_collection(table)
        declared = [f for f in coll.fields if f.name in row]
    except KeyError:
        declared = []
    keys = [f.name for f in declared if f.primary_key] or ([next(iter(row))] if row else [])
    personal = [f.name for f in declared if not f.primary_key and not f.references
                and any(c.startswith("user.") for c in f.categories)]
    out: list[str] = []
    for name in [*keys, *first, *personal]:
        if name in row and name not in out:
            out.append(name)
    return out[:SAMPLE_COLUMNS]


def _sample(engine: Context, table: str, rows: list[dict[str, Any]], entry: dict[str, Any],
            shown: Any, t: Translator) -> dict[str, Any]:
    fields = dict(entry.get("fields") or {})
    detached = list(entry.get("detached") or [])
    kept = dict(entry.get("kept") or {})
    if not rows or entry.get("shared"):
        return {"columns": [], "sample": [], "more": 0}
    columns = _columns(engine, table, rows[0], [*fields, *detached, *kept])
    cells = []
    for row in rows[:SAMPLE_ROWS]:
        line = []
        for col in columns:
            value = shown(row.get(col))
            if col in fields:
                value = f"{value} → {t(BECOMES.get(str(fields[col]), str(fields[col])))}"
            elif col in detached:
                value = f"{value} → {t('empty (link cut)')}"
            line.append(value)
        cells.append(line)
    return {"columns": columns, "sample": cells, "more": max(0, len(rows) - SAMPLE_ROWS)}


def _by_key(found: Any, table: str) -> dict[Any, dict[str, Any]]:
    pk = found.primary_keys.get(table) or []
    out: dict[Any, dict[str, Any]] = {}
    for row in found.rows.get(table, []):
        key = tuple(row.get(c) for c in pk)
        out[key[0] if len(key) == 1 else key] = row
    return out


def fingerprint(totals: dict[str, Any]) -> str:
    """A short digest of a plan's counts: a confirmation is for the plan the officer saw."""
    return hashlib.sha256(json.dumps(totals, sort_keys=True, default=str).encode()).hexdigest()[:16]


def preview(engine: Context, view: RequestView, identities: dict[str, Any], shown: Any,
            t: Translator) -> dict[str, Any]:
    """What carrying out the request would touch, per action and table, with sample rows.

    Erasure kinds: the erasure dry run (deleted / masked / kept). Other kinds: the rows
    found for the person (read for access, the rows a correction would change)."""
    from pledge.rights.erasure import erase
    from pledge.rights.locate import locate

    if not identities:  # an expired request's identities are destroyed (RequestService.expire_stale)
        return {"mode": "error", "groups": [], "totals": {}, "notes": [t("Its identities were destroyed when it "
                                                                            "expired.")], "fingerprint": ""}
    try:
        found = locate(engine, identities)
        if view.kind in ("erasure", "ccpa_delete"):
            report = erase(engine, identities, plan=True)
            groups = []
            for action in ("deleted", "masked", "retained"):
                tables = []
                for entry in report[action]:
                    table = entry["collection"]
                    index = _by_key(found, table)
                    rows = [index[k] for k in entry.get("ids", []) if k in index]
                    tables.append({**{k: v for k, v in entry.items() if k != "ids"},
                                   **_sample(engine, table, rows, entry, shown, t)})
                groups.append({"action": action, "label": t(ACTION_LABELS[action]), "tables": tables,
                               "rows": sum(int(e.get("rows", 0)) for e in report[action])})
            others = sum(int(e.get("rows", 0)) for e in report.get("others", []))
            return {"mode": "erasure", "groups": groups, "totals": report["totals"], "kept": report.get("kept", {}),
                    "others": others, "notes": report["notes"], "fingerprint": fingerprint(report["totals"])}
        tables = []
        for table, count in sorted(found.counts().items()):
            rows = found.rows.get(table, [])
            tables.append({"collection": table, "rows": count, **_sample(engine, table, rows, {}, shown, t)})
        totals = {"found": found.total}
        return {"mode": "locate", "groups": [{"action": "found", "label": t(ACTION_LABELS["found"]),
                                              "tables": tables, "rows": found.total}],
                "totals": totals, "notes": [], "fingerprint": fingerprint(totals)}
    except Exception as exc:  # noqa: BLE001 - a broken platform database must not hide the request page
        return {"mode": "error", "groups": [], "totals": {}, "notes": [f"{type(exc).__name__}: {exc}"],
                "fingerprint": ""}


# -- what was done ------------------------------------------------------------------------------
def record(view: RequestView, trail: list[dict[str, Any]], t: Translator) -> dict[str, Any] | None:
    """What the run stored (``view.result``), or None before any run finished."""
    result = view.result or {}
    runs = [{"at": e["at"], "actor": e["actor"], "state": e["action"].split(".", 1)[1],
             "summary": (e.get("details") or {}).get("summary") or {},
             "failure": (e.get("details") or {}).get("failure")}
            for e in trail if e["action"] in ("request.completed", "request.partially_completed", "request.failed")]
    if not runs and "summary" not in result:
        return None
    out: dict[str, Any] = {"runs": runs, "summary": result.get("summary") or {}, "kind": view.kind}
    cert = result.get("certificate")
    if isinstance(cert, dict) and isinstance(cert.get("certificate"), dict):
        body = cert["certificate"]
        out["certificate"] = {"issued_at": body.get("issued_at", ""), "totals": body.get("totals", {}),
                              "groups": [(k, t(ACTION_LABELS[k]), body.get(k) or []) for k in
                                         ("deleted", "masked", "retained")]}
    earlier = result.get("earlier_certificates")
    if isinstance(earlier, list):
        out["earlier"] = [{"issued_at": c["certificate"].get("issued_at", ""), "totals": c["certificate"].get("totals", {})}
                          for c in earlier if isinstance(c, dict) and isinstance(c.get("certificate"), dict)]
    if isinstance(result.get("tables"), dict):
        out["tables"] = sorted(result["tables"].items())
    if isinstance(result.get("fields"), dict):
        out["fields"] = sorted(result["fields"].items())
    if result.get("not_found"):
        out["not_found"] = True
    if result.get("purposes"):
        out["purposes"] = list(result["purposes"])
    out["export"] = bool(result.get("export"))
    return out


def rerun_words(runs: list[dict[str, Any]], view: RequestView, t: Translator) -> str:
    """What the newest run changed, from the summaries it and the run before stored."""
    if not runs:
        return t("The request ran again.")
    now, before = runs[-1], (runs[-2] if len(runs) > 1 else None)
    summary = now["summary"]
    if now["state"] == "failed":
        return t("The request ran again and failed: nothing was changed.")
    if view.kind in ("erasure", "ccpa_delete"):
        deleted, masked = int(summary.get("deleted", 0)), int(summary.get("masked", 0))
        exempt = int(summary.get("exempt", 0) or 0)  # what the platform holds now, counted by this run
        earlier = int((before or {}).get("summary", {}).get("exempt", 0) or 0) if before else 0
        first = (t("The request ran again: {deleted} rows deleted and {masked} masked.", deleted=deleted,
                   masked=masked) if deleted or masked else t("The request ran again and changed nothing."))
        gone = (" " + t("{n} rows kept before are no longer held (their legal period ended).", n=earlier - exempt)
                if earlier > exempt else "")
        return first + gone + (" " + t("{n} rows are still kept under an exemption.", n=exempt) if exempt else "")
    if before is not None and before["summary"] == summary:
        return t("The request ran again; the result is the same as before.")
    return t("The request ran again.")


def exemption_words(engine: Context, t: Translator, key: str | None, law: str | None) -> tuple[str, str]:
    """An exemption a plan or a record names, as ``(name, law)`` in the page's language (the
    policy's ``translations``); what the policy no longer holds stays as recorded."""
    from pledge.web.labels import policy_in

    ex = next((e for e in policy_in(engine, t).exemptions if e.key == key), None) if key else None
    return (ex.name if ex else str(key or "")), (ex.law if ex and ex.law else str(law or ""))


def reason_words(text: str | None, t: Translator) -> str:
    """An erasure step's recorded reason in the reader's language, where it is one we know."""
    import re

    text = str(text or "")
    if t.lang == "en" or not text:
        return text
    if text in REASONS:
        return t(text)
    for template in REASON_TEMPLATES:
        pattern = "^" + re.escape(template).replace(r"\{strategy\}", "(?P<strategy>[^ ]+)").replace(
            r"\{names\}", "(?P<names>[^)]+)") + "$"
        found = re.match(pattern, text)
        if found:
            return t(template, **found.groupdict())
    return text


def failure_reason(failure: dict[str, Any] | None, t: Translator) -> dict[str, str] | None:
    """A failed run's reason: known ones explained in the reader's language, the error kept."""
    if not failure:
        return None
    error = str(failure.get("error") or "")
    message = str(failure.get("message") or "")
    known = FAILURES.get(error)
    return {"reason": t(known) if known else translate_recorded(message, t) or t("The run stopped with an error."),
            "known": "1" if known else "", "error": error, "message": message}
