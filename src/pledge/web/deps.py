"""FastAPI dependency aliases shared by every router."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from pledge.context import Context
from pledge.web.i18n import Translator, pick_language, translator

#: the largest row id a store's integer column holds: a path id beyond it names no row (the
#: routes answer 404 before the driver raises on it)
MAX_ROW_ID = 2**63 - 1


# The two dependencies below block on nothing, so they are coroutines: FastAPI runs a plain
# function dependency in its thread pool, a hop there and back for every request (#19).
async def get_engine(request: Request) -> Context:
    engine: Context = request.app.state.engine
    return engine


def request_translator(request: Request) -> Translator:
    """The translator for the language the request asks for (``?lang=``, cookie, header)."""
    lang = pick_language(request.query_params.get("lang"), request.cookies.get("lang"),
                         request.headers.get("accept-language"))
    return translator(lang)


async def get_translator(request: Request) -> Translator:
    return request_translator(request)


def client_address(request: Request) -> str | None:
    """The asking network address, as the rate limits count it (pledge.ratelimit). Behind a
    reverse proxy, uvicorn's ``--forwarded-allow-ips`` names the proxies whose
    ``X-Forwarded-For`` it believes; nothing else here reads that header."""
    return request.client.host if request.client else None


EngineDep = Annotated[Context, Depends(get_engine)]
TranslatorDep = Annotated[Translator, Depends(get_translator)]
