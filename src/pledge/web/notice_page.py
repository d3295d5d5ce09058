"""The privacy notice on the site (``/notice``) and the re-consent link of a campaign.

``GET /notice?lang=en|pl`` renders :mod:`pledge.reports.notice` inside the site layout,
with a table of contents. The notification campaigns' emails link here.

``/notice/accept?token=…`` is the link a campaign email carries when a change needs the
person's consent. Opening it shows what changes and a button; only pressing the button
(a POST with the same signed token) records the acceptance through
:meth:`pledge.reports.campaign.Campaigns.accept`, so a mail scanner that follows links
never accepts on anyone's behalf. A broken, forged or foreign token gets a translated
error page (400).
"""

from __future__ import annotations

from babel.dates import format_date
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from itsdangerous import BadSignature, URLSafeSerializer
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from pledge.context import Context
from pledge.reports.campaign import CHANGE_LINES, OTHER_CHANGES, Campaign, CampaignError, Campaigns
from pledge.reports.notice import build_notice, to_html
from pledge.web.deps import EngineDep, TranslatorDep
from pledge.web.i18n import Translator, translator
from pledge.web.labels import policy_in
from pledge.web.templates import render

router = APIRouter(include_in_schema=False)

#: the salt :class:`Campaigns` signs acceptance links with (a test keeps the two in step)
ACCEPT_SALT = "pledge.notice.accept"


@router.get("/notice", response_class=HTMLResponse)
def notice(request: Request, engine: EngineDep, t: TranslatorDep) -> HTMLResponse:
    built = build_notice(engine.policy, t.lang)
    body = Markup(to_html(built))  # noqa: S704 - to_html escapes every text it writes
    return render(request, "notice.html", t, notice=built, body=body, policy=policy_in(engine, t))


def _campaign_of(engine: Context, token: str) -> Campaign | None:
    """The campaign a signed acceptance token names, or None when the token is not ours."""
    try:
        data = URLSafeSerializer(engine.keys.signers, salt=ACCEPT_SALT).loads(token)
        return Campaigns(engine).get(int(data["c"]))
    except (BadSignature, CampaignError, KeyError, TypeError, ValueError):
        return None


def _translator_for(request: Request, t: Translator, campaign: Campaign | None) -> Translator:
    """The person's chosen language, else the language the campaign wrote to them in."""
    chosen = request.query_params.get("lang") or request.cookies.get("lang")
    return t if chosen or campaign is None else translator(campaign.lang)


def _bad_link(request: Request, t: Translator) -> HTMLResponse:
    return render(request, "notice_accept.html", t, status_code=400, state="bad", campaign=None, token="",
                  changes=[], date="")


def _page(request: Request, t: Translator, campaign: Campaign, token: str, state: str) -> HTMLResponse:
    changes = [t(CHANGE_LINES[s]).lstrip("- ") if s in CHANGE_LINES else t(OTHER_CHANGES).lstrip("- ")
               for s in campaign.details.get("sections", [])] or [t(OTHER_CHANGES).lstrip("- ")]
    return render(request, "notice_accept.html", t, state=state, campaign=campaign, token=token,
                  changes=list(dict.fromkeys(changes)),
                  date=format_date(campaign.effective_at.date(), "long", locale=t.lang))


@router.get("/notice/accept", response_class=HTMLResponse)
def accept_form(request: Request, engine: EngineDep, t: TranslatorDep, token: str = "") -> HTMLResponse:
    campaign = _campaign_of(engine, token)
    t = _translator_for(request, t, campaign)
    if campaign is None:
        return _bad_link(request, t)
    return _page(request, t, campaign, token, "ask")


@router.post("/notice/accept", response_class=HTMLResponse)
async def accept(request: Request, engine: EngineDep, t: TranslatorDep) -> HTMLResponse:
    form = await request.form()
    token = str(form.get("token") or request.query_params.get("token") or "")
    return await run_in_threadpool(_accept, request, engine, t, token)


def _accept(request: Request, engine: Context, t: Translator, token: str) -> HTMLResponse:
    """Record the acceptance (on a worker thread: it reads and writes the store)."""
    campaign = _campaign_of(engine, token)
    t = _translator_for(request, t, campaign)
    if campaign is None:
        return _bad_link(request, t)
    try:
        Campaigns(engine).accept(token)
    except CampaignError:
        return _bad_link(request, t)
    return _page(request, t, campaign, token, "done")
