"""The Art. 19 acknowledgement link in our emails: a page with a button, never a change on GET.

Mail scanners and link previews open links, so ``GET /v1/art19/ack?token=…`` (the
``ack_url`` of :mod:`pledge.rights.notices`) only shows a page; its button POSTs the
token to ``/art19/ack``, which records the acknowledgement and says so. Machine clients
(a webhook recipient) ``POST /v1/art19/ack?token=…`` and get JSON
(:mod:`pledge.web.api_requests`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from pledge.web.deps import EngineDep, TranslatorDep
from pledge.web.templates import render

router = APIRouter(include_in_schema=False)


@router.get("/v1/art19/ack", response_class=HTMLResponse)
def ack_page(request: Request, t: TranslatorDep, token: str = "") -> HTMLResponse:
    state = "ask" if 0 < len(token) <= 500 else "bad"
    return render(request, "art19_ack.html", t, state=state, token=token, status_code=200 if state == "ask" else 400)


@router.post("/art19/ack", response_class=HTMLResponse)
async def acknowledge(request: Request, engine: EngineDep, t: TranslatorDep) -> HTMLResponse:
    form = await request.form()
    token = str(form.get("token") or "")[:500]
    done = bool(token) and await run_in_threadpool(engine.requests.notices.acknowledge, token)
    return render(request, "art19_ack.html", t, state="done" if done else "bad", token="",
                  status_code=200 if done else 400)
