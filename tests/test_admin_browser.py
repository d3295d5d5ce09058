"""Every admin console page in Debian chromium at 390×844 and 1280×800, in English and Polish
(#17): no page is wider than the screen, each carries its language, a Polish page shows no
English sentence of the console's catalogues, and a screenshot of each is saved under
``/tmp/shots-admin/`` (and ``artifacts/screenshots/``) for people to look at.

Marker ``browser``; skipped without /usr/bin/chromium, except under CI=true.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pledge.rights.request_input import objectable_purposes
from pledge.web.app import create_app
from pledge.web.i18n import catalogue
from tests.browser import keep_shot, launch_chromium, serving
from tests.web_support import PASSWORD, Site, code_for, csrf_of, make_platform, people, site

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots-admin")
SIZES = ((390, 844), (1280, 800))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_platform(tmp_path_factory.mktemp("admin-browser") / "omni-one", users=40)


@pytest.fixture(scope="module")
def s(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with site(template, tmp_path_factory.mktemp("admin-browser-site") / "site") as one:
        yield one


def verified(s: Site, email: str, kind: str, **params: object) -> str:
    view = s.engine.requests.create(kind, {"email": email}, params=params or None)
    s.engine.requests.start_verification(view.id)
    s.engine.requests.verify_code(view.id, code_for(s.sink, email))
    return s.engine.requests.after_verified(view.id, "subject").id


def seed(s: Site) -> dict[str, str]:
    e = people(s.cfg, 8)
    purpose = objectable_purposes(s.engine.policy)[0][0]
    out = {"erasure": verified(s, e[0], "erasure", details="Please close my account; I moved to another service."),
           "rectification": verified(s, e[1], "rectification", changes={"users.name": "Anna Nowak-Kowalska"},
                                     details="I married in May."),
           "objection": verified(s, e[2], "objection", purpose=purpose),
           "done": verified(s, e[3], "erasure"), "access": verified(s, e[4], "access")}
    s.engine.requests.approve(out["done"], actor="admin:0")
    s.engine.requests.approve(out["access"], actor="admin:0")
    out["officer"] = s.engine.requests.open_on_initiative(
        "erasure", {"email": e[5]}, ground="child_under_minimum_age", note="Birth date shows age 12",
        actor="admin:0", evidence="Parent's letter, support ticket 4411").id
    now = s.engine.now()
    breach = s.engine.breaches.open(
        title="Chat messages readable through a public export bucket", aware_at=now - timedelta(hours=20),
        collections=["main.messages"], fields=["main.messages.content"], window_from=datetime(2024, 1, 1, tzinfo=UTC),
        window_to=now - timedelta(days=1), description="An export bucket was public for two weeks.", actor="officer")
    s.engine.breaches.assess(breach.id, likelihood="high", severity="high", encrypted=False,
                             measures="Bucket closed, keys rotated.", actor="officer")
    out["breach"] = str(breach.id)
    return out


def pages(ids: dict[str, str]) -> list[tuple[str, str]]:
    b = ids["breach"]
    return [("queue", "/admin"), ("queue-filtered", "/admin?kind=erasure&due=30&regime=gdpr"),
            ("queue-bad-filter", "/admin?due=-1&state=nope"),
            ("request-erasure", f"/admin/requests/{ids['erasure']}"),
            ("request-confirm", f"/admin/requests/{ids['erasure']}/approve"),
            ("request-rectification", f"/admin/requests/{ids['rectification']}"),
            ("request-objection", f"/admin/requests/{ids['objection']}"),
            ("request-done", f"/admin/requests/{ids['done']}"), ("request-access-done", f"/admin/requests/{ids['access']}"),
            ("request-officer", f"/admin/requests/{ids['officer']}"),
            ("breaches", "/admin/breaches"), ("breach-new", "/admin/breaches/new"), ("breach", f"/admin/breaches/{b}"),
            ("breach-people", f"/admin/breaches/{b}/people"), ("datamap", "/admin/datamap"), ("metrics", "/admin/metrics"),
            ("prove", "/admin/prove")]


def english_of_console() -> list[str]:
    """English sentences of the console's catalogues that a Polish page must not show."""
    words = []
    for msgid, msgstr in catalogue("pl", ("admin", "console")).items():
        fixed = msgid.split("{")[0].strip()
        if msgstr != msgid and len(fixed.split()) >= 3:
            words.append(fixed)
    return words


