"""The home page: a summary of the policy this deployment enforces."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from pledge.web.deps import EngineDep, TranslatorDep
from pledge.web.templates import render

router = APIRouter()


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def home(request: Request, engine: EngineDep, t: TranslatorDep) -> HTMLResponse:
    return render(request, "home.html", t, policy=engine.policy, config=engine.config)


@router.get("/healthz", tags=["meta"])
def healthz(engine: EngineDep) -> dict[str, str]:
    return {"status": "ok", "platform": engine.config.name}
