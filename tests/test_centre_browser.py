"""What people see, in chromium: every public page at phone (390×844) and desktop (1280×800)
sizes, in English and Polish, with no horizontal overflow and the language switch in view.

Pages: home, notice, cookie banner demo, the privacy centre (cards, each kind's form, an
inline error), a status page of a partial erasure (what was kept, the certificate), a
completed access request (the download), the privacy choices, the demo mailbox.
Screenshots go to ``$PLEDGE_SHOTS`` (default ``artifacts/screenshots``), named
``centre-<lang>-<width>-<page>.png``.

Marker ``browser``; skipped without /usr/bin/chromium, except under CI=true.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pledge.consent.unsubscribe import preferences_token
from pledge.devmail import DevMail, free_port
from pledge.engine import Engine
from pledge.settings import Settings, load_config
from pledge.web.app import create_app
from tests.browser import SHOTS, launch_chromium, serving
from tests.test_centre_guided import _with_invoices
from tests.test_screens import english_sentences
from tests.web_support import make_platform, people

pytestmark = pytest.mark.browser

SIZES = ((390, 844), (1280, 800))
OUT = Path(os.environ.get("PLEDGE_SHOTS", str(SHOTS)))


@dataclass
class Served:
    engine: Engine
    base: str
    cfg: Path
    pages: dict[str, str]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with launch_chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    cfg = make_platform(tmp_path_factory.mktemp("centre-browser") / "omni-one", users=40)
    sink = DevMail("127.0.0.1", 0).start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(environment="development", smtp_host="127.0.0.1", smtp_port=sink.port, base_url=base)
    engine = Engine(load_config(cfg, settings), settings, devmail=sink)
    svc = engine.requests
    erasure = svc.open_on_initiative("erasure", {"email": _with_invoices(cfg)}, ground="legal_order",
                                     actor="officer:1", lang="pl")
    svc.approve(erasure.id, actor="officer:1")
    access = svc.open_on_initiative("access", {"email": people(cfg, 3)[2]}, ground="legal_order", actor="officer:1")
    svc.approve(access.id, actor="officer:1")
    pages = {
        "home": "/", "notice": "/notice", "consent-demo": "/consent/demo", "centre": "/privacy",
        "form-rectification": "/privacy/new/rectification", "form-objection": "/privacy/new/objection",
        "form-withdraw": "/privacy/new/withdraw_consent",
        "status-partial": f"/privacy/status/{erasure.id}?token={svc.status_token(erasure.id)}",
        "status-access": f"/privacy/status/{access.id}?token={svc.status_token(access.id)}",
        "choices": f"/preferences/{preferences_token(engine, people(cfg, 1)[0])}",
        "dev-mail": "/dev/mail",
    }
    try:
        with serving(create_app(engine), port):
            yield Served(engine, base, cfg, pages)
    finally:
        sink.stop()
        engine.close()


def _english_labels(engine: Engine) -> list[str]:
    from pledge.policy.localize import SECTIONS

    return [e.name for section in SECTIONS for e in getattr(engine.policy, section)
            if "pl" in e.translations and e.translations["pl"].name not in (None, e.name)]


def _check(page: Any, width: int, name: str, lang: str, banned: list[str]) -> None:
    page.wait_for_load_state("load")
    assert page.locator("html").get_attribute("lang") == lang, name
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} ({lang}, {width}px) is {overflow}px too wide"
    switch = page.locator(".lang a[lang=pl]" if lang == "en" else ".lang a[lang=en]")
    box = switch.bounding_box()
    assert switch.is_visible() and box is not None and box["x"] + box["width"] <= width, f"{name}: switch"
    if banned:
        text = page.evaluate("""() => { const b = document.body.cloneNode(true);
            b.querySelectorAll('article.mail, script').forEach(m => m.remove()); return b.innerText; }""")
        assert [s for s in banned if s in text] == [], f"{name}: English on a Polish page"
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / f"centre-{lang}-{width}-{name}.png"
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 3000


@pytest.mark.parametrize("lang", ["en", "pl"])
def test_public_pages_fit_phones_and_desktops_in_both_languages(chromium: Any, served: Served, lang: str) -> None:
    banned = english_sentences(served.cfg) + _english_labels(served.engine) if lang == "pl" else []
    for width, height in SIZES:
        ctx = chromium.new_context(viewport={"width": width, "height": height},
                                   locale="pl-PL" if lang == "pl" else "en-GB")
        page = ctx.new_page()
        for name, path in served.pages.items():
            page.goto(served.base + path + ("&" if "?" in path else "?") + f"lang={lang}")
            _check(page, width, name, lang, banned)
        # the partial erasure names what was kept; its certificate downloads
        page.goto(served.base + served.pages["status-partial"] + f"&lang={lang}")
        assert page.locator("#kept-title").is_visible()
        with page.expect_download() as got:
            page.locator("#certificate-link").click()
        assert got.value.suggested_filename.startswith("erasure-certificate-")
        # an invalid date is refused beside its field, in the page's language
        page.goto(served.base + f"/privacy/new/rectification?lang={lang}")
        page.locator("#change-users-birth_date").evaluate("e => { e.type = 'text'; e.value = 'banana'; }")
        page.locator("#email").fill(people(served.cfg, 1)[0])
        with page.expect_response(re.compile(r"/privacy/requests$")) as answer:
            page.locator("form.card button[type=submit]").click()
        assert answer.value.status == 422
        assert page.locator("#change-users-birth_date-error").is_visible()
        _check(page, width, "form-rectification-error", lang, banned)
        ctx.close()


def test_api_docs_render_with_the_network_cut_off(chromium: Any, served: Served) -> None:
    ctx = chromium.new_context(viewport={"width": 1280, "height": 800})
    outside: list[str] = []

    def only_ours(route: Any) -> None:
        if route.request.url.startswith(served.base):
            route.continue_()
        else:  # no CDN, no font service: nothing outside this server answers
            outside.append(route.request.url)
            route.abort()

    ctx.route("**/*", only_ours)
    page = ctx.new_page()
    page.goto(served.base + "/docs")
    page.locator(".swagger-ui .info .title").wait_for(timeout=15000)
    assert "Pledge" in page.locator(".swagger-ui .info .title").inner_text()
    page.locator(".opblock").first.wait_for()
    assert outside == []
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "centre-en-1280-docs-offline.png"))
    ctx.close()


AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"


@pytest.mark.parametrize("lang", ["en", "pl"])
def test_axe_finds_no_serious_or_critical_violation(chromium: Any, served: Served, lang: str) -> None:
    """axe-core 4.14 (vendored from npm) on every public page, in both languages, at both sizes."""
    source = AXE.read_text(encoding="utf-8")
    found: list[str] = []
    for width, height in SIZES:
        ctx = chromium.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
        page = ctx.new_page()
        for name, path in served.pages.items():
            page.goto(served.base + path + ("&" if "?" in path else "?") + f"lang={lang}")
            page.wait_for_load_state("load")
            page.add_script_tag(content=source)
            result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                                   ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))"
                                   ".slice(0, 3)}))")
            found += [f"{name} {width}px: {v['id']} ({v['impact']}) {v['nodes']}" for v in result
                      if v["impact"] in ("serious", "critical")]
        ctx.close()
    assert found == []