def sign_in(page: Any, base: str, s: Site, email: str, lang: str) -> None:
    page.goto(f"{base}/admin/login?lang={lang}")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=code]", s.totp(email))
    page.click("form.card button[type=submit]")
    page.wait_for_url(f"{base}/admin")


def look(page: Any, name: str, lang: str, width: int, english: list[str]) -> None:
    page.wait_for_load_state("load")
    assert page.locator("html").get_attribute("lang") == lang, name
    wide = page.evaluate("document.documentElement.scrollWidth")
    inner = page.evaluate("window.innerWidth")
    if wide > inner:
        culprits = page.evaluate("""() => {
            const clipped = el => { for (let a = el.parentElement; a; a = a.parentElement) {
                if (getComputedStyle(a).overflowX !== 'visible' && a !== document.documentElement && a !== document.body)
                    return true; } return false; };
            return [...document.querySelectorAll('body *')]
              .filter(el => el.getBoundingClientRect().right > innerWidth + 1 && !clipped(el))
              .slice(0, 6).map(el => el.tagName + '.' + el.className + ': ' + (el.textContent || '').trim().slice(0, 50)); }""")
        raise AssertionError(f"{name} ({lang}, {width}px) is {wide}px wide: {culprits}")
    if lang == "pl":
        shown = page.evaluate("document.body.innerText")
        left = [w for w in english if w in shown]
        assert left == [], f"{name}: untranslated {left}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    target = SHOTS / f"admin-{lang}-{width}-{name}.png"
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 3000
    keep_shot(target)


def test_every_admin_page_fits_the_screen_in_both_languages(s: Site) -> None:
    ids = seed(s)
    english = english_of_console()
    owner = s.admin("owner")
    with launch_chromium() as browser, serving(create_app(s.engine), timeout=15) as base:
        for lang in ("en", "pl"):
            for width, height in SIZES:
                ctx = browser.new_context(viewport={"width": width, "height": height},
                                          locale="pl-PL" if lang == "pl" else "en-GB")
                page = ctx.new_page()
                s.clock.advance(seconds=31)  # a fresh TOTP step per sign-in
                sign_in(page, base, s, owner, lang)
                for name, path in pages(ids):
                    response = page.goto(base + path)
                    assert response is not None and response.status in (200, 422), (path, response and response.status)
                    look(page, name, lang, width, english)
                ctx.close()


def test_viewer_pages_and_the_lockout_page(s: Site) -> None:
    ids = seed(s)
    english = english_of_console()
    viewer = s.admin("viewer")
    locked = s.admin("privacy_officer")
    client = s.new_client()
    for _ in range(10):  # ten failures lock the account (pledge.signin_throttle.ACCOUNT)
        form = client.get("/admin/login").text
        client.post("/admin/login", data={"csrf": csrf_of(form), "email": locked, "password": "not it at all",
                                          "code": "000000"})
        s.clock.advance(hours=1.1)
    with launch_chromium() as browser, serving(create_app(s.engine), timeout=15) as base:
        for lang in ("en", "pl"):
            for width, height in SIZES:
                ctx = browser.new_context(viewport={"width": width, "height": height})
                page = ctx.new_page()
                page.goto(f"{base}/admin/login?lang={lang}")
                page.fill("input[name=email]", locked)
                page.fill("input[name=password]", PASSWORD)
                page.fill("input[name=code]", s.totp(locked))
                with page.expect_response(f"{base}/admin/login") as answer:
                    page.click("form.card button[type=submit]")
                assert answer.value.status == 429
                assert page.locator("form.card").count() == 0  # no form that would only be refused
                look(page, "lockout", lang, width, english)
                s.clock.advance(seconds=31)
                sign_in(page, base, s, viewer, lang)
                for name, path in (("viewer-request", f"/admin/requests/{ids['erasure']}"),
                                   ("viewer-breach-people", f"/admin/breaches/{ids['breach']}/people")):
                    page.goto(base + path)
                    assert "•••" in page.evaluate("document.body.innerText")
                    look(page, name, lang, width, english)
                ctx.close()
