"""The proof page of the admin console (``/admin/prove``), in English and Polish, and its
pictures at phone and desktop size in chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from pledge.prove.findings import KINDS, REASONS, TITLES
from pledge.prove.render import SENTENCES, SIDE
from pledge.web import admin_prove
from pledge.web.i18n import catalogue
from tests.web_support import Site, csrf_of, make_platform, site

WEB = Path(admin_prove.__file__).parent


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_platform(tmp_path_factory.mktemp("prove-web") / "omni-one", users=40)


@pytest.fixture
def s(template: Path, tmp_path: Path) -> Iterator[Site]:
    with site(template, tmp_path / "deploy") as made:
        yield made


def plant_overdue_conversation(s: Site) -> int:
    """A conversation deleted 40 days ago: the 30-day promise is broken until a sweep."""
    eng = s.engine.platform_engine("main")
    with eng.begin() as conn:
        conv = conn.execute(text("SELECT min(id) FROM conversations WHERE deleted_at IS NULL")).scalar()
        conn.execute(text("UPDATE conversations SET deleted_at = :at WHERE id = :id"),
                     {"at": (s.clock.now - timedelta(days=40)).replace(tzinfo=None), "id": conv})
    return int(conv)


def run_now(s: Site, client: Any) -> Any:
    page = client.get("/admin/prove")
    return client.post("/admin/prove/run", data={"csrf": csrf_of(page.text)}, follow_redirects=False)


def test_the_page_runs_a_proof_and_shows_the_history(s: Site) -> None:
    client = s.new_client()
    assert client.get("/admin/prove", follow_redirects=False).status_code == 303  # sign in first
    assert s.login(client, "privacy_officer").status_code == 303
    empty = client.get("/admin/prove?lang=en")
    assert empty.status_code == 200 and "No proof has been run yet" in empty.text
    assert 'href="/admin/prove"' in empty.text and 'aria-current="page">Proof<' in empty.text

    conv = plant_overdue_conversation(s)
    res = run_now(s, client)
    assert res.status_code == 303 and res.headers["location"] == "/admin/prove/1"
    shown = client.get("/admin/prove/1?lang=en").text
    assert "Something is broken" in shown and "Deleted conversations" in shown
    assert f"<code>{conv}</code>" in shown
    assert "Permanently deleted from our servers within 30 days" in shown  # the seed's words
    assert "Cannot be checked on data" in shown and "Stripe" in shown
    assert s.engine.audit.entries(action="prove.run")[0]["actor"].startswith("admin:")

    s.clock.advance(minutes=2)
    assert run_now(s, client).headers["location"] == "/admin/prove/2"
    latest = client.get("/admin/prove?lang=en").text
    assert re.search(r'href="/admin/prove/2"[^>]*aria-current="page"', latest)
    assert 'href="/admin/prove/1"' in latest  # the history

    report = client.get("/admin/prove/2/report.json")
    assert report.status_code == 200 and report.json()["id"] == 2
    assert client.get("/admin/prove/2/report.html").text.startswith("<!doctype html>")
    assert client.get("/admin/prove/2/report.pdf").status_code == 404
    assert client.get("/admin/prove/99").status_code == 404
    emails = [r[0] for r in s.engine.platform_engine("main").connect().execute(text("SELECT email FROM users"))]
    assert not any(e in latest for e in emails)


def test_polish_page_and_roles(s: Site) -> None:
    officer = s.new_client()
    s.login(officer, "privacy_officer")
    plant_overdue_conversation(s)
    run_now(s, officer)
    pl = officer.get("/admin/prove/1?lang=pl").text
    assert '<html lang="pl">' in pl and "Dowód na żywych danych" in pl and "Niedotrzymane obietnice" in pl
    assert "po upływie 30 dni" in pl and "Nie da się sprawdzić na danych" in pl
    english = [m for m in catalogue("pl", ("prove",)) if len(m.split("{")[0].split()) >= 3]
    assert [m for m in english if m.split("{")[0].strip() in pl] == []

    viewer = s.new_client()
    s.login(viewer, "viewer")
    page = viewer.get("/admin/prove?lang=en")
    assert page.status_code == 200 and "Run a proof now" not in page.text
    assert viewer.post("/admin/prove/run", data={"csrf": csrf_of(officer.get("/admin/prove").text)},
                       follow_redirects=False).status_code == 403
    assert officer.post("/admin/prove/run", data={"csrf": "forged"}, follow_redirects=False).status_code == 403


def test_every_string_of_the_proof_has_a_polish_translation() -> None:
    wanted = set(re.findall(r'_\("([^"]+)"', (WEB / "templates" / "admin" / "prove.html").read_text("utf-8")))
    wanted |= set(re.findall(r'\bt\("([^"]+)"\)', (WEB / "admin_prove.py").read_text("utf-8")))
    wanted |= {*KINDS.values(), *TITLES.values(), *REASONS.values(), *SENTENCES.values(), *SIDE.values(),
               *admin_prove.STATUS_LABELS.values(), *admin_prove.OUTCOME_LABELS.values(), "Proof"}
    polish = catalogue("pl")
    assert sorted(w for w in wanted if w not in polish) == []
    for msgid in wanted:
        assert set(re.findall(r"{(\w+)}", msgid)) == set(re.findall(r"{(\w+)}", polish[msgid])), msgid


# -- pictures --------------------------------------------------------------------------------------
@pytest.mark.browser
def test_screenshots_phone_and_desktop_in_both_languages(template: Path, tmp_path: Path) -> None:
    import pyotp

    from pledge.devmail import free_port
    from pledge.engine import Engine
    from pledge.settings import Settings, load_config
    from pledge.web.app import create_app
    from tests.browser import SHOTS, launch_chromium, serving
    from tests.web_support import PASSWORD, copy_platform

    cfg = copy_platform(template, tmp_path / "shots")
    port = free_port()
    settings = Settings(environment="development", base_url=f"http://127.0.0.1:{port}")
    engine = Engine(load_config(cfg, settings), settings)
    try:
        from pledge.prove import run

        _, uri = engine.admins.create_user("dpo@pledge.test", "privacy_officer", password=PASSWORD)
        secret = pyotp.parse_uri(uri).secret
        run(engine, engine.now() - timedelta(days=1), actor="scheduler")
        with engine.platform_engine("main").begin() as conn:
            conn.execute(text("UPDATE conversations SET deleted_at = :at WHERE id IN "
                              "(SELECT id FROM conversations WHERE deleted_at IS NULL ORDER BY id LIMIT 3)"),
                         {"at": (engine.now() - timedelta(days=45)).replace(tzinfo=None)})
        run(engine, actor="dpo@pledge.test")
        SHOTS.mkdir(parents=True, exist_ok=True)
        with launch_chromium() as browser, serving(create_app(engine), port) as base:
            ctx = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
            page = ctx.new_page()
            page.goto(base + "/admin/login")  # one sign-in: a TOTP code is good once
            page.get_by_label("Email address").fill("dpo@pledge.test")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret).now())
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(re.compile(r".*/admin$"))
            for device, viewport in (("phone", {"width": 390, "height": 844}),
                                     ("desktop", {"width": 1280, "height": 800})):
                page.set_viewport_size(viewport)
                for lang in ("en", "pl"):
                    page.goto(f"{base}/admin/prove?lang={lang}")
                    assert page.locator("html").get_attribute("lang") == lang
                    assert page.locator("h1").inner_text() == ("Proof on live data" if lang == "en"
                                                               else "Dowód na żywych danych")
                    target = SHOTS / f"prove-{lang}-{device}.png"
                    page.screenshot(path=str(target), full_page=True)
                    assert target.stat().st_size > 5000
                    width = page.evaluate("() => document.documentElement.scrollWidth")
                    wide = page.evaluate("""() => [...document.querySelectorAll('main *')]
                        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
                                     && !e.closest('.grid'))
                        .map(e => e.tagName + ':' + (e.innerText || '').slice(0, 30)).slice(0, 5)""")
                    assert width <= viewport["width"], f"{device} {lang}: the page is {width}px wide: {wide}"
            ctx.close()
    finally:
        engine.close()
