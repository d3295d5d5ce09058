"""The cookie banner in a real browser (Debian chromium through Playwright).

Runs the app with uvicorn on a free loopback port and drives the demo page, where a
tagged analytics script would set ``window.__analyticsLoaded``.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from urllib.parse import unquote

import pytest
import uvicorn

from pledge.consent.unsubscribe import preferences_token
from pledge.engine import Engine
from pledge.web.app import create_app
from tests.consent_env import add_user, make_engine
from tests.services import in_ci

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
GPC_INIT = "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true});"


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    if not CHROMIUM.exists():
        msg = "/usr/bin/chromium is absent (make browser-deps installs it)"
        if in_ci():
            pytest.fail(msg + "; CI needs it")
        pytest.skip(msg)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield browser
        browser.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Engine, str]]:
    engine = make_engine(tmp_path)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(engine), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield engine, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    engine.close()


def shot(page: object, tmp_path: Path, name: str) -> None:
    target = tmp_path / name
    page.screenshot(path=str(target), full_page=True)  # type: ignore[attr-defined]
    assert target.stat().st_size > 5000
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(target, SHOTS / name)


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
    page.wait_for_load_state("load")
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
