"""``/docs``: Swagger UI for the JSON API, served from this server (no CDN), so it works offline.

The assets are swagger-ui-dist 5.35.0 from npm, vendored under ``static/vendor/swagger-ui/``
with their licence (Apache-2.0; ``VERSION`` says where they came from).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)
VENDOR = "/static/vendor/swagger-ui"


@router.get("/docs", response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(openapi_url=request.app.openapi_url or "/openapi.json", title="Pledge · API",
                               swagger_js_url=f"{VENDOR}/swagger-ui-bundle.js",
                               swagger_css_url=f"{VENDOR}/swagger-ui.css",
                               swagger_favicon_url="/static/favicon.svg")
