"""The web app's flows in headless Debian chromium, in English and in Polish, as a person and
an officer walk them: the privacy centre from its cards to the code and the status page, the
mailbox, someone else's request, the console's two-factor sign-in, the request just made, a
missing request, the API docs, and a viewer's forged approval (403).

A demo-like server (uvicorn in a thread, a small generated omni-one platform, the local
SMTP sink, environment ``development``). Each page must answer as expected (200, or the
error status it is meant to show), carry the right ``lang``, and — in Polish — show no
English sentence of our catalogues. Screenshots go to
``artifacts/screenshots/screens-<lang>-<page>.png`` for people to look at.

Every page at both sizes (fit, language, axe) is the work of tests/test_centre_browser.py
(public pages) and tests/test_admin_browser.py (the console); this file walks the flows.

Marker ``browser``; skipped without /usr/bin/chromium, except under CI=true.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest

from pledge.consent.unsubscribe import preferences_token, unsubscribe_token
from pledge.devmail import DevMail, free_port
from pledge.engine import Engine
from pledge.reports.campaign import Campaigns
from pledge.settings import Settings, load_config
from pledge.web.app import create_app
from pledge.web.i18n import catalogue
from tests.browser import SHOTS, serving, shoot
from tests.web_support import PASSWORD, make_platform, people

pytestmark = pytest.mark.browser

CODE = re.compile(r"^\s*([0-9A-Z]{4}-[0-9A-Z]{4})\s*$", re.M)
LABELS = {"en": {"access": "Get a copy of my data", "email": "Email address", "send": "Send request",
                 "code": "Code from the email", "confirm": "Confirm", "password": "Password",
                 "totp": "Code from your authenticator app", "sign_in": "Sign in"},
          "pl": {"access": "Chcę otrzymać kopię moich danych", "email": "Adres e-mail", "send": "Wyślij żądanie",
                 "code": "Kod z wiadomości e-mail", "confirm": "Potwierdź", "password": "Hasło",
                 "totp": "Kod z aplikacji uwierzytelniającej", "sign_in": "Zaloguj się"}}


@dataclass
class Server:
    engine: Engine
    base: str
    sink: DevMail
    cfg: Path
    links: dict[str, str]


def english_sentences(cfg: Path) -> list[str]:
    """English msgids of our catalogues that Polish pages must not show (policy data excepted)."""
    data = " ".join((cfg.parent / name).read_text(encoding="utf-8") for name in ("policy.yaml", "dataset.yaml"))
    out = []
    for msgid, msgstr in catalogue("pl").items():
        text = msgid.split("{")[0].strip()  # the fixed part before any placeholder
        if msgstr != msgid and len(text.split()) >= 3 and text not in data:
            out.append(text)
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("screens")
    cfg = make_platform(folder / "omni-one", users=40)
    sink = DevMail("127.0.0.1", 0).start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(environment="development", smtp_host="127.0.0.1", smtp_port=sink.port, base_url=base)
    engine = Engine(load_config(cfg, settings), settings, devmail=sink)
    links = seed(engine, cfg)
    try:
        with serving(create_app(engine), port):
            yield Server(engine, base, sink, cfg, links)
    finally:
        sink.stop()
        engine.close()


def seed(engine: Engine, cfg: Path) -> dict[str, str]:
    """Something on every page: requests, a breach, a campaign, consent links."""
    a, b, c = people(cfg, 3)
    waiting = engine.requests.create("erasure", {"email": a}, lang="pl")
    engine.requests.start_verification(waiting.id)
    engine.requests.create("access", {"email": b}, source="officer", actor="admin:0")
    now = engine.now()
    reg = engine.breaches
    breach = reg.open(title="Chat messages readable through a public export bucket",
                      aware_at=now - timedelta(hours=20), collections=["main.messages"], fields=["content"],
                      window_from=datetime(2024, 1, 1, tzinfo=UTC), window_to=now - timedelta(days=1),
                      description="An export bucket was public for two weeks.", actor="officer")
    reg.assess(breach.id, likelihood="high", severity="high", encrypted=False,
               measures="Bucket closed and keys rotated.", actor="officer")
    campaigns = Campaigns(engine)
    cid = campaigns.start("policy_change", reconsent=True,
                          details={"version": "2026-01", "sections": ["recipients", "retention"]})
    consent = next(p.key for p in engine.policy.purposes if p.consent_required or p.legal_basis == "consent")
    return {"request": waiting.id, "breach": str(breach.id), "accept": campaigns.accept_token(cid, c),
            "preferences": preferences_token(engine, c), "unsubscribe": unsubscribe_token(engine, c, consent)}


class Tour:
    """Visits pages in one language: checks status, language and wording; takes the picture."""

    def __init__(self, page: Any, server: Server, lang: str) -> None:
        self.page, self.server, self.lang = page, server, lang
        self.english = english_sentences(server.cfg) if lang == "pl" else []
        self.seen: list[str] = []

    def check(self, name: str, status: int | None = 200) -> None:
        page = self.page
        assert page.locator("html").get_attribute("lang") == self.lang, name
        # the mails at /dev/mail are in their recipients' languages, not the page's
        text = page.evaluate("""() => { const body = document.body.cloneNode(true);
            body.querySelectorAll('article.mail').forEach(m => m.remove()); return body.innerText; }""")
        leftovers = [s for s in self.english if s in text]
        assert leftovers == [], f"{name} ({self.lang}): untranslated {leftovers}"
        shoot(page, SHOTS / f"screens-{self.lang}-{name}.png", min_bytes=5000)
        self.seen.append(name)

    def visit(self, path: str, name: str, status: int = 200) -> None:
        response = self.page.goto(self.server.base + path)
        assert response is not None and response.status == status, f"{path}: {response and response.status}"
        self.check(name)


def tour(browser: Any, server: Server, lang: str) -> list[str]:
    tx, links = LABELS[lang], server.links
    ctx = browser.new_context(locale="pl-PL" if lang == "pl" else "en-GB", viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    go = Tour(page, server, lang)
    go.visit(f"/?lang={lang}", "home")  # the language is chosen here and kept in a cookie

    # the privacy centre, step by step
    email = people(server.cfg, 6)[3 if lang == "en" else 4]
    go.visit("/privacy", "privacy-0-cards")
    page.get_by_role("link", name=tx["access"]).click()  # the card leads to that kind's form
    page.wait_for_url(re.compile(r"/privacy/new/access$"))
    go.check("privacy-1-form")
    with page.expect_response(re.compile(r"/privacy/requests$")) as answer:  # no email: the errors
        page.get_by_role("button", name=tx["send"]).click()
    assert answer.value.status == 422
    page.locator("#error-summary").wait_for()
    go.check("privacy-1-errors")
    page.get_by_label(tx["email"], exact=True).fill(email)
    page.get_by_role("button", name=tx["send"]).click()
    page.get_by_label(tx["code"]).wait_for()
    go.check("privacy-2-verify")
    mail = server.sink.latest_to(email)
    assert mail is not None
    found = CODE.search(mail.body)
    assert found, mail.body
    page.get_by_label(tx["code"]).fill(found.group(1))
    page.get_by_role("button", name=tx["confirm"]).click()
    page.wait_for_url(re.compile(r"/privacy/requests/req_[^/]+$"))
    go.check("privacy-3-status")
    rid = page.url.rsplit("/", 1)[-1]
    go.visit("/dev/mail", "dev-mail")
    go.visit(f"/privacy/requests/{links['request']}", "privacy-4-someone-elses", status=403)

    # the console: two-factor sign-in, then every page
    admin = f"owner-{lang}@pledge.test"
    _, uri = server.engine.admins.create_user(admin, "owner", password=PASSWORD)
    go.visit("/admin/login", "admin-1-login")
    page.get_by_label(tx["email"]).fill(admin)
    page.get_by_label(tx["password"]).fill(PASSWORD)
    page.get_by_label(tx["totp"]).fill(str(pyotp.TOTP(pyotp.parse_uri(uri).secret).now()))
    page.get_by_role("button", name=tx["sign_in"]).click()
    page.wait_for_url(re.compile(r"/admin$"))
    go.check("admin-2-queue")
    page.locator(f'a[href="/admin/requests/{rid}"]').first.click()  # from the queue to the request just made
    page.wait_for_url(re.compile(rf"/admin/requests/{rid}$"))
    go.check("admin-3-request")
    go.visit(f"/admin/requests/{links['request']}", "admin-3-request-verifying")
    go.visit("/admin/requests/req_nothing_here", "admin-8-not-found", status=404)
    docs = page.goto(server.base + "/docs", wait_until="domcontentloaded")
    assert docs is not None and docs.status == 200
    ctx.close()
    go.seen.append(forbidden(browser, server, lang, rid))
    return go.seen


def forbidden(browser: Any, server: Server, lang: str, rid: str) -> str:
    """A viewer who tries to approve (a forged form post) gets the console's 403 page."""
    tx = LABELS[lang]
    viewer = f"viewer-{lang}@pledge.test"
    _, uri = server.engine.admins.create_user(viewer, "viewer", password=PASSWORD)
    ctx = browser.new_context(locale="pl-PL" if lang == "pl" else "en-GB", viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    go = Tour(page, server, lang)
    page.goto(f"{server.base}/admin/login?lang={lang}")
    page.get_by_label(tx["email"]).fill(viewer)
    page.get_by_label(tx["password"]).fill(PASSWORD)
    page.get_by_label(tx["totp"]).fill(str(pyotp.TOTP(pyotp.parse_uri(uri).secret).now()))
    page.get_by_role("button", name=tx["sign_in"]).click()
    page.wait_for_url(re.compile(r"/admin$"))
    page.goto(f"{server.base}/admin/requests/{rid}")
    with page.expect_response(re.compile(r"/approve$")) as answer:
        page.evaluate("""rid => { const f = document.createElement('form'); f.method = 'post';
            f.action = '/admin/requests/' + rid + '/approve';
            const c = document.querySelector('input[name=csrf]').cloneNode(); f.appendChild(c);
            document.body.appendChild(f); f.submit(); }""", rid)
    assert answer.value.status == 403
    go.check("admin-9-forbidden")
    heading = {"en": "Not allowed", "pl": "Brak uprawnień"}[lang]
    assert page.get_by_role("heading", name=heading, level=1).is_visible()
    ctx.close()
    return "admin-9-forbidden"


@pytest.mark.parametrize("lang", ["en", "pl"])
def test_every_page_answers_and_speaks_the_language(chromium: Any, server: Server, lang: str) -> None:
    seen = tour(chromium, server, lang)
    assert len(seen) == len(set(seen)) == 14
