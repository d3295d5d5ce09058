"""The banner in Chromium at phone and desktop sizes, in English and Polish: cookies listed per
category, the notice linked, GPC honoured and said, a visitor's choice kept under a receipt —
on Pledge's own demo page and embedded on the platform's own site (another origin, listed in
``banner_origins``); a site that is not listed records nothing.

One browser for the session; one engine (onestepai, whose marketing cookies sell or share)
and one server for the module, plus a small web server standing for the platform's site.
Screenshots go to ``$PLEDGE_SHOTS`` (default ``artifacts/screenshots``).
"""

from __future__ import annotations

import http.server
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import yaml
from sqlalchemy import select

from pledge.devmail import free_port
from pledge.engine import Engine
from pledge.settings import Settings
from pledge.store.tables.consent import consent_records
from pledge.web.app import create_app
from tests.browser import SHOTS, serving, shoot
from tests.test_consent_platforms import platform_engine

pytestmark = pytest.mark.browser

OUT = Path(os.environ.get("PLEDGE_SHOTS", str(SHOTS)))
SIZES = [(390, 844), (1280, 800)]
RECEIPT = "() => { const m = document.cookie.match(/pledge_consent=([^;]+)/); " \
          "return m && JSON.parse(decodeURIComponent(m[1])).r || null; }"


@dataclass
class Banner:
    engine: Engine
    base: str  # Pledge
    site: str  # the platform's own site, listed in banner_origins
    stranger: str  # the same page on an origin that is not listed


def platform_site(port: int, pledge: str) -> tuple[http.server.ThreadingHTTPServer, threading.Thread]:
    """A page of the platform's own site that embeds the banner from Pledge (another origin)."""
    page = f"""<!doctype html><html lang="pl"><head><meta charset="utf-8"><title>OneStepAI</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head><body>
<main><h1>OneStepAI</h1><p>Strona platformy z banerem Pledge.</p></main>
<script type="text/plain" data-category="analytics">window.__analyticsLoaded = true;</script>
<script src="{pledge}/consent.js" data-lang="pl"></script></body></html>""".encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the standard library's name
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *_args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture(scope="module")
def banner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Banner]:
    folder = tmp_path_factory.mktemp("banner")
    platform_engine("onestepai", folder).close()  # the example's files and its platform tables
    port, site_port = free_port(), free_port()
    cfg = folder / "pledge.yaml"
    cfg.write_text(yaml.safe_dump({**yaml.safe_load(cfg.read_text()),
                                   "banner_origins": [f"http://localhost:{site_port}"]}))
    engine = Engine.from_config_file(cfg, Settings(environment="test"))
    site, thread = platform_site(site_port, f"http://127.0.0.1:{port}")
    try:
        with serving(create_app(engine), port) as base:
            yield Banner(engine, base, f"http://localhost:{site_port}", f"http://127.0.0.1:{site_port}")
    finally:
        site.shutdown()
        thread.join(timeout=5)
        engine.close()


def recorded(engine: Engine, receipt: str) -> dict[str, tuple[str, bool]]:
    with engine.store.connect() as conn:
        rows = conn.execute(select(consent_records).where(consent_records.c.subject_key == receipt))
        return {r.purpose: (r.state, bool(r.gpc)) for r in rows}


def everything(engine: Engine) -> list[Any]:
    with engine.store.connect() as conn:
        return list(conn.execute(select(consent_records)))


