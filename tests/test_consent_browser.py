"""The cookie banner in a real browser (Debian chromium through Playwright).

Runs the app with uvicorn on a free loopback port and drives the demo page, where a
tagged analytics script would set ``window.__analyticsLoaded``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from urllib.parse import unquote

import pytest

from pledge.consent.unsubscribe import preferences_token
from pledge.engine import Engine
from pledge.web.app import create_app
from tests.browser import SHOTS, serving, shoot
from tests.consent_env import add_user, make_engine

pytestmark = pytest.mark.browser

GPC_INIT = "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true});"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Engine, str]]:
    engine = make_engine(tmp_path)
    with serving(create_app(engine), timeout=15) as base:
        yield engine, base
    engine.close()


def shot(page: object, tmp_path: Path, name: str) -> None:
    shoot(page, SHOTS / name, min_bytes=5000)


def stored_choice(context: object) -> dict[str, object]:
    cookies = {c["name"]: c["value"] for c in context.cookies()}  # type: ignore[attr-defined]
    return json.loads(unquote(cookies["pledge_consent"]))  # type: ignore[no-any-return]


def test_banner_reject_accept_gpc_new_notice_and_languages(chromium: object, served: tuple[Engine, str],
                                                          tmp_path: Path) -> None:
    engine, base = served
    browser = chromium

    # 1. the banner appears, in English, focused and labelled; rejecting keeps analytics out
    ctx = browser.new_context(locale="en-GB")  # type: ignore[attr-defined]
    page = ctx.new_page()
    page.goto(f"{base}/consent/demo?lang=en")
    dialog = page.get_by_role("dialog", name="Cookies on this site")
    dialog.wait_for(state="visible")
    assert page.evaluate("document.activeElement.id") == "pledge-cb-title"
    assert page.get_by_label("Essential").is_disabled() and page.get_by_label("Essential").is_checked()
    assert not page.get_by_label("Analytics").is_checked()
    shot(page, tmp_path, "consent-banner-en.png")
    page.get_by_role("button", name="Reject all").click()
    assert dialog.count() == 0
    assert page.evaluate("typeof window.__analyticsLoaded") == "undefined"
    page.reload()
    assert page.get_by_role("dialog").count() == 0  # the choice is remembered
    assert page.evaluate("typeof window.__analyticsLoaded") == "undefined"
    assert stored_choice(ctx)["c"] == {"functional": False, "analytics": False, "marketing": False}
    ctx.close()

    # 2. accepting lets the tagged script run; keyboard works (Tab to the checkbox, Space)
    ctx = browser.new_context()  # type: ignore[attr-defined]
    page = ctx.new_page()
    page.goto(f"{base}/consent/demo?lang=en")
    page.get_by_role("dialog").wait_for(state="visible")
    page.get_by_label("Analytics").focus()
    page.keyboard.press("Space")
    assert page.get_by_label("Analytics").is_checked()
    page.get_by_role("button", name="Save my choices").click()
    page.wait_for_function("window.__analyticsLoaded === true")
    assert page.evaluate("typeof window.__marketingLoaded") == "undefined"
    assert page.locator("#analytics-state").inner_text() == "yes"

    # 3. a new notice version brings the banner back
    old = engine.policy.version
    engine.policy.version = "2099-01"
    try:
        page.reload()
        page.get_by_role("dialog").wait_for(state="visible")
        assert page.evaluate("typeof window.__analyticsLoaded") == "undefined"
        page.get_by_role("button", name="Accept all").click()
        page.wait_for_function("window.__marketingLoaded === true")
        assert stored_choice(ctx)["v"] == "2099-01"
    finally:
        engine.policy.version = old
    ctx.close()

    # 4. GPC on: sale and sharing are off without asking, even after "Accept all"
    email = add_user(engine, birth=date(1991, 3, 3))
    token = preferences_token(engine, email)
    ctx = browser.new_context(extra_http_headers={"Sec-GPC": "1"})  # type: ignore[attr-defined]
    ctx.add_init_script(GPC_INIT)
    page = ctx.new_page()
    page.goto(f"{base}/consent/demo?lang=en&token={token}")
    page.get_by_role("dialog").wait_for(state="visible")
    marketing = page.get_by_label("Marketing")
    assert marketing.is_disabled() and not marketing.is_checked()
    assert "Global Privacy Control" in page.get_by_role("dialog").inner_text()
    shot(page, tmp_path, "consent-banner-gpc-en.png")
    with page.expect_response(lambda r: r.url.endswith("/v1/consent")) as posted:
        page.get_by_role("button", name="Accept all").click()
    assert posted.value.status == 200
    page.wait_for_function("window.__analyticsLoaded === true")
    assert page.evaluate("typeof window.__marketingLoaded") == "undefined"
    assert stored_choice(ctx)["c"]["marketing"] is False  # type: ignore[index]
    assert engine.may(email, "analytics").allowed  # recorded server-side for the known person
    assert engine.may(email, "ad_sharing").code == "gpc"
    ctx.close()

    # 5. Polish
    ctx = browser.new_context(locale="pl-PL")  # type: ignore[attr-defined]
    page = ctx.new_page()
    page.goto(f"{base}/consent/demo?lang=pl")
    dialog = page.get_by_role("dialog", name="Pliki cookie w tym serwisie")
    dialog.wait_for(state="visible")
    assert page.get_by_role("button", name="Odrzucam wszystkie").is_visible()
    assert page.get_by_label("Analityczne").is_visible()
    shot(page, tmp_path, "consent-banner-pl.png")
    page.get_by_role("button", name="Akceptuję wszystkie").click()
    page.wait_for_function("window.__analyticsLoaded === true")
    ctx.close()
