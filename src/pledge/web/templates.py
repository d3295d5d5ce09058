"""One Jinja2 environment for every server-rendered page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from pledge.branding import Brand, brand_of
from pledge.web.i18n import Translator


def _brand(request: Request) -> dict[str, Any]:
    """Every page's ``brand`` (pledge.branding): the header, the title and the footer."""
    engine = getattr(request.app.state, "engine", None)
    return {"brand": brand_of(engine) if engine is not None else Brand(name="Pledge")}


templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"), context_processors=[_brand])


def functional_refused(request: Request) -> bool:
    """The visitor's cookie banner choice (``pledge_consent``) said no to functional cookies:
    then no cookie remembers their language either."""
    raw = request.cookies.get("pledge_consent")
    if not raw:
        return False
    try:
        state = json.loads(unquote(raw))
    except ValueError:
        return False
    choices = state.get("c") if isinstance(state, dict) else None
    return isinstance(choices, dict) and choices.get("functional") is False


def render(request: Request, name: str, t: Translator, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``name`` with the translator as ``_`` and the language as ``lang``."""
    response = templates.TemplateResponse(
        request, name, {"_": t, "lang": t.lang, **context}, status_code=status_code
    )
    if request.query_params.get("lang") in ("en", "pl") and not functional_refused(request):
        response.set_cookie("lang", t.lang, max_age=365 * 86400, samesite="lax", httponly=True)  # Secure: web/headers
    return response
