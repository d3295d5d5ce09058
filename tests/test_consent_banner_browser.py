"""The banner in Chromium at phone and desktop sizes, in English and Polish: cookies listed per
category, the notice linked, GPC honoured and said, a visitor's choice kept under a receipt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pledge.store.tables.consent import consent_records
from pledge.web.app import create_app
from tests.browser import launch_chromium, serving
from tests.test_consent_platforms import platform_engine

SHOTS = Path("/tmp/shots-centre2")
SIZES = [(390, 844), (1280, 800)]


@pytest.fixture(scope="module")
def browser() -> Any:
    with launch_chromium() as b:
        yield b


@pytest.mark.parametrize("lang", ["en", "pl"])
@pytest.mark.parametrize(("width", "height"), SIZES)
def test_banner_with_gpc(browser: Any, tmp_path: Path, lang: str, width: int, height: int) -> None:
    engine = platform_engine("onestepai", tmp_path)
    try:
        with serving(create_app(engine)) as base:
            ctx = browser.new_context(viewport={"width": width, "height": height},
                                      extra_http_headers={"Sec-GPC": "1"})
            page = ctx.new_page()
            page.goto(f"{base}/consent/demo?lang={lang}")
            banner = page.locator(".pledge-cb")
            banner.wait_for()
            gpc = page.locator("#pledge-cb-gpc")
            assert "Global Privacy Control" in gpc.inner_text()
            assert page.locator("#pledge-cb-marketing").is_disabled()
            page.locator(".pledge-cb details").first.evaluate("d => d.open = true")
            assert "pledge_consent" in banner.inner_text()
            assert ("180 dni" if lang == "pl" else "180 days") in banner.inner_text()
            notice = page.locator(".pledge-cb a.pledge-cb-notice")
            assert notice.get_attribute("href").endswith(f"/notice?lang={lang}")
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / f"banner-gpc-{lang}-{width}.png"))
            page.locator('.pledge-cb button[data-action="accept"]').click()
            page.wait_for_function("() => (document.cookie.match(/pledge_consent=([^;]+)/) || [])[1] "
                                   "&& decodeURIComponent(document.cookie).includes('rcpt_')", timeout=5000)
            assert page.evaluate("window.__marketingLoaded === true") is False
            assert page.evaluate("window.__analyticsLoaded === true") is True
            ctx.close()
    finally:
        with engine.store.connect() as conn:
            recorded = list(conn.execute(select(consent_records)))
        engine.close()
    assert recorded and all(r.subject_key.startswith("rcpt_") and r.gpc for r in recorded)
    assert {r.purpose: r.state for r in recorded}["cookies.marketing"] == "refused"

