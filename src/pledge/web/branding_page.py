"""``/brand.css`` and ``/brand/logo``: the deployment's colour and logo (pledge.branding).

``/brand.css`` holds only custom properties built from a colour the config loader checked
(``#rgb``/``#rrggbb``): the base template links it, so no page carries an inline style.
``/brand/logo`` serves the logo file named in ``branding.logo`` (a file in the deployment
folder, checked at load); an SVG is sent under a sandboxing Content-Security-Policy, so a
script inside it never runs on this origin, even when the file is opened directly.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, Response

from pledge.branding import LOGO_PATH, brand_css, brand_of
from pledge.settings import LOGO_TYPES
from pledge.web.deps import EngineDep

router = APIRouter(include_in_schema=False)

#: a logo is an image, never a document: no script, no plugin, no form, sandboxed
LOGO_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


@router.get("/brand.css")
def brand_stylesheet(engine: EngineDep) -> Response:
    return Response(brand_css(brand_of(engine)), media_type="text/css",
                    headers={"Cache-Control": "public, max-age=86400"})


@router.get(LOGO_PATH)
def brand_logo(engine: EngineDep) -> FileResponse:
    path = brand_of(engine).logo_file
    if path is None or not path.is_file():
        raise HTTPException(404, "Not Found")
    return FileResponse(path, media_type=LOGO_TYPES[path.suffix.lower()],
                        headers={"Cache-Control": "public, max-age=3600", "Content-Security-Policy": LOGO_CSP})
