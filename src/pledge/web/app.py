"""The web application: JSON API, privacy centre and admin console on one engine."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from pledge.context import Context

log = logging.getLogger("pledge.web")


def create_app(engine: Context) -> FastAPI:
    """The app for ``engine``; raises :class:`pledge.keys.KeysMissing` at once when the
    deployment has no keys, rather than starting and failing every request."""
    engine.keys  # noqa: B018 - load the keys now
    app = FastAPI(
        title="Pledge",
        summary="Privacy policy as code: data-subject rights, retention, consent and records.",
        version="0.1.0",
        docs_url=None,  # web/docs_page: Swagger UI from our own static files, never a CDN
        redoc_url=None,
    )
    app.state.engine = engine
    if engine.settings.broker_url and not engine.jobs.distributed:
        log.warning("a broker is set but this engine runs its tasks in-process: build it with "
                    "jobs=pledge.jobs.runner_for (as `pledge serve` does) to hand requests to `pledge worker`s")
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")

    # the JSON API first: a request is matched against the routes in the order they were
    # included, one by one, and API clients call far more often than people load pages
    # (#19; no path is matched by two routes: tests/test_web_routes.py)
    from pledge.web import api_activity, api_consent, api_consent_version, api_requests

    app.include_router(api_requests.router)
    app.include_router(api_consent.router)
    app.include_router(api_consent_version.router)  # the decisions epoch, for caching clients
    app.include_router(api_activity.router)

    from pledge.web import docs_page, errors, home, notice_page

    app.include_router(docs_page.router)
    app.include_router(home.router)
    app.include_router(notice_page.router)
    errors.install(app)

    from pledge.web import consent_receipts, preferences

    app.include_router(consent_receipts.router)  # anonymous visitors' banner choices
    app.include_router(preferences.router)

    from pledge.web import admin, center, devmail_page

    app.include_router(center.router)
    app.include_router(admin.router)
    app.include_router(devmail_page.router)

    from pledge.web import admin_breach, admin_prove

    app.include_router(admin_breach.router)
    app.include_router(admin_prove.router)

    from pledge.retention import scheduler
    from pledge.web import art19_page

    app.include_router(art19_page.router)
    from pledge.web import branding_page

    app.include_router(branding_page.router)  # /brand.css and /brand/logo (pledge.yaml's branding:)
    scheduler.attach(app, engine)  # daily sweep in-process (off under pytest unless asked)
    from pledge import outbox

    outbox.attach(app, engine)  # mail leaves from a background sender, never from a page

    from pledge.web.headers import SecurityHeaders
    from pledge.web.limits import BodyLimit

    app.add_middleware(BodyLimit, max_bytes=engine.settings.max_body_bytes)
    from pledge.branding import brand_of

    app.add_middleware(SecurityHeaders, https=engine.settings.base_url.lower().startswith("https://"),
                       images=brand_of(engine).logo_origin or "")
    from pledge.web import ops

    ops.install(app, engine)  # /healthz /readyz /metrics, and the request log (the outermost middleware)
    return app
