"""One Jinja2 environment for every server-rendered page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from pledge.web.i18n import Translator

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def render(request: Request, name: str, t: Translator, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``name`` with the translator as ``_`` and the language as ``lang``."""
    response = templates.TemplateResponse(
        request, name, {"_": t, "lang": t.lang, **context}, status_code=status_code
    )
    if request.query_params.get("lang") in ("en", "pl"):
        response.set_cookie("lang", t.lang, max_age=365 * 86400, samesite="lax", httponly=True)  # Secure: web/headers
    return response
