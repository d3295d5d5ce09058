"""Acceptance: an access request end to end in a real browser (Debian chromium, Playwright).

A demo-like server (the app under uvicorn, a generated omni-one platform with 200 users,
a local SMTP sink shown at /dev/mail, the real clock) in the test's own folder:

1. a person submits an access request in the privacy centre;
2. reads the code from the SMTP sink at /dev/mail and verifies;
3. an admin signs in with two-factor (pyotp computes the code) and approves;
4. the person downloads a zip that holds their own rows, and nobody else's.

The same flow runs in English and in Polish; every step is photographed into tmp_path
and artifacts/screenshots/ (as are the console's queue, request, data-map and metrics pages).
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest

from pledge.devmail import DevMail
from pledge.engine import Engine
from pledge.settings import Settings, load_config
from pledge.web.app import create_app
from tests.browser import keep_shot, launch_chromium, serving
from tests.web_support import PASSWORD, make_platform, people

pytestmark = pytest.mark.browser

CODE_LINE = re.compile(r"^\s*([0-9A-Z]{4}-[0-9A-Z]{4})\s*$", re.M)

TEXT = {
    "en": {"centre": "Privacy centre", "access": "Get a copy of my data", "email": "Email address",
           "send": "Send request", "check": "Check your email", "code": "Code from the email",
           "confirm": "Confirm", "waiting": "Verified, waiting to be carried out", "ready": "Your data is ready",
           "download": "Download your data", "password": "Password", "totp": "Code from your authenticator app",
           "sign_in": "Sign in", "approve": "Approve and carry out", "requests": "Requests",
           "plan": "What approving would do", "metrics": "Request metrics", "datamap": "Data map"},
    "pl": {"centre": "Centrum prywatności", "access": "Chcę otrzymać kopię moich danych", "email": "Adres e-mail",
           "send": "Wyślij żądanie", "check": "Sprawdź skrzynkę e-mail", "code": "Kod z wiadomości e-mail",
           "confirm": "Potwierdź", "waiting": "Potwierdzone, czeka na realizację", "ready": "Twoje dane są gotowe",
           "download": "Pobierz swoje dane", "password": "Hasło", "totp": "Kod z aplikacji uwierzytelniającej",
           "sign_in": "Zaloguj się", "approve": "Zatwierdź i zrealizuj", "requests": "Żądania",
           "plan": "Co zrobi zatwierdzenie", "metrics": "Statystyki żądań", "datamap": "Mapa danych"},
}


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with launch_chromium() as launched:
        yield launched


@dataclass
class Demo:
    engine: Engine
    base: str
    cfg: Path
    sink: DevMail


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    """What ``pledge demo`` runs, on free ports in tmp_path: platform, SMTP sink, web app."""
    cfg = make_platform(tmp_path / "omni-one", users=200)
    sink = DevMail("127.0.0.1", 0).start()
    settings = Settings(environment="development", smtp_host="127.0.0.1", smtp_port=sink.port)
    engine = Engine(load_config(cfg, settings), settings, devmail=sink)
    _ = engine.store
    try:
        with serving(create_app(engine)) as base:
            yield Demo(engine, base, cfg, sink)
    finally:
        sink.stop()
        engine.close()


def shot(page: Any, tmp_path: Path, name: str) -> None:
    target = tmp_path / "screenshots" / name
    target.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 5000
    keep_shot(target)


def fresh_totp(secret: str) -> str:
    """A TOTP code with at least 5 seconds left in its 30-second step."""
    totp = pyotp.TOTP(secret)
    if totp.interval - time.time() % totp.interval < 5:
        time.sleep(6)
    return str(totp.now())


def person_requests(browser: Any, demo: Demo, lang: str, email: str, tmp_path: Path) -> tuple[Any, str]:
    """Steps 1 and 2: submit, read the code at /dev/mail, verify. Returns the page and the id."""
    tx = TEXT[lang]
    ctx = browser.new_context(locale="pl-PL" if lang == "pl" else "en-GB", accept_downloads=True)
    page = ctx.new_page()
    page.goto(f"{demo.base}/privacy")  # the language comes from Accept-Language
    assert page.locator("html").get_attribute("lang") == lang
    page.get_by_role("heading", name=tx["centre"], level=1).wait_for()
    card = page.locator("#card-access")
    assert tx["access"] in card.inner_text()  # the right, named in the person's language
    if lang == "en":  # by keyboard alone: Enter opens the card's form, Tab reaches the email, Enter sends
        card.focus()
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline not in ("", "none")  # the focus is visible
        page.keyboard.press("Enter")
        page.wait_for_url("**/privacy/new/access")
        for _ in range(30):
            if page.evaluate("document.activeElement.id") == "email":
                break
            page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "email"
        page.keyboard.type(email)
        shot(page, tmp_path, f"requests-{lang}-1-submit.png")
        page.keyboard.press("Enter")
    else:
        card.click()
        page.wait_for_url("**/privacy/new/access")
        page.get_by_label(tx["email"]).fill(email)
        shot(page, tmp_path, f"requests-{lang}-1-submit.png")
        page.get_by_role("button", name=tx["send"]).click()
    page.get_by_role("heading", name=tx["check"]).wait_for()
    rid = page.url.split("/")[-2]
    assert rid.startswith("req_")
    shot(page, tmp_path, f"requests-{lang}-2-code-sent.png")

    mail = ctx.new_page()
    mail.goto(f"{demo.base}/dev/mail")
    article = mail.locator("article.mail").filter(has=mail.locator(".mail-to", has_text=email)).first
    body = article.locator(".mail-body").inner_text()
    found = CODE_LINE.search(body)
    assert found, body
    shot(mail, tmp_path, f"requests-{lang}-3-dev-mail.png")
    mail.close()

    page.get_by_label(tx["code"]).fill(found.group(1))
    page.get_by_role("button", name=tx["confirm"]).click()
    page.get_by_text(tx["waiting"]).wait_for()
    assert page.url.endswith(f"/privacy/requests/{rid}")
    shot(page, tmp_path, f"requests-{lang}-4-verified.png")
    return page, rid


def admin_approves(browser: Any, demo: Demo, lang: str, rid: str, tmp_path: Path) -> None:
    """Step 3: two-factor sign-in, the queue, the request page, approval."""
    tx = TEXT[lang]
    email = f"dpo-{lang}@pledge.test"
    _, uri = demo.engine.admins.create_user(email, "privacy_officer", password=PASSWORD)
    ctx = browser.new_context(locale="pl-PL" if lang == "pl" else "en-GB")
    page = ctx.new_page()
    page.goto(f"{demo.base}/admin/login")
    page.get_by_label(tx["email"]).fill(email)
    page.get_by_label(tx["password"]).fill(PASSWORD)
    page.get_by_label(tx["totp"]).fill(fresh_totp(pyotp.parse_uri(uri).secret))
    shot(page, tmp_path, f"requests-{lang}-5-admin-login.png")
    page.get_by_role("button", name=tx["sign_in"]).click()
    page.get_by_role("heading", name=tx["requests"], level=1).wait_for()
    shot(page, tmp_path, f"admin-{lang}-queue.png")
    page.get_by_role("link", name=rid).click()
    page.get_by_role("heading", name=tx["plan"]).wait_for()
    shot(page, tmp_path, f"admin-{lang}-request.png")
    page.get_by_role("button", name=tx["approve"]).click()
    page.locator(".flash").wait_for()
    assert demo.engine.requests.get(rid).state == "completed"
    shot(page, tmp_path, f"requests-{lang}-6-approved.png")
    page.set_viewport_size({"width": 1760, "height": 1000})  # the whole map, at its natural size
    page.get_by_role("link", name=tx["datamap"]).click()
    page.locator("figure.svgbox svg").wait_for()
    shot(page, tmp_path, f"admin-{lang}-datamap.png")
    page.set_viewport_size({"width": 1280, "height": 720})
    page.get_by_role("link", name="Metrics" if lang == "en" else "Statystyki").click()
    page.get_by_role("heading", name=tx["metrics"]).wait_for()
    shot(page, tmp_path, f"admin-{lang}-metrics.png")
    ctx.close()


def person_downloads(page: Any, lang: str, rid: str, tmp_path: Path) -> bytes:
    """Step 4: the status page offers the signed link; the browser downloads the zip."""
    tx = TEXT[lang]
    page.reload()
    page.get_by_role("heading", name=tx["ready"]).wait_for()
    shot(page, tmp_path, f"requests-{lang}-7-ready.png")
    with page.expect_download() as info:
        page.get_by_role("link", name=tx["download"]).click()
    target = tmp_path / f"package-{lang}.zip"
    info.value.save_as(str(target))
    return target.read_bytes()


def rows_text(blob: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        return "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())


@pytest.mark.parametrize("lang", ["en", "pl"])
def test_access_request_end_to_end(chromium: Any, demo: Demo, lang: str, tmp_path: Path) -> None:
    mine, other = people(demo.cfg, 2)
    page, rid = person_requests(chromium, demo, lang, mine, tmp_path)
    admin_approves(chromium, demo, lang, rid, tmp_path)
    content = rows_text(person_downloads(page, lang, rid, tmp_path))
    assert mine in content
    assert other not in content
    # the person's own rows: their user row and at least one row of another table about them
    assert re.search(r"users", content) and content.count(mine) >= 1
    if lang == "pl":
        text = page.locator("main").inner_text()
        assert "Twoje dane są gotowe" in text and "Your data is ready" not in text
