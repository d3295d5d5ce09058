"""What people see, in chromium: every public page at phone (390×844) and desktop (1280×800)
sizes, in English and Polish, with no horizontal overflow, the language switch in view, no
English on a Polish page, and no serious or critical axe-core violation.

Pages: home, notice, a notice change to accept (and a broken link to one), the cookie banner
demo, the privacy centre (cards, each kind's form, an inline error, the code page, someone
else's request), a status page of a partial erasure (what was kept, the certificate), a
completed access request (the download), the privacy choices, unsubscribing, a missing page,
the demo mailbox, the console's sign-in. Screenshots go to ``$PLEDGE_SHOTS`` (default
``artifacts/screenshots``), named ``centre-<lang>-<width>-<page>.png``.

One browser for the session, one server for the module, one context per size (the page is
reused from one address to the next); axe-core is put in every page by the context
(``add_init_script``, which the pages' CSP does not stop) and runs on each page as it is checked.

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
from babel.dates import format_date

from pledge.consent.unsubscribe import preferences_token, unsubscribe_token
from pledge.devmail import DevMail, free_port
from pledge.engine import Engine
from pledge.reports.campaign import Campaigns
from pledge.rights.kept import kept_items
from pledge.settings import Settings, load_config
from pledge.web.app import create_app
from tests.browser import SHOTS, serving, shoot
from tests.test_centre_guided import _with_invoices
from tests.test_web_polish import catalogue_english, policy_english
from tests.web_support import make_platform, people

pytestmark = pytest.mark.browser

SIZES = ((390, 844), (1280, 800))
OUT = Path(os.environ.get("PLEDGE_SHOTS", str(SHOTS)))
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
AXE_RUN = ("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
           ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
           ".map(v => v.id + ' (' + v.impact + ') ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))")


@dataclass
class Served:
    engine: Engine
    base: str
    cfg: Path
    pages: dict[str, str]
    partial: str  # the partial erasure's request id


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
    a, b, c = people(cfg, 3)
    access = svc.open_on_initiative("access", {"email": c}, ground="legal_order", actor="officer:1")
    svc.approve(access.id, actor="officer:1")
    waiting = svc.create("access", {"email": b})
    svc.start_verification(waiting.id)
    campaigns = Campaigns(engine)
    cid = campaigns.start("policy_change", reconsent=True, details={"version": "2099-01", "sections": ["retention"]})
    consent = next(p.key for p in engine.policy.purposes if p.consent_required or p.legal_basis == "consent")
    pages = {
        "home": "/", "notice": "/notice", "notice-accept": f"/notice/accept?token={campaigns.accept_token(cid, a)}",
        "notice-accept-bad": "/notice/accept?token=cut-short", "consent-demo": "/consent/demo",
        "centre": "/privacy", "form-access": "/privacy/new/access",
        "form-rectification": "/privacy/new/rectification", "form-objection": "/privacy/new/objection",
        "form-withdraw": "/privacy/new/withdraw_consent", "verify": f"/privacy/requests/{waiting.id}/verify",
        "someone-elses": f"/privacy/requests/{access.id}",
        "status-partial": f"/privacy/status/{erasure.id}?token={svc.status_token(erasure.id)}",
        "status-access": f"/privacy/status/{access.id}?token={svc.status_token(access.id)}",
        "choices": f"/preferences/{preferences_token(engine, a)}",
        "unsubscribe": f"/unsubscribe/{unsubscribe_token(engine, a, consent)}",
        "not-found": "/no-such-page", "dev-mail": "/dev/mail", "admin-login": "/admin/login",
        "choices-bad-link": "/preferences/not-a-signed-link", "request-missing": "/privacy/requests/req_nothing",
        "art19-ask": "/v1/art19/ack?token=cut-short",  # the button; the POST checks the token
    }
    try:
        with serving(create_app(engine), port):
            yield Served(engine, base, cfg, pages, erasure.id)
    finally:
        sink.stop()
        engine.close()


class Look:
    """Checks one loaded page: language, width, switch, Polish wording, axe; takes the picture."""

    def __init__(self, page: Any, width: int, lang: str, banned: list[str]) -> None:
        self.page, self.width, self.lang, self.banned = page, width, lang, banned
        self.violations: list[str] = []

    def __call__(self, name: str, *, axe: bool = True) -> None:
        page, width, lang = self.page, self.width, self.lang
        assert page.locator("html").get_attribute("lang") == lang, name
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} ({lang}, {width}px) is {overflow}px too wide"
        switch = page.locator(".lang a[lang=pl]" if lang == "en" else ".lang a[lang=en]")
        box = switch.bounding_box()
        assert switch.is_visible() and box is not None and box["x"] + box["width"] <= width, f"{name}: switch"
        if self.banned:
            text = page.evaluate("""() => { const b = document.body.cloneNode(true);
                b.querySelectorAll('article.mail, script').forEach(m => m.remove()); return b.innerText; }""")
            assert [s for s in self.banned if s in text] == [], f"{name}: English on a Polish page"
        if axe:  # the context injects axe-core into every page (add_init_script)
            self.violations += [f"{name} {width}px: {v}" for v in page.evaluate(AXE_RUN)]
        shoot(page, OUT / f"centre-{lang}-{width}-{name}.png")


def _url(served: Served, path: str, lang: str) -> str:
    return served.base + path + ("&" if "?" in path else "?") + f"lang={lang}"


@pytest.mark.parametrize("lang", ["en", "pl"])
def test_public_pages_fit_phones_and_desktops_in_both_languages(chromium: Any, served: Served, lang: str) -> None:
    """Every public page at both sizes: fits, speaks the language, no serious axe finding."""
    banned = catalogue_english() + policy_english(served.engine.policy) if lang == "pl" else []
    statuses = {"notice-accept-bad": 400, "someone-elses": 403, "not-found": 404, "choices-bad-link": 400,
                "request-missing": 403}
    found: list[str] = []
    for width, height in SIZES:
        ctx = chromium.new_context(viewport={"width": width, "height": height},
                                   locale="pl-PL" if lang == "pl" else "en-GB")
        ctx.add_init_script(script=AXE.read_text(encoding="utf-8"))  # axe-core in every page, past the CSP
        page = ctx.new_page()
        look = Look(page, width, lang, banned)
        for name, path in served.pages.items():
            response = page.goto(_url(served, path, lang))
            assert response is not None and response.status == statuses.get(name, 200), (name, response.status)
            look(name)
        # what a button press leads to: unsubscribed, the notice change accepted, an Art. 19 answer
        for name, path, form in (("unsubscribe-done", "unsubscribe", "form[action^='/unsubscribe/']"),
                                 ("notice-accept-done", "notice-accept", "form[action='/notice/accept']"),
                                 ("art19-answer", "art19-ask", "form[action='/art19/ack']")):
            page.goto(_url(served, served.pages[path], lang))
            with page.expect_navigation():
                page.locator(form + " button[type=submit]").click()
            look(name)
        # the partial erasure names what was kept, under which law, until when; its certificate downloads
        page.goto(_url(served, served.pages["status-partial"], lang))
        kept = page.locator("#kept-title").locator("xpath=..").inner_text()
        items = kept_items(served.engine.policy, served.engine.requests.get(served.partial).result, lang)
        assert items
        for item in items:  # each exemption: its name, its law, its end date, in the page's language
            for words in (item.what, item.law, format_date(item.until, "long", locale=lang)):
                assert words in kept, (words, kept)
        assert ("Ordynacja podatkowa" if lang == "pl" else "Polish Tax Ordinance") in kept
        with page.expect_download() as got:
            page.locator("#certificate-link").click()
        assert got.value.suggested_filename.startswith("erasure-certificate-")
        # a date is typed as its hint says; a wrong one is refused beside its field
        page.goto(_url(served, "/privacy/new/rectification", lang))
        birth = page.locator("#change-users-birth_date")
        assert birth.get_attribute("type") == "text"
        hint = page.locator("#change-users-birth_date-hint").inner_text()
        birth.fill("1990-05-17")
        assert birth.input_value() == "1990-05-17" and "1990-05-17" in hint  # what is shown is what the hint says
        birth.fill("17.05.1990")  # a locale's order
        page.locator("#email").fill(people(served.cfg, 1)[0])
        with page.expect_response(re.compile(r"/privacy/requests$")) as answer:
            page.locator("form.card button[type=submit]").click()
        assert answer.value.status == 422
        error = page.locator("#change-users-birth_date-error")
        assert error.is_visible() and "1990-05-17" in error.inner_text()
        assert birth.get_attribute("aria-invalid") == "true" and birth.input_value() == "17.05.1990"
        look("form-rectification-error")
        found += look.violations
        ctx.close()
    assert found == [], "axe-core: " + "; ".join(found)


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


def test_axe_would_catch_a_serious_violation(chromium: Any, served: Served) -> None:
    """The scan is not blind: an image without a text alternative is reported as critical."""
    ctx = chromium.new_context()
    ctx.add_init_script(script=AXE.read_text(encoding="utf-8"))
    page = ctx.new_page()
    page.goto(_url(served, "/privacy", "en"))
    assert page.evaluate(AXE_RUN) == []
    page.evaluate("""() => { const i = document.createElement('img'); i.src = '/favicon.svg';
        document.querySelector('main').appendChild(i); }""")
    assert any(v.startswith("image-alt") for v in page.evaluate(AXE_RUN))
    ctx.close()
