"""The breach pages of the admin console: the register with the clock, one breach, downloads,
and (marker ``browser``) screenshots of both pages in English and Polish in Debian chromium."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pledge.breach.report import authority_report
from pledge.web.app import create_app
from tests.browser import keep_shot, launch_chromium, serving
from tests.web_support import PASSWORD, START, Site, make_platform, site


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_platform(tmp_path_factory.mktemp("breach-web") / "omni", users=40)


@pytest.fixture
def s(template: Path, tmp_path: Path) -> Iterator[Site]:
    with site(template, tmp_path / "site") as here:
        yield here


def add_breaches(s: Site) -> tuple[int, int]:
    reg = s.engine.breaches
    first = reg.open(title="Chat messages readable through a public export bucket",
                     aware_at=START - timedelta(hours=20), collections=["main.messages"], fields=["content"],
                     window_from=datetime(2023, 1, 1, tzinfo=UTC), window_to=datetime(2025, 12, 31, tzinfo=UTC),
                     description="An export bucket was public for two weeks.", actor="officer")
    reg.assess(first.id, likelihood="high", severity="high", encrypted=False,
               measures="Bucket closed, keys rotated, access logs reviewed.", actor="officer")
    second = reg.open(title="Encrypted invoice backup lost in transit", aware_at=START - timedelta(hours=100),
                      collections=["main.invoices"], window_from=datetime(2021, 1, 1, tzinfo=UTC),
                      window_to=datetime(2026, 1, 1, tzinfo=UTC), actor="officer")
    reg.assess(second.id, likelihood="medium", severity="high", encrypted=True, measures="Backup key revoked.",
               actor="officer")
    return first.id, second.id


def login(s: Site, role: str = "viewer") -> None:
    res = s.login(s.client, role)
    assert res.status_code == 303, res.text


def test_breach_list_shows_the_clock_and_needs_a_session(s: Site) -> None:
    first, second = add_breaches(s)
    assert s.client.get("/admin/breaches", follow_redirects=False).status_code == 303  # not signed in
    login(s)
    page = s.client.get("/admin/breaches")
    assert page.status_code == 200
    assert "Chat messages readable" in page.text and "52.0 h left" in page.text  # 72 - 20
    assert "Overdue by 28.0 h" in page.text  # the second: 100 h since awareness, never reported
    s.clock.advance(hours=60)
    login(s)  # the console session has expired meanwhile
    assert "Overdue by 8.0 h" in s.client.get("/admin/breaches").text
    polish = s.client.get("/admin/breaches?lang=pl").text
    assert "Rejestr naruszeń" in polish and "Po terminie o 8.0 godz." in polish


def test_breach_page_shows_decisions_draft_and_trail(s: Site) -> None:
    first, second = add_breaches(s)
    s.engine.breaches.record_phase(first, "initial", authority_report(s.engine, first), actor="officer")
    login(s)
    page = s.client.get(f"/admin/breaches/{first}").text.replace("<wbr>", "")
    for words in ("UODO", "(d) Measures taken or proposed", "Bucket closed, keys rotated",
                  "Art. 34(1)", "breach.authority_report", "Reported"):
        assert words in page, words
    exempt = s.client.get(f"/admin/breaches/{second}").text.replace("<wbr>", "")
    assert "art34_3_a" in exempt and "Art. 34(3)(a)" in exempt
    md = s.client.get(f"/admin/breaches/{first}/report.md")
    assert md.status_code == 200 and "## (a) Nature of the breach" in md.text
    assert "attachment" in md.headers["content-disposition"]
    assert s.client.get(f"/admin/breaches/{first}/report.exe").status_code == 404
    assert s.client.get("/admin/breaches/999").status_code == 404


@pytest.mark.browser
def test_screenshots_of_the_breach_pages(s: Site, tmp_path: Path) -> None:
    with launch_chromium() as browser:
        first, _ = add_breaches(s)
        s.admin("owner")
        with serving(create_app(s.engine), timeout=15) as base:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{base}/admin/login")
            page.fill("input[name=email]", "owner@pledge.test")
            page.fill("input[name=password]", PASSWORD)
            page.fill("input[name=code]", s.totp("owner@pledge.test"))
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/admin")
            for lang in ("en", "pl"):
                for name, path in (("breaches", "/admin/breaches"), ("breach", f"/admin/breaches/{first}")):
                    page.goto(f"{base}{path}?lang={lang}")
                    assert page.locator("h1").count() == 1
                    target = tmp_path / f"admin-{name}-{lang}.png"
                    page.screenshot(path=str(target), full_page=True)
                    assert target.stat().st_size > 5000
                    keep_shot(target)
