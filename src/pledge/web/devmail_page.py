"""``/dev/mail``: the messages the demo's local SMTP sink received, newest first.

Shown only when ``settings.environment == "development"``; anywhere else the page does
not exist (404). The sink (:class:`pledge.devmail.DevMail`) is ``engine.devmail``, which
``pledge demo`` sets; without one the page says so. Mail goes out through the outbox
(pledge.outbox): the page first sends what this process has queued, so a code just asked
for is already here.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from pledge.devmail import DevMail
from pledge.web.deps import EngineDep, TranslatorDep
from pledge.web.templates import render

router = APIRouter(include_in_schema=False)


@router.get("/dev/mail", response_class=HTMLResponse)
def dev_mail(request: Request, engine: EngineDep, t: TranslatorDep) -> HTMLResponse:
    if engine.settings.environment != "development":
        raise HTTPException(404, "Not Found")
    sink: DevMail | None = engine.devmail
    if sink is not None:
        engine.outbox.flush(timeout=5)  # what this process queued is shown, not still on its way
    messages = list(reversed(sink.messages())) if sink is not None else []
    return render(request, "dev_mail.html", t, sink=sink, messages=messages)