@pytest.mark.parametrize("lang", ["en", "pl"])
def test_banner_with_gpc(chromium: Any, banner: Banner, lang: str) -> None:
    for width, height in SIZES:
        ctx = chromium.new_context(viewport={"width": width, "height": height}, extra_http_headers={"Sec-GPC": "1"})
        page = ctx.new_page()
        page.goto(f"{banner.base}/consent/demo?lang={lang}")
        box = page.locator(".pledge-cb")
        box.wait_for()
        assert "Global Privacy Control" in page.locator("#pledge-cb-gpc").inner_text()
        assert page.locator("#pledge-cb-marketing").is_disabled()
        page.locator(".pledge-cb details").first.evaluate("d => d.open = true")
        assert "pledge_consent" in box.inner_text()
        assert ("180 dni" if lang == "pl" else "180 days") in box.inner_text()
        notice = page.locator(".pledge-cb a.pledge-cb-notice")
        assert notice.get_attribute("href").endswith(f"/notice?lang={lang}")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        shoot(page, OUT / f"banner-gpc-{lang}-{width}.png")
        page.locator('.pledge-cb button[data-action="accept"]').click()  # "Accept all", with GPC on
        receipt = page.wait_for_function(RECEIPT).json_value()
        assert receipt.startswith("rcpt_")
        assert page.evaluate("window.__marketingLoaded === true") is False
        assert page.evaluate("window.__analyticsLoaded === true") is True
        states = recorded(banner.engine, receipt)  # kept server-side, GPC honoured and recorded
        assert states["cookies.marketing"] == ("refused", True) and states["advertising"] == ("refused", True)
        assert states["cookies.analytics"] == ("given", True)
        ctx.close()


def test_the_banner_embedded_on_the_platforms_own_site_records_a_receipt(chromium: Any, banner: Banner) -> None:
    """The platform's site (localhost, listed) embeds consent.js from Pledge (127.0.0.1): the
    choice is kept server-side under a receipt the page's own cookie carries; the same page on
    an origin that is not listed keeps the choice in its cookie only."""
    for width, height in SIZES:
        ctx = chromium.new_context(viewport={"width": width, "height": height}, locale="pl-PL")
        page = ctx.new_page()
        page.goto(banner.site + "/")
        page.get_by_role("dialog", name="Pliki cookie w tym serwisie").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        shoot(page, OUT / f"banner-embedded-pl-{width}.png")
        with page.expect_response(f"{banner.base}/v1/consent/receipt") as answer:
            page.get_by_role("button", name="Odrzucam wszystkie").click()
        assert answer.value.status == 200
        assert answer.value.headers["access-control-allow-origin"] == banner.site
        receipt = page.wait_for_function(RECEIPT).json_value()
        assert receipt.startswith("rcpt_") and receipt == answer.value.json()["receipt"]
        states = recorded(banner.engine, receipt)
        assert states["cookies.analytics"] == ("refused", False) and states["cookies.marketing"][0] == "refused"
        assert page.evaluate("typeof window.__analyticsLoaded") == "undefined"
        # the visitor changes their mind later: the same receipt, one history
        page.reload()
        page.evaluate("PledgeConsent.open()")
        with page.expect_response(f"{banner.base}/v1/consent/receipt"):
            page.get_by_role("button", name="Akceptuję wszystkie").click()
        page.wait_for_function("window.__analyticsLoaded === true")
        assert page.evaluate(RECEIPT) == receipt and recorded(banner.engine, receipt)["cookies.analytics"][0] == "given"
        ctx.close()

    ctx = chromium.new_context()
    page = ctx.new_page()
    page.goto(banner.stranger + "/")  # the same page, from an origin Pledge does not know
    page.get_by_role("dialog").wait_for()
    before = len(everything(banner.engine))
    with page.expect_request(f"{banner.base}/v1/consent/receipt") as sent:
        page.get_by_role("button", name="Akceptuję wszystkie").click()
    answer = sent.value.response()  # refused (403, without CORS the page may not even read it)
    assert answer is None or answer.status == 403
    assert len(everything(banner.engine)) == before  # nothing recorded
    page.wait_for_function("window.__analyticsLoaded === true")  # the choice still counts on the page
    state = json.loads(unquote(next(c["value"] for c in ctx.cookies() if c["name"] == "pledge_consent")))
    assert state["c"]["analytics"] is True and "r" not in state  # but no receipt: nothing was recorded
    ctx.close()
