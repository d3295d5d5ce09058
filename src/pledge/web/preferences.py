"""The preference centre (one signed link per person) and one-click unsubscribe pages.

``GET /preferences/{token}`` lists the purposes that need consent with the person's
current choice; the form posts back and records given / withdrawn in one action.
``/unsubscribe/{token}``: GET shows a confirmation (mail scanners fetch links, so a GET
must not unsubscribe); POST unsubscribes, including the RFC 8058 one-click POST that
mail clients send with the body ``List-Unsubscribe=One-Click``.

After a save the page shows a receipt in the person's language: each purpose's state now
(the ones this save recorded marked), the time, and a reference to the ledger records.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from babel.dates import format_datetime
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from pledge.consent.unsubscribe import (
    LinkError,
    preferences_url,
    read_preferences,
    read_unsubscribe,
    use_unsubscribe,
)
from pledge.context import Context
from pledge.notify import EmailTemplate, Notifier
from pledge.policy.model import Purpose
from pledge.web.deps import EngineDep, TranslatorDep
from pledge.web.i18n import Translator
from pledge.web.labels import policy_in
from pledge.web.templates import render

router = APIRouter(include_in_schema=False)

#: the email with the link to a person's choices (asked for on the privacy centre)
CHOICES_LINK = EmailTemplate(
    "consent.choices_link", "Your privacy choices",
    "Hello,\n\nhere is your private link to your privacy choices. There you can give or withdraw each "
    "consent at once:\n\n{url}\n\nThe link works for you alone: do not forward this message. If you did not "
    "ask for it, ignore this message.\n\n{controller}", ("consent",))


def send_choices_link(engine: Context, email: str, lang: str) -> None:
    """Queue the email with the signed link to ``email``'s choices (on a worker thread)."""
    Notifier(engine, rate_per_second=0).send(
        email, CHOICES_LINK, lang, {"url": preferences_url(engine, email) + f"?lang={lang}",
                                    "controller": engine.policy.controller.name},
        reference=f"choices:{engine.now().isoformat()}:{secrets.token_hex(4)}")


def consent_purposes(engine: Context, t: Translator | None = None) -> list[Purpose]:
    """The purposes that rest on consent, named in the page's language when ``t`` is given."""
    policy = policy_in(engine, t) if t is not None else engine.policy
    return [p for p in policy.purposes if p.consent_required or p.legal_basis == "consent"]


def _link_error(request: Request, t: Translator, exc: LinkError) -> HTMLResponse:
    status = 410 if exc.kind in ("used", "expired") else 400
    messages = {
        "used": t("This link has already been used. You are unsubscribed."),
        "expired": t("This link has expired. Use the link in a newer email or contact us."),
        "tampered": t("This link is not valid. It may have been altered or cut short."),
    }
    return render(request, "consent_link_error.html", t, status_code=status, message=messages[exc.kind])


def receipt_of(records: list[dict[str, Any]], at: datetime, t: Translator) -> dict[str, Any]:
    """What a save recorded, for the person: the time in their language, and a reference
    made of the consent ledger's record numbers (``C-41-42``), which an officer finds in
    the ledger; no reference when nothing changed."""
    when = format_datetime(at.astimezone(UTC), "d MMMM y, HH:mm", locale=t.lang) + " UTC"
    ids = [int(r["id"]) for r in records if r.get("id")]
    return {"at": when, "reference": "C-" + "-".join(map(str, ids)) if ids else None,
            "changed": {str(r["purpose"]) for r in records}}


def _page(request: Request, engine: Context, t: Translator, token: str, email: str,
          saved: bool = False, receipt: dict[str, Any] | None = None) -> HTMLResponse:
    current = engine.consent.current(email)
    rows = [{"purpose": p, "choice": current.get(p.key)} for p in consent_purposes(engine, t)]
    return render(request, "consent_preferences.html", t, token=token, email=email, rows=rows,
                  saved=saved, receipt=receipt, policy=policy_in(engine, t))


@router.get("/preferences/{token}", response_class=HTMLResponse)
def preferences(token: str, request: Request, engine: EngineDep, t: TranslatorDep) -> HTMLResponse:
    try:
        email = read_preferences(engine, token)
    except LinkError as exc:
        return _link_error(request, t, exc)
    return _page(request, engine, t, token, email)


@router.post("/preferences/{token}", response_class=HTMLResponse)
async def save_preferences(token: str, request: Request, engine: EngineDep, t: TranslatorDep) -> HTMLResponse:
    form = await request.form()
    wanted = {str(k) for k in form.getlist("purpose")}
    return await run_in_threadpool(_save_preferences, token, request, engine, t, wanted)


def _save_preferences(token: str, request: Request, engine: Context, t: Translator, wanted: set[str]) -> HTMLResponse:
    """Reads and writes the store: on a worker thread, never on the event loop."""
    try:
        email = read_preferences(engine, token)
    except LinkError as exc:
        return _link_error(request, t, exc)
    current = engine.consent.current(email)
    changes: dict[str, str] = {}
    for p in consent_purposes(engine):
        key = p.key
        before = current.get(key)
        if key in wanted and (before is None or before.state != "given"):
            changes[key] = "given"
        elif key not in wanted and before is not None and before.state == "given":
            changes[key] = "withdrawn"
        elif key not in wanted and before is None:
            changes[key] = "refused"
    records: list[dict[str, Any]] = []
    if changes:
        client = request.client.host if request.client else None
        records = engine.consent.record_many(email, changes, method="preference_centre", channel="web", ip=client,
                                             user_agent=request.headers.get("user-agent"))
    at = records[0]["at"] if records else engine.now()
    return _page(request, engine, t, token, email, saved=True, receipt=receipt_of(records, at, t))


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(token: str, request: Request, engine: EngineDep, t: TranslatorDep) -> HTMLResponse:
    try:
        email, purpose = read_unsubscribe(engine, token)
    except LinkError as exc:
        return _link_error(request, t, exc)
    name = next((p.name for p in policy_in(engine, t).purposes if p.key == purpose), purpose)
    return render(request, "consent_unsubscribe.html", t, token=token, email=email, purpose=name, done=False)


@router.post("/unsubscribe/{token}")
async def unsubscribe(token: str, request: Request, engine: EngineDep, t: TranslatorDep) -> Response:
    body = (await request.body()).decode("utf-8", "replace")
    return await run_in_threadpool(_unsubscribe, token, request, engine, t, "List-Unsubscribe=One-Click" in body)


def _unsubscribe(token: str, request: Request, engine: Context, t: Translator, one_click: bool) -> Response:
    client = request.client.host if request.client else None
    try:
        result = use_unsubscribe(engine, token, ip=client, user_agent=request.headers.get("user-agent"),
                                 channel="email" if one_click else "web")
    except LinkError as exc:
        if one_click:
            return PlainTextResponse(str(exc), status_code=410 if exc.kind == "used" else 400)
        return _link_error(request, t, exc)
    if one_click:
        return PlainTextResponse("unsubscribed")
    name = next((p.name for p in policy_in(engine, t).purposes if p.key == result["purpose"]), result["purpose"])
    return render(request, "consent_unsubscribe.html", t, token=token, email=result["email"], purpose=name,
                  done=True)
