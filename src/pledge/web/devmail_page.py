"""``/dev/mail``: the messages the demo's local SMTP sink received, newest first.

Shown only when ``settings.environment == "development"``; anywhere else the page does
not exist (404). The sink (:class:`pledge.devmail.DevMail`) is ``engine.devmail``, which
``pledge demo`` sets; without one the page says so. Mail goes out through the outbox
(pledge.outbox): the page first sends what this process has queued, so a code just asked
for is already here.

Links in a message are clickable: the body is escaped, and only ``http://``/``https://``
addresses become ``<a rel="noopener">`` (:func:`linkify`); anything else, a
``javascript:`` address or markup in the body, stays inert text.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape

from pledge.devmail import DevMail
from pledge.web.deps import EngineDep, TranslatorDep
from pledge.web.templates import render

router = APIRouter(include_in_schema=False)

#: an http(s) address in plain text: up to a space, a quote or an angle bracket
URL_RE = re.compile(r"""https?://[^\s<>"'`]+""", re.IGNORECASE)
_TRAILING = ".,;:!?)]}"


def linkify(body: str) -> Markup:
    """``body`` as HTML: every piece escaped, http(s) addresses as links, nothing else."""
    out: list[str] = []
    last = 0
    for found in URL_RE.finditer(body):
        url = found.group(0).rstrip(_TRAILING)  # a sentence's full stop is not part of the address
        start, end = found.start(), found.start() + len(url)
        out.append(str(escape(body[last:start])))
        out.append(f'<a href="{escape(url)}" rel="noopener">{escape(url)}</a>')
        last = end
    out.append(str(escape(body[last:])))
    return Markup("".join(out))  # noqa: S704 - built only from escaped pieces


@router.get("/dev/mail", response_class=HTMLResponse)
def dev_mail(request: Request, engine: EngineDep, t: TranslatorDep) -> HTMLResponse:
    if engine.settings.environment != "development":
        raise HTTPException(404, "Not Found")
    sink: DevMail | None = engine.devmail
    if sink is not None:
        engine.outbox.flush(timeout=5)  # what this process queued is shown, not still on its way
    messages = list(reversed(sink.messages())) if sink is not None else []
    return render(request, "dev_mail.html", t, sink=sink, messages=messages, linkify=linkify)
