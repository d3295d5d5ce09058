"""The brand in chromium: the header (logo loaded, the colour painted), the choices receipt
and the demo mailbox's links, at phone (390×844) and desktop (1280×800) sizes, in English
and Polish, with no horizontal overflow. Screenshots go to ``$PLEDGE_SHOTS`` (default
``artifacts/screenshots``), named ``brand-<lang>-<width>-<page>.png``.

Marker ``browser``; skipped without /usr/bin/chromium, except under CI=true.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pledge.consent.unsubscribe import preferences_token
from pledge.devmail import DevMail, free_port
from pledge.engine import Engine
from pledge.settings import Settings, load_config
from pledge.web.app import create_app
from pledge.web.preferences import send_choices_link
from tests.browser import SHOTS, serving, shoot
from tests.web_support import make_platform, people

pytestmark = pytest.mark.browser

SIZES = ((390, 844), (1280, 800))
OUT = Path(os.environ.get("PLEDGE_SHOTS", str(SHOTS)))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, str]]:
    cfg = make_platform(tmp_path_factory.mktemp("brand-browser") / "omni-one", users=10)
    sink = DevMail("127.0.0.1", 0).start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(environment="development", smtp_host="127.0.0.1", smtp_port=sink.port, base_url=base)
    engine = Engine(load_config(cfg, settings), settings, devmail=sink)
    send_choices_link(engine, people(cfg, 1)[0], "pl")  # a mail with a link, for /dev/mail
    try:
        with serving(create_app(engine), port):
            yield engine, base
    finally:
        sink.stop()
        engine.close()


def _fits(page: Any, width: int, name: str, lang: str) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} ({lang}, {width}px) is {overflow}px too wide"
    shoot(page, OUT / f"brand-{lang}-{width}-{name}.png")


@pytest.mark.parametrize("lang", ["en", "pl"])
def test_the_brand_receipt_and_mailbox_fit_and_render(chromium: Any, served: tuple[Engine, str], lang: str) -> None:
    engine, base = served
    ctx = chromium.new_context(viewport={"width": SIZES[0][0], "height": SIZES[0][1]})
    page = ctx.new_page()
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{base}/privacy?lang={lang}")
        logo = page.locator("img.brand-logo")
        assert logo.evaluate("img => img.complete && img.naturalWidth > 0")  # served, not blocked by the CSP
        header = page.locator("header.top").evaluate("h => getComputedStyle(h).backgroundColor")
        assert header == "rgb(79, 70, 229)"  # #4f46e5 from /brand.css
        assert page.title().endswith("Omni One")
        _fits(page, width, "centre", lang)
        page.goto(f"{base}/admin/login?lang={lang}")
        _fits(page, width, "admin-login", lang)
        token = preferences_token(engine, f"brand-{lang}-{width}@example.org")  # a new person each time
        page.goto(f"{base}/preferences/{token}?lang={lang}")
        page.locator("input[name=purpose]").first.check()
        page.locator("form.card button[type=submit]").click()
        page.wait_for_selector("section.receipt")
        assert page.locator("section.receipt code").inner_text().startswith("C-")
        _fits(page, width, "choices-receipt", lang)
        page.goto(f"{base}/dev/mail?lang={lang}")
        links = page.locator("pre.mail-body a[rel=noopener]")
        assert links.count() >= 1 and links.first.get_attribute("href").startswith(base)
        _fits(page, width, "dev-mail", lang)
    ctx.close()
