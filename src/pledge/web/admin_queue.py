"""The request queue of the admin console (``GET /admin``), with search and filters.

Query parameters, each checked; a bad value is ignored, named in an inline error, and
the page answers 422 (never 500):

- ``state``: one state, ``open`` (the default: every request not closed) or ``all``;
- ``kind``: one request kind; ``regime``: one of the policy's regimes (or ``ccpa``);
- ``due``: ``overdue``, or a number of days N (due within N days, overdue included);
- ``q``: a reference (``req_…``, or its start) or the requester's exact email address;
- ``page``: the page of 50 rows.

``queue`` is the route (``pledge.web.admin`` adds it at ``/admin``). Rows are sorted by due date. Each names the kind, state, regime, due date with days left,
and the requester's email, masked for a role without ``personal_data``.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from pledge.context import Context
from pledge.emails import is_email_address
from pledge.rights.requests import KINDS, STATES, RequestView
from pledge.web.admin_core import AdminDep, mask_email, page, regime_label
from pledge.web.deps import EngineDep, TranslatorDep
from pledge.web.i18n import Translator

PER_PAGE = 50
MAX_DAYS = 366
DUE_CHOICES = ("overdue", "7", "14", "30")


def regimes(engine: Context) -> list[str]:
    out = list(dict.fromkeys([*engine.policy.regimes, "ccpa"]))
    return [r for r in out if r]


def parse_filters(engine: Context, params: Any, t: Translator) -> tuple[dict[str, Any], dict[str, str]]:
    """The queue's filters from the query string, and an error per bad parameter."""
    errors: dict[str, str] = {}
    f: dict[str, Any] = {"state": "open", "kind": "", "regime": "", "due": "", "q": "", "page": 1}
    state = (params.get("state") or "").strip()
    if params.get("closed") == "1" and not state:
        state = "all"
    if state:
        if state in ("open", "all", *STATES):
            f["state"] = state
        else:
            errors["state"] = t("Choose a state from the list.")
    kind = (params.get("kind") or "").strip()
    if kind:
        if kind in KINDS:
            f["kind"] = kind
        else:
            errors["kind"] = t("Choose a request type from the list.")
    regime = (params.get("regime") or "").strip()
    if regime:
        if regime in regimes(engine):
            f["regime"] = regime
        else:
            errors["regime"] = t("Choose a law from the list.")
    due = (params.get("due") or "").strip()
    if due:
        if due == "overdue" or (due.isdigit() and 0 <= int(due) <= MAX_DAYS):
            f["due"] = due
        else:
            errors["due"] = t("Due within: give a number of days from 0 to {n}, or choose Overdue.", n=MAX_DAYS)
    q = (params.get("q") or "").strip()
    if q:
        if len(q) > 320 or not (is_email_address(q) or (q.startswith("req_") and len(q) >= 6)):
            errors["q"] = t("Search by a reference (req_…) or the requester's whole email address.")
        else:
            f["q"] = q
    raw_page = (params.get("page") or "").strip()
    if raw_page:
        if raw_page.isdigit() and 1 <= int(raw_page) <= 100_000:
            f["page"] = int(raw_page)
        else:
            errors["page"] = t("There is no such page of the queue.")
    return f, errors


def select_requests(engine: Context, f: dict[str, Any]) -> list[RequestView]:
    state = f["state"] if f["state"] in STATES else None
    email = f["q"] if f["q"] and "@" in f["q"] else None
    views = engine.requests.find(state=state, kind=f["kind"] or None, email=email, limit=1_000_000)
    if f["state"] == "open":
        views = [v for v in views if not v.final]
    if f["regime"]:
        views = [v for v in views if v.regime == f["regime"]]
    if f["due"] == "overdue":
        views = [v for v in views if v.overdue]
    elif f["due"]:
        views = [v for v in views if not v.final and v.days_left <= int(f["due"])]
    if f["q"].startswith("req_"):
        views = [v for v in views if v.id.startswith(f["q"])]
    return views


def requesters(engine: Context, views: list[RequestView], unmasked: bool) -> dict[str, str]:
    """Each listed request's requester email (masked for a viewer), decrypted in one read."""
    from pledge.store.tables.requests import requests as table

    ids = [v.id for v in views]
    out: dict[str, str] = {}
    vault = engine.requests.vault
    with engine.store.connect() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for row in conn.execute(select(table.c.public_id, table.c.payload_enc).where(table.c.public_id.in_(chunk))):
                try:
                    email = str(vault.open(row.payload_enc).get("identities", {}).get("email") or "")
                except Exception:  # noqa: BLE001 - a payload sealed with a retired key: say nothing
                    email = ""
                out[row.public_id] = (email if unmasked else mask_email(email)) if email else "—"
    return out


def queue(request: Request, engine: EngineDep, admin: AdminDep, t: TranslatorDep) -> HTMLResponse:
    f, errors = parse_filters(engine, request.query_params, t)
    views = select_requests(engine, f)
    total = len(views)
    pages = max(1, -(-total // PER_PAGE))
    if f["page"] > pages:
        errors.setdefault("page", t("There is no such page of the queue."))
        f["page"] = pages
    shown = views[(f["page"] - 1) * PER_PAGE: f["page"] * PER_PAGE]
    base = {k: v for k, v in f.items() if v and k != "page" and not (k == "state" and v == "open")}
    return page(request, t, "admin/queue.html", admin, status_code=422 if errors else 200,
                requests=shown, who=requesters(engine, shown, admin.unmasked), kinds=KINDS, states=STATES,
                f=f, errors=errors, total=total, pages=pages, base=base, due_choices=DUE_CHOICES,
                regimes=[(r, regime_label(r, t)) for r in regimes(engine)], today=engine.now().date())
