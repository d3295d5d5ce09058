"""/notice in the site layout, the campaign's acceptance link, and error pages for browsers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pledge.engine import Engine
from pledge.reports.campaign import Campaigns
from pledge.settings import Settings, load_config
from pledge.web.app import create_app
from tests.conftest import EXAMPLES
from tests.web_support import Site, csrf_of, make_platform, site

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def omni(tmp_path: Path) -> Iterator[tuple[Engine, TestClient]]:
    settings = Settings(environment="test", database_url=f"sqlite:///{tmp_path / 'store.db'}",
                        platform_url=f"sqlite:///{tmp_path / 'platform.db'}")
    engine = Engine(load_config(EXAMPLES / "omni-one" / "pledge.yaml", settings), settings)
    with TestClient(create_app(engine)) as client:
        yield engine, client
    engine.close()


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_notice_page_in_both_languages_within_the_layout(omni: tuple[Engine, TestClient]) -> None:
    _, client = omni
    en = client.get("/notice?lang=en")
    assert en.status_code == 200 and '<html lang="en">' in en.text
    assert "Privacy notice" in en.text and 'class="privacy-notice"' in en.text
    assert 'href="/static/pledge.css"' in en.text and 'href="#retention"' in en.text  # layout and contents
    assert "30 days" in text_of(en.text)
    pl = client.get("/notice?lang=pl")
    text = text_of(pl.text)
    assert pl.status_code == 200 and '<html lang="pl">' in pl.text
    assert "Informacja o przetwarzaniu danych osobowych" in text and "Spis treści" in text
    assert "30 dni" in text and "Contents" not in text and "How long we keep your data" not in text


def _campaign(engine: Engine) -> tuple[int, str]:
    campaigns = Campaigns(engine)
    cid = campaigns.start("policy_change", reconsent=True, lang="pl",
                          details={"version": "2026-01", "sections": ["recipients", "retention"]})
    return cid, campaigns.accept_token(cid, "someone@example.org")


def test_acceptance_link_asks_then_records_on_the_button(omni: tuple[Engine, TestClient]) -> None:
    engine, client = omni
    cid, token = _campaign(engine)
    page = client.get("/notice/accept", params={"token": token})
    assert page.status_code == 200
    text = text_of(page.text)  # the campaign wrote in Polish, so the page speaks Polish
    assert "Akceptuję zmiany" in text and "nowi odbiorcy" in text.lower()
    assert Campaigns(engine).status(cid)["accepted"] == 0  # opening the link accepts nothing
    assert f'href="?token={token}&amp;lang=en"' in page.text  # the language switch keeps the token
    done = client.post("/notice/accept", data={"token": token})
    assert done.status_code == 200 and "Dziękujemy" in done.text
    assert Campaigns(engine).status(cid)["accepted"] == 1
    again = client.post("/notice/accept?lang=en", data={"token": token})
    assert again.status_code == 200 and "Thank you" in again.text
    assert Campaigns(engine).status(cid)["accepted"] == 1


@pytest.mark.parametrize("lang", ["en", "pl"])
def test_a_bad_acceptance_token_gets_a_clear_page(omni: tuple[Engine, TestClient], lang: str) -> None:
    engine, client = omni
    cid, token = _campaign(engine)
    heading = {"en": "This link does not work", "pl": "Ten link nie działa"}[lang]
    for bad in (token[:-3] + "xyz", "", "not-a-token"):
        res = client.get("/notice/accept", params={"token": bad, "lang": lang})
        assert res.status_code == 400 and heading in res.text
        posted = client.post(f"/notice/accept?lang={lang}", data={"token": bad})
        assert posted.status_code == 400 and heading in posted.text
    assert Campaigns(engine).status(cid)["accepted"] == 0


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_platform(tmp_path_factory.mktemp("errors") / "omni-one", users=20)


@pytest.fixture
def s(template: Path, tmp_path: Path) -> Iterator[Site]:
    with site(template, tmp_path / "site") as one:
        yield one


def test_console_403_is_a_translated_page_for_browsers_and_json_for_api(s: Site) -> None:
    view = s.engine.requests.create("access", {"email": "someone@example.org"}, actor="test")
    viewer = s.new_client()
    assert s.login(viewer, "viewer").status_code == 303
    page = viewer.get(f"/admin/requests/{view.id}")
    csrf = csrf_of(page.text)
    browser = viewer.post(f"/admin/requests/{view.id}/approve?lang=pl", data={"csrf": csrf}, headers=BROWSER)
    assert browser.status_code == 403 and browser.headers["content-type"].startswith("text/html")
    assert "Brak uprawnień" in browser.text and 'href="/admin"' in browser.text
    assert 'href="/static/pledge.css"' in browser.text
    api = viewer.post(f"/admin/requests/{view.id}/approve?lang=en", data={"csrf": csrf})
    assert api.status_code == 403 and api.headers["content-type"] == "application/json"
    assert "look, not act" in api.json()["detail"]
    forged = viewer.post(f"/admin/requests/{view.id}/approve?lang=en", data={"csrf": "forged"}, headers=BROWSER)
    assert forged.status_code == 403 and "security token" in forged.text and "<h1>Not allowed</h1>" in forged.text


def test_unknown_pages_and_redirects_keep_working(s: Site) -> None:
    missing = s.client.get("/no-such-page?lang=pl", headers=BROWSER)
    assert missing.status_code == 404 and "Nie znaleziono strony" in missing.text
    assert s.client.get("/no-such-page").json() == {"detail": "Not Found"}
    assert s.client.get("/v1/requests/nope", headers=BROWSER).headers["content-type"] == "application/json"
    signin = s.client.get("/admin", headers=BROWSER, follow_redirects=False)
    assert signin.status_code == 303 and signin.headers["location"] == "/admin/login"


def test_console_navigation_names_the_breach_register(s: Site) -> None:
    client = s.new_client()
    s.login(client, "owner")
    for path in ("/admin", "/admin/metrics", "/admin/breaches"):
        page = client.get(path)
        assert page.status_code == 200
        assert page.text.count('href="/admin/breaches"') == 1
    assert 'href="/admin/breaches" aria-current="page"' in client.get("/admin/breaches").text
