"""Every admin console page in Debian chromium at 390×844 and 1280×800, in English and Polish
(#17): no page is wider than the screen, each carries its language, a Polish page shows no
English sentence of the catalogues and no English word of the policy, and a screenshot of
each is saved under ``$PLEDGE_SHOTS`` (default ``artifacts/screenshots``), named
``admin-<lang>-<width>-<page>.png``, for people to look at.

One browser for the session, one seeded site and one server for the module; each language
signs in once and the same page is resized from phone to desktop.

Marker ``browser``; skipped without /usr/bin/chromium, except under CI=true.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pledge.rights.request_input import objectable_purposes
from pledge.web.app import create_app
from tests.browser import SHOTS, serving, shoot
from tests.test_web_polish import catalogue_english, policy_english
from tests.web_support import PASSWORD, Site, code_for, csrf_of, make_platform, people, site

pytestmark = pytest.mark.browser

OUT = Path(os.environ.get("PLEDGE_SHOTS", str(SHOTS)))
SIZES = ((390, 844), (1280, 800))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_platform(tmp_path_factory.mktemp("admin-browser") / "omni-one", users=40)


@pytest.fixture(scope="module")
def s(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with site(template, tmp_path_factory.mktemp("admin-browser-site") / "site") as one:
        yield one


@pytest.fixture(scope="module")
def ids(s: Site) -> dict[str, str]:
    return seed(s)


@pytest.fixture(scope="module")
def base(s: Site) -> Iterator[str]:
    with serving(create_app(s.engine), timeout=15) as url:
        yield url


@pytest.fixture(scope="module")
def english(s: Site) -> list[str]:
    """What a Polish console page must not show: English catalogue sentences and policy words."""
    return catalogue_english() + policy_english(s.engine.policy)


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


def sign_in(page: Any, base: str, s: Site, email: str, lang: str) -> None:
    page.goto(f"{base}/admin/login?lang={lang}")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=code]", s.totp(email))
    page.click("form.card button[type=submit]")
    page.wait_for_url(f"{base}/admin")


def look(page: Any, name: str, lang: str, width: int, english: list[str]) -> None:
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
    # audit event and table names wrap only after a dot or an underscore, never inside a word
    broken = page.evaluate("""() => [...document.querySelectorAll('code.event, code.name')].filter(c =>
        [...c.childNodes].some(n => { if (n.nodeType !== 3 || !n.textContent) return false;
            const r = document.createRange(); r.selectNodeContents(n);
            return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size > 1; }))
        .map(c => c.textContent).slice(0, 5)""")
    assert broken == [], f"{name} ({lang}, {width}px): names broken mid-word {broken}"
    if lang == "pl":  # a breach notice drafted in English is the notice, not the page
        shown = page.evaluate("""() => { const b = document.body.cloneNode(true);
            b.querySelectorAll('.mail-draft[lang=en]').forEach(m => m.remove()); return b.innerText; }""")
        left = [w for w in english if w in shown]
        assert left == [], f"{name}: untranslated {left}"
    shoot(page, OUT / f"admin-{lang}-{width}-{name}.png")


def test_every_admin_page_fits_the_screen_in_both_languages(chromium: Any, s: Site, ids: dict[str, str], base: str,
                                                            english: list[str]) -> None:
    owner = s.admin("owner")
    for lang in ("en", "pl"):
        ctx = chromium.new_context(viewport={"width": SIZES[0][0], "height": SIZES[0][1]},
                                   locale="pl-PL" if lang == "pl" else "en-GB")
        page = ctx.new_page()
        s.clock.advance(seconds=31)  # a fresh TOTP step per sign-in
        sign_in(page, base, s, owner, lang)
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            for name, path in pages(ids):
                response = page.goto(base + path)
                assert response is not None and response.status in (200, 422), (path, response and response.status)
                look(page, name, lang, width, english)
                if name == "datamap" and width >= 1000:  # on a desktop the whole picture is in view
                    assert page.evaluate("""() => { const box = document.querySelector('figure.svgbox');
                        return box.querySelector('svg').getBoundingClientRect().right
                               <= box.getBoundingClientRect().right + 1; }""")
        ctx.close()


def test_viewer_pages_and_the_lockout_page(chromium: Any, s: Site, ids: dict[str, str], base: str,
                                           english: list[str]) -> None:
    viewer = s.admin("viewer")
    locked = s.admin("privacy_officer")
    client = s.new_client()
    for _ in range(10):  # ten failures lock the account (pledge.signin_throttle.ACCOUNT)
        form = client.get("/admin/login").text
        client.post("/admin/login", data={"csrf": csrf_of(form), "email": locked, "password": "not it at all",
                                          "code": "000000"})
        s.clock.advance(hours=1.1)
    for lang in ("en", "pl"):
        ctx = chromium.new_context(viewport={"width": SIZES[0][0], "height": SIZES[0][1]})
        page = ctx.new_page()
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            page.goto(f"{base}/admin/login?lang={lang}")
            page.fill("input[name=email]", locked)
            page.fill("input[name=password]", PASSWORD)
            page.fill("input[name=code]", s.totp(locked))
            with page.expect_response(f"{base}/admin/login") as answer:
                page.click("form.card button[type=submit]")
            assert answer.value.status == 429
            assert page.locator("form.card").count() == 0  # no form that would only be refused
            alerts = page.get_by_role("alert")  # one message, which names when the lock ends
            assert alerts.count() == 1 and ("locked until" in alerts.inner_text() if lang == "en" else True)
            assert "Try again in" not in page.evaluate("document.body.innerText")
            look(page, "lockout", lang, width, english)
        s.clock.advance(seconds=31)
        sign_in(page, base, s, viewer, lang)
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            for name, path in (("viewer-request", f"/admin/requests/{ids['erasure']}"),
                               ("viewer-breach-people", f"/admin/breaches/{ids['breach']}/people")):
                page.goto(base + path)
                assert "•••" in page.evaluate("document.body.innerText")
                look(page, name, lang, width, english)
        ctx.close()
