"""Attacks on the routes added in the last two sessions: the banner's receipt route and
``banner_origins``, the signed preference-centre link, the console's breach forms and
request confirm/approve pages, the requester's certificate and readable access package,
and the brand stylesheet and logo.

One deployment is served over real HTTP for the whole module (SQLite store and platform;
its ``pledge.yaml`` names ``https://shop.example`` as a site embedding the banner). The
attacker speaks HTTP only; outcomes are read from the databases with plain SQL. Each test
says what a vulnerable implementation would do.

Before the fixes: a receipt body nested deeper than the JSON parser's recursion limit
(``[[[[…``, 1.5 KB) escaped as a 500 (RecursionError is not a ValueError), and a breach id
past the store's integer range (``/admin/breaches/99999999999999999999999``) reached the
driver and answered 500 (SQLite OverflowError).
"""

from __future__ import annotations

import io
import re
import secrets
import shutil
import time
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import create_engine, text

from pledge.consent.unsubscribe import (
    PREFERENCES_MAX_AGE,
    PREFERENCES_SALT,
    preferences_token,
    unsubscribe_token,
)
from pledge.devmail import DevMail
from pledge.engine import Engine
from pledge.settings import Settings, load_config
from pledge.web.app import create_app
from tests.attacks.support import Target, platform_template
from tests.browser import serving
from tests.services import database_url
from tests.web_support import PASSWORD, csrf_of

SHOP = "https://shop.example"
RECEIPT = "/v1/consent/receipt"
XSS = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'


@contextmanager
def _serve(root: Path) -> Iterator[Target]:
    """tests.attacks.support.served, with ``banner_origins`` added to the copied pledge.yaml."""
    template = platform_template(root.parent / "attack-templates")
    folder = root / "site"
    shutil.copytree(template, folder, ignore=shutil.ignore_patterns(".pledge"))
    cfg = folder / "pledge.yaml"
    cfg.write_text(cfg.read_text() + f"\nbanner_origins: [{SHOP}]\n")
    with ExitStack() as stack:
        store_url = stack.enter_context(database_url("sqlite", root))
        sink = DevMail("127.0.0.1", 0)
        sink.start()
        stack.callback(sink.stop)
        s = Settings(environment="test", smtp_host="127.0.0.1", smtp_port=sink.port, database_url=store_url)
        engine = Engine(load_config(cfg, s), s, devmail=sink)
        stack.callback(engine.close)
        _ = engine.store
        url = stack.enter_context(serving(create_app(engine)))
        yield Target(url, engine, sink, cfg, store_url)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with _serve(tmp_path_factory.mktemp("new-routes")) as t:
        yield t


def client(target: Target, address: str = "127.0.0.1", **kwargs: Any) -> httpx.Client:
    """A browser on ``address`` (any 127.x address reaches the loopback server)."""
    return httpx.Client(base_url=target.url, timeout=30,
                        transport=httpx.HTTPTransport(local_address=address), **kwargs)


def count(target: Target, sql: str, **params: Any) -> int:
    return int(next(iter(target.store_rows(sql, **params)[0].values())))


def receipts(target: Target) -> int:
    return count(target, "SELECT COUNT(*) FROM consent_records WHERE subject_key LIKE 'rcpt_%'")


# -- POST /v1/consent/receipt ----------------------------------------------------------------------
@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},                                              # sandboxed iframe, file://
    {},                                                              # neither Origin nor Referer
    {"Referer": "https://evil.example/page"},
    {"Origin": "https://evil.example", "Referer": "{self}/consent/demo"},  # Origin wins over a forged Referer
    {"Origin": "https://shop.example.evil.example"},                 # listed origin as a prefix
    {"Origin": "https://evil.example.shop.example"},                 # ... as a suffix
    {"Origin": "http://shop.example"},                               # listed host, other scheme
    {"Origin": "https://shop.example:8443"},                         # listed host, other port
    {"Origin": "{self}.evil.example"},                               # this host as a prefix
    {"Origin": "javascript://shop.example"},
    {"Referer": "https://shop.example@evil.example/"},               # userinfo trick
])
def test_a_page_of_another_site_cannot_record_a_choice(target: Target, headers: dict[str, str]) -> None:
    # Vulnerable: an Origin check by prefix/substring, a Referer trusted over a foreign Origin,
    # or none at all, records choices any site's script sends in a visitor's name, and
    # answers with CORS headers that let that site read the receipt.
    headers = {k: v.replace("{self}", target.url) for k, v in headers.items()}
    before = receipts(target)
    with target.client() as http:
        res = http.post(RECEIPT, headers={**headers, "Content-Type": "text/plain"},
                        content='{"choices": {"analytics": true}}')
    assert res.status_code == 403, res.text
    assert "access-control-allow-origin" not in res.headers
    assert receipts(target) == before


def test_a_listed_site_gets_cors_for_itself_only_and_never_credentials(target: Target) -> None:
    # Vulnerable: ``Access-Control-Allow-Origin: *`` or a reflected Origin with credentials
    # lets any site read receipts; an answer to a preflight from any site opens the route to it.
    with target.client() as http:
        ok = http.post(RECEIPT, headers={"Origin": SHOP, "Content-Type": "text/plain"},
                       content='{"choices": {"analytics": true}}')
        assert ok.status_code == 200, ok.text
        assert ok.headers["access-control-allow-origin"] == SHOP
        assert "access-control-allow-credentials" not in ok.headers
        assert "origin" in ok.headers.get("vary", "").lower()
        assert ok.headers.get("cache-control") == "no-store"
        same = http.post(RECEIPT, headers={"Origin": target.url}, json={"choices": {"analytics": True}})
        assert same.status_code == 200 and "access-control-allow-origin" not in same.headers
        for origin in ("https://evil.example", SHOP):
            pre = http.options(RECEIPT, headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                                 "Access-Control-Request-Headers": "content-type"})
            assert pre.headers.get("access-control-allow-origin") in (None, SHOP if origin == SHOP else None)
            assert "access-control-allow-origin" not in pre.headers or origin == SHOP


def test_receipts_cannot_be_guessed_read_or_steered_into_a_persons_history(target: Target) -> None:
    # Vulnerable: sequential or short receipt ids (anyone could write into the next visitor's
    # history), an answer that echoes the earlier choices under a receipt (reading someone
    # else's history), a route that lists a receipt's records, or a receipt id that may name
    # a person's subject key (writing into a known person's consent).
    self_origin = {"Origin": target.url}
    with target.client() as http:
        issued = [http.post(RECEIPT, headers=self_origin, json={"choices": {"analytics": i % 2 == 0}}).json()["receipt"]
                  for i in range(12)]
        assert len(set(issued)) == 12
        assert all(re.fullmatch(r"rcpt_[A-Za-z0-9_-]{22}", r) for r in issued), issued
        assert len({r[5:9] for r in issued}) > 6, "receipts share a predictable prefix"
        victim = issued[0]
        # the victim's history is never echoed back to someone who knows (or guessed) the id
        res = http.post(RECEIPT, headers=self_origin, json={"receipt": victim, "choices": {"functional": False}})
        assert res.status_code == 200
        assert {r["purpose"] for r in res.json()["recorded"]}.isdisjoint({"cookies.analytics"}), res.json()
        for path in (f"{RECEIPT}/{victim}", f"{RECEIPT}?receipt={victim}", f"/v1/consent?receipt={victim}"):
            got = http.get(path, headers=self_origin)
            assert got.status_code in (401, 403, 404, 405, 422), (path, got.status_code, got.text[:200])
            assert "cookies.analytics" not in got.text
        # a person's own consent key is not a receipt: the route mints a new one instead
        person = _person(target, 0)
        key = target.engine.consent.subject_keys(person)[0]
        before = count(target, "SELECT COUNT(*) FROM consent_records WHERE subject_key = :k", k=key)
        for forged in (key, "rcpt_" + key[:22], f"rcpt_{key}", "rcpt_' OR 1=1 --aaaaaaaaaa", "RCPT_" + victim[5:]):
            out = http.post(RECEIPT, headers=self_origin, json={"receipt": forged, "choices": {"analytics": True}})
            assert out.status_code in (200, 422), out.text
            if out.status_code == 200 and forged != "rcpt_" + key[:22]:
                assert out.json()["receipt"] != forged
        assert count(target, "SELECT COUNT(*) FROM consent_records WHERE subject_key = :k", k=key) == before


def _chunks(data: bytes) -> Iterator[bytes]:
    for i in range(0, len(data), 512):
        yield data[i:i + 512]


@pytest.mark.parametrize(("body", "status"), [
    (b'{"choices": {"analytics": true}, "notice_version": "' + b"x" * 3000 + b'"}', 413),
    (b"not json at all", 422),
    (b'["choices"]', 422),
    (b"[" * 1800 + b"]" * 1800, 413),
    (b"[" * 1500, 422),                        # nested deeper than the parser's recursion limit
    (b'{"choices": ' * 150 + b"{}" + b"}" * 150, 422),
    (b'{"choices": {"no_such_category": true}}', 422),
    (b'{"choices": {"analytics": {"$ne": 1}}}', 422),
    (b'{"choices": {"a1": true, "a2": true, "a3": true, "a4": true, "a5": true, "a6": true, '
     b'"a7": true, "a8": true, "a9": true}}', 422),
    (b'{"choices": {"' + b"k" * 1500 + b'": true}}', 422),
    (b'{"choices": {"analytics": true}, "receipt": "' + b"r" * 60 + b'"}', 422),
    (b"\xff\xfe{\x00", 422),
])
def test_oversized_and_malformed_bodies_are_refused_with_nothing_recorded(target: Target, body: bytes,
                                                                           status: int) -> None:
    # Vulnerable: a body read whole before checking its size; a parser error (deep nesting
    # raises RecursionError, not ValueError) escaping as a 500; an unknown category or a
    # non-boolean choice recorded as it came.
    before = receipts(target)
    with target.client() as http:
        res = http.post(RECEIPT, headers={"Origin": target.url, "Content-Type": "text/plain"}, content=body)
        assert res.status_code == status, (res.status_code, res.text[:300])
        streamed = http.post(RECEIPT, headers={"Origin": target.url}, content=_chunks(body))
        assert streamed.status_code == status, (streamed.status_code, streamed.text[:300])
    assert receipts(target) == before


def test_a_flood_of_choices_from_one_address_is_stopped_whatever_it_says_it_forwards(target: Target) -> None:
    # Vulnerable: no limit (a script fills the ledger), or a limit keyed on X-Forwarded-For
    # that a direct client sets to a new address every time.
    before = receipts(target)
    statuses = []
    with client(target, "127.0.0.2") as http:
        for i in range(64):
            res = http.post(RECEIPT, json={"choices": {"analytics": True}},
                            headers={"Origin": target.url, "X-Forwarded-For": f"10.9.{i // 250}.{i % 250 + 1}",
                                     "X-Real-IP": f"10.8.0.{i + 1}", "Forwarded": f"for=10.7.0.{i + 1}"})
            statuses.append(res.status_code)
            if res.status_code == 429:
                assert int(res.headers["retry-after"]) > 0
    assert statuses[:60] == [200] * 60 and set(statuses[60:]) == {429}, statuses
    assert receipts(target) - before <= 60 * 2  # analytics and its purposes, 60 times at most


# -- the preference centre's signed link ------------------------------------------------------------
_PEOPLE: dict[str, list[str]] = {}


def _person(target: Target, offset: int) -> str:
    """The n-th person of the platform as it was first read (an erasure test removes one later)."""
    if target.url not in _PEOPLE:
        _PEOPLE[target.url] = [str(r["email"]) for r in target.platform_rows("SELECT email FROM users ORDER BY id")]
    return _PEOPLE[target.url][offset]


def _centre_records(target: Target, email: str) -> int:
    keys = target.engine.consent.subject_keys(email)
    return sum(count(target, "SELECT COUNT(*) FROM consent_records WHERE subject_key = :k", k=k) for k in keys)


def _consent_purposes(target: Target) -> list[str]:
    return [p.key for p in target.engine.policy.purposes if p.consent_required or p.legal_basis == "consent"]


class _OldSigner(TimestampSigner):
    """Signs with the deployment's key, dated a day past the link's lifetime."""

    def get_timestamp(self) -> int:
        return int(time.time()) - PREFERENCES_MAX_AGE - 86400


def _swap_payload(token: str, other: str) -> str:
    """``other``'s payload with ``token``'s timestamp and signature."""
    payload, _, rest = token.partition(".")
    other_payload = other.partition(".")[0]
    return f"{other_payload}.{rest}" if other_payload != payload else token


def test_a_forged_or_foreign_preferences_link_changes_no_ones_consent(target: Target) -> None:
    # Vulnerable: an unsigned or unchecked token, a signature checked without the salt (an
    # unsubscribe link opening the whole preference centre), no expiry, or a page that
    # takes the person from a form field: anyone could change anyone's consent.
    alice, bob = _person(target, 3), _person(target, 4)
    good, bobs = preferences_token(target.engine, alice), preferences_token(target.engine, bob)
    expired = str(URLSafeTimedSerializer(target.engine.keys.signers, salt=PREFERENCES_SALT,
                                         signer=_OldSigner).dumps({"e": alice}))
    purposes = _consent_purposes(target)
    forged = {
        "tampered signature": good[:-3] + ("AAA" if good[-3:] != "AAA" else "BBB"),
        "bob's payload, alice's signature": _swap_payload(good, bobs),
        "cut short": good[: len(good) // 2],
        "unsubscribe link as a preferences link": unsubscribe_token(target.engine, alice, purposes[0]),
        "expired": expired,
        "empty": "x",
    }
    before = {p: _centre_records(target, p) for p in (alice, bob)}
    with target.client() as http:
        for what, token in forged.items():
            page = http.get(f"/preferences/{token}")
            assert page.status_code in (400, 410), (what, page.status_code)
            assert alice not in page.text and bob not in page.text, what
            res = http.post(f"/preferences/{token}", data={"purpose": purposes, "email": alice})
            assert res.status_code in (400, 410), (what, res.status_code)
        assert {p: _centre_records(target, p) for p in (alice, bob)} == before
        # alice's good link with bob's email in the form changes alice only
        res = http.post(f"/preferences/{good}", data={"purpose": purposes, "email": bob},
                        headers={"Origin": "https://evil.example"})
        assert res.status_code == 200, res.text[:300]
        assert res.headers.get("referrer-policy") == "no-referrer"  # the link never leaks by Referer
    assert _centre_records(target, bob) == before[bob]
    assert _centre_records(target, alice) > before[alice]


def test_the_choices_link_is_mailed_only_through_the_centres_own_form_and_says_nothing_of_who_exists(
        target: Target) -> None:
    # Vulnerable: no CSRF check on POST /privacy/choices (any site makes visitors' browsers
    # mail links to a victim), or an answer that differs for a known and an unknown email
    # (an account-existence oracle).
    known = _person(target, 10)
    unknown = f"nobody-{secrets.token_hex(4)}@example.org"
    with target.client() as http:
        sent = len(target.mails_to(known))
        for data in ({"email": known}, {"email": known, "csrf": "forged"}):
            res = http.post("/privacy/choices", data=data, headers={"Origin": "https://evil.example"})
            assert res.status_code == 403, res.status_code
        assert len(target.mails_to(known)) == sent
        page = http.get("/privacy")
        answers = []
        for email in (known, unknown):
            res = http.post("/privacy/choices", data={"email": email, "csrf": csrf_of(page.text)})
            assert res.status_code == 200, res.text[:300]
            answers.append(re.sub(r'name="csrf" value="[^"]*"', "", res.text))
        assert answers[0] == answers[1]
    deadline = time.monotonic() + 10
    while len(target.mails_to(known)) == sent and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(target.mails_to(known)) == sent + 1  # control: the form itself does mail the link


def test_opening_an_unsubscribe_link_changes_nothing_until_it_is_posted(target: Target) -> None:
    # Vulnerable: a GET that withdraws consent (mail scanners and link previews open every
    # link), so a forwarded or scanned email unsubscribes the person unasked.
    person = _person(target, 11)
    token = unsubscribe_token(target.engine, person, _consent_purposes(target)[0])
    before = _centre_records(target, person)
    with target.client() as http:
        for _ in range(2):
            assert http.get(f"/unsubscribe/{token}").status_code == 200
            assert http.head(f"/unsubscribe/{token}").status_code in (200, 405)
        assert _centre_records(target, person) == before
        assert http.post(f"/unsubscribe/{token}", content=b"List-Unsubscribe=One-Click").status_code == 200
    assert _centre_records(target, person) == before + 1


# -- the console: roles, CSRF, ids, escaping ------------------------------------------------------
@pytest.fixture(scope="module")
def console(target: Target) -> Iterator[dict[str, Any]]:
    """An owner and a viewer signed in, a breach the owner registered with script in its
    words, and a rectification request carrying script in its new value and note."""
    out: dict[str, Any] = {}
    for role in ("owner", "viewer"):
        email = f"{role}-{secrets.token_hex(3)}@pledge.test"
        _, uri = target.engine.admins.create_user(email, role, password=PASSWORD)
        http = client(target, follow_redirects=False)
        form = http.get("/admin/login")
        res = http.post("/admin/login", data={"csrf": csrf_of(form.text), "email": email, "password": PASSWORD,
                                              "code": pyotp.TOTP(pyotp.parse_uri(uri).secret).now()})
        assert res.status_code == 303, res.text[:300]
        out[role] = http
        out[f"{role}_csrf"] = csrf_of(http.get("/admin").text)
    owner = out["owner"]
    now = datetime.now(UTC) - timedelta(hours=1)
    res = owner.post("/admin/breaches/new", data={
        "csrf": out["owner_csrf"], "title": "T" + XSS, "description": "D" + XSS,
        "aware_at": now.strftime("%Y-%m-%dT%H:%M"), "window_from": (now - timedelta(days=3)).strftime("%Y-%m-%d"),
        "window_to": now.strftime("%Y-%m-%d"), "collections": ["main.users"], "fields": ["main.users.email"],
        "time_field": "created_at"})
    assert res.status_code == 303, res.text[:500]
    out["breach"] = int(re.search(r"/admin/breaches/(\d+)", res.headers["location"]).group(1))  # type: ignore[union-attr]
    person = _person(target, 5)
    with target.client() as http:
        made = http.post("/v1/requests", json={"kind": "rectification", "email": person, "params": {
            "changes": {"name": "N" + XSS}, "details": "note " + XSS}})
        assert made.status_code == 201, made.text
        rid = made.json()["request"]["id"]
        ok = http.post(f"/v1/requests/{rid}/verify", json={"code": target.code_for(person)})
        assert ok.status_code == 200, ok.text
    out["request"] = rid
    yield out
    for role in ("owner", "viewer"):
        out[role].close()


def _state(target: Target, rid: str) -> str:
    return str(target.store_rows("SELECT state FROM requests WHERE public_id = :p", p=rid)[0]["state"])


def test_a_viewer_cannot_write_through_any_form(target: Target, console: dict[str, Any]) -> None:
    # Vulnerable: a role check only in the template (buttons hidden) or only on the GET of a
    # form: a viewer with a valid session and CSRF token registers, assesses or notifies a
    # breach, approves/denies/extends/re-runs a request, or downloads someone's package.
    viewer, csrf, bid, rid = console["viewer"], console["viewer_csrf"], console["breach"], console["request"]
    breaches = count(target, "SELECT COUNT(*) FROM breaches")
    audit = count(target, "SELECT COUNT(*) FROM audit_log")
    state = _state(target, rid)
    now = datetime.now(UTC) - timedelta(hours=1)
    posts: dict[str, dict[str, Any]] = {
        "/admin/breaches/new": {"title": "viewer", "aware_at": now.strftime("%Y-%m-%dT%H:%M"),
                                "window_from": "2026-01-01", "window_to": now.strftime("%Y-%m-%d"),
                                "collections": ["main.users"], "time_field": "created_at"},
        f"/admin/breaches/{bid}/assess": {"likelihood": "high", "severity": "high", "measures": "m"},
        f"/admin/breaches/{bid}/report": {"phase": "initial", "note": "n"},
        f"/admin/breaches/{bid}/notify": {"confirm": "yes"},
        f"/admin/requests/{rid}/approve": {"confirm": "yes", "plan": ""},
        f"/admin/requests/{rid}/deny": {"ground": "manifestly_unfounded", "note": "n"},
        f"/admin/requests/{rid}/extend": {"reason": "r"},
        f"/admin/requests/{rid}/rerun": {},
    }
    for path, data in posts.items():
        res = viewer.post(path, data={"csrf": csrf, **data})
        assert res.status_code == 403, (path, res.status_code, res.text[:200])
    for path in ("/admin/breaches/new", f"/admin/requests/{rid}/approve", f"/admin/requests/{rid}/download"):
        assert viewer.get(path).status_code == 403, path
    shown = viewer.get(f"/admin/requests/{rid}")  # a person's note is for roles with personal_data only
    assert shown.status_code == 200 and "note &lt;script" not in shown.text and "note <script" not in shown.text
    assert "note &lt;script" in console["owner"].get(f"/admin/requests/{rid}").text  # control: the owner sees it
    people = viewer.get(f"/admin/breaches/{bid}/people")
    assert people.status_code == 200
    emails = {r["email"] for r in target.platform_rows("SELECT email FROM users")}
    assert not [e for e in emails if e in people.text], "a viewer sees affected people's emails"
    report = viewer.get(f"/admin/breaches/{bid}/report.json")
    assert report.status_code in (200, 403) and not [e for e in emails if e in report.text]
    assert count(target, "SELECT COUNT(*) FROM breaches") == breaches
    assert _state(target, rid) == state
    assert not target.store_rows("SELECT likelihood FROM breaches WHERE id = :i AND likelihood IS NOT NULL", i=bid)
    assert count(target, "SELECT COUNT(*) FROM audit_log") == audit


def test_console_forms_need_the_sessions_own_csrf_token(target: Target, console: dict[str, Any]) -> None:
    # Vulnerable: no token, a token checked only when present, or a token not bound to the
    # session (the viewer's, or another browser's, accepted): a page on another site posts
    # the owner's forms with the owner's cookie.
    owner, bid, rid = console["owner"], console["breach"], console["request"]
    breaches = count(target, "SELECT COUNT(*) FROM breaches")
    state = _state(target, rid)
    for token in (None, "", "forged-token", console["viewer_csrf"], console["owner_csrf"] + "x"):
        extra = {} if token is None else {"csrf": token}
        for path, data in ((f"/admin/breaches/{bid}/assess", {"likelihood": "high", "severity": "high"}),
                           ("/admin/breaches/new", {"title": "csrf"}),
                           (f"/admin/requests/{rid}/deny", {"ground": "manifestly_unfounded"}),
                           (f"/admin/requests/{rid}/approve", {"confirm": "yes"})):
            res = owner.post(path, data={**extra, **data}, headers={"Origin": "https://evil.example"})
            assert res.status_code == 403, (token, path, res.status_code)
    assert count(target, "SELECT COUNT(*) FROM breaches") == breaches
    assert _state(target, rid) == state


def test_without_a_console_session_no_breach_or_request_page_opens(target: Target, console: dict[str, Any]) -> None:
    # Vulnerable: a console route that forgets the session dependency shows a breach, the
    # affected people, a request's plan or certificate to anyone who knows (or counts) its id.
    bid, rid = console["breach"], console["request"]
    with target.client() as http:
        http.cookies.set("pledge_admin", "forged-session-value")
        for path in (f"/admin/breaches/{bid}", f"/admin/breaches/{bid}/people", f"/admin/breaches/{bid}/report.json",
                     f"/admin/requests/{rid}", f"/admin/requests/{rid}/approve", f"/admin/requests/{rid}/download",
                     f"/admin/requests/{rid}/certificate.json"):
            res = http.get(path)
            assert res.status_code in (303, 401, 403), (path, res.status_code)
            assert "&lt;script&gt;" not in res.text and "<script>alert" not in res.text, path
        for path in (f"/admin/breaches/{bid}/assess", f"/admin/requests/{rid}/deny"):
            res = http.post(path, data={"csrf": console["owner_csrf"], "likelihood": "high", "severity": "high",
                                        "ground": "manifestly_unfounded"})
            assert res.status_code in (303, 401, 403), (path, res.status_code)
    assert not target.store_rows("SELECT id FROM breaches WHERE id = :i AND likelihood IS NOT NULL", i=bid)


@pytest.mark.parametrize("path", [
    "/admin/breaches/0", "/admin/breaches/-1", "/admin/breaches/987654",
    "/admin/breaches/99999999999999999999999", "/admin/breaches/99999999999999999999999/people",
    "/admin/breaches/99999999999999999999999/report.json", "/admin/breaches/987654/people",
    "/admin/breaches/987654/report.json", "/admin/breaches/1/report.exe",
    "/admin/requests/REQ-nope", "/admin/requests/..%2F..%2Fetc/approve",
    "/admin/requests/%27%20OR%201%3D1--/certificate.json",
    "/admin/prove/0", "/admin/prove/987654", "/admin/prove/99999999999999999999999",
    "/admin/prove/99999999999999999999999/report.json",
])
def test_unknown_or_absurd_ids_are_not_found_not_errors(target: Target, console: dict[str, Any], path: str) -> None:
    # Vulnerable: an id passed unchecked to the store (an integer overflowing the column, a
    # string reaching SQL) answers 500 with a trace, or another record.
    res = console["owner"].get(path)
    assert res.status_code in (404, 422), (path, res.status_code, res.text[:300])
    assert "Traceback" not in res.text


def test_script_in_breach_words_and_request_values_is_shown_as_text(target: Target, console: dict[str, Any]) -> None:
    # Vulnerable: a ``|safe`` (or Markup) on a breach's title/description, a person's note or
    # a rectification's new value runs the attacker's script in the officer's console; a
    # CSP allowing inline script would let it run even so.
    owner, bid, rid = console["owner"], console["breach"], console["request"]
    pages = [f"/admin/breaches/{bid}", "/admin/breaches", f"/admin/breaches/{bid}/people",
             f"/admin/requests/{rid}", f"/admin/requests/{rid}/approve", "/admin"]
    shown = 0
    for path in pages:
        res = owner.get(path)
        assert res.status_code == 200, (path, res.status_code)
        assert "<script>alert" not in res.text and "<img src=x" not in res.text, path
        shown += res.text.count("&lt;script&gt;alert")
        csp = res.headers["content-security-policy"]
        script = re.search(r"script-src ([^;]*)", csp) or re.search(r"default-src ([^;]*)", csp)
        assert script and "'unsafe-inline'" not in script.group(1) and "*" not in script.group(1), csp
    assert shown >= 3, "the injected words are not on the pages at all (test would prove nothing)"
    report = owner.get(f"/admin/breaches/{bid}/report.html")
    assert report.status_code == 200 and "<script>alert" not in report.text


def test_an_officers_extension_reason_reaches_the_requester_as_text(target: Target, console: dict[str, Any]) -> None:
    # Vulnerable: the reason an officer types (or pastes from an email) rendered raw on the
    # requester's status page: script from the console runs on the public centre.
    person = _person(target, 9)
    with target.client() as http:
        made = http.post("/v1/requests", json={"kind": "access", "email": person})
        assert made.status_code == 201, made.text
        rid = made.json()["request"]["id"]
        ver = http.post(f"/v1/requests/{rid}/verify", json={"code": target.code_for(person)})
        token = ver.json()["status_token"]
    res = console["owner"].post(f"/admin/requests/{rid}/extend", data={"csrf": console["owner_csrf"],
                                                                       "reason": "R" + XSS})
    assert res.status_code == 303, res.text[:300]
    with target.client() as http:
        page = http.get(f"/privacy/requests/{rid}?t={token}")
    assert page.status_code == 200
    assert "R&lt;script&gt;alert" in page.text and "<script>alert" not in page.text


# -- the requester's status, certificate and readable package --------------------------------------
def test_another_requests_status_token_opens_nothing_and_the_package_escapes_platform_values(
        target: Target) -> None:
    # Vulnerable: a status token that is not bound to its request id (one person's link opens
    # every request's status page and certificate), or a package page rendering platform
    # values without escaping (a user named <script>… runs script when the person opens it).
    mine, theirs = target.platform_rows("SELECT id, email FROM users WHERE status = 'active' AND email NOT IN "
                                        "(:a, :b, :c, :d, :e, :f, :g) ORDER BY id LIMIT 2",
                                        **dict(zip("abcdefg", (_person(target, i) for i in (3, 4, 5, 9, 10, 11, 0)),
                                                   strict=True)))
    platform = create_engine(f"sqlite:///{target.cfg.parent / 'platform.db'}")
    with platform.begin() as conn:
        conn.execute(text("UPDATE users SET name = :n WHERE id = :id"), {"n": XSS, "id": mine["id"]})
    platform.dispose()
    officer = target.engine.admins.create_api_key("officer", ["requests:read", "requests:approve", "exports:read"])
    ids, tokens = {}, {}
    with target.client() as http:
        for who, kind in ((mine, "access"), (theirs, "erasure")):
            made = http.post("/v1/requests", json={"kind": kind, "email": who["email"]})
            assert made.status_code == 201, made.text
            rid = made.json()["request"]["id"]
            ver = http.post(f"/v1/requests/{rid}/verify", json={"code": target.code_for(who["email"])})
            assert ver.status_code == 200, ver.text
            ids[kind], tokens[kind] = rid, ver.json()["status_token"]
        done = http.post(f"/v1/requests/{ids['access']}/approve", headers={"Authorization": f"Bearer {officer}"})
        assert done.status_code == 200 and done.json()["download_url"], done.text
        package = zipfile.ZipFile(io.BytesIO(http.get(done.json()["download_url"]).content))
        page = package.read("index.html").decode()
        assert "&lt;script&gt;alert" in page and "<script>alert" not in page and "<img src=x" not in page
        erased = http.post(f"/v1/requests/{ids['erasure']}/approve", headers={"Authorization": f"Bearer {officer}"})
        assert erased.status_code == 200, erased.text
    mine_token, their_id = tokens["access"], ids["erasure"]
    with target.client() as stranger:  # holds a valid status token, of another request
        for path in (f"/privacy/requests/{their_id}?t={mine_token}", f"/privacy/requests/{their_id}/certificate?t={mine_token}",
                     f"/privacy/status/{their_id}?token={mine_token}", f"/v1/requests/{their_id}?status_token={mine_token}"):
            res = stranger.get(path, follow_redirects=False)
            assert res.status_code in (401, 403, 404), (path, res.status_code)
            assert theirs["email"] not in res.text and '"signature"' not in res.text, path
        # its own link is remembered, then tried against the other request by cookie
        assert stranger.get(f"/privacy/status/{ids['access']}?token={mine_token}",
                            follow_redirects=True).status_code == 200
        assert stranger.get(f"/privacy/requests/{their_id}/certificate").status_code == 403
    with target.client() as owner_browser:  # control: the right token does open the certificate
        res = owner_browser.get(f"/privacy/requests/{their_id}/certificate?t={tokens['erasure']}")
        assert res.status_code == 200 and '"signature"' in res.text, res.status_code


# -- /brand.css and /brand/logo ------------------------------------------------------------------
@pytest.mark.parametrize("path", [
    "/brand/logo/../pledge.yaml", "/brand/logo/..%2Fpledge.yaml", "/brand/logo%2F..%2Fpledge.yaml",
    "/brand/..%2F..%2Fpledge.yaml", "/brand/logo?file=../pledge.yaml", "/brand/logo?path=pledge.yaml",
    "/brand/%2e%2e/pledge.yaml", "/brand/logo/.pledge/keys.json", "/brand.css/../pledge.yaml",
])
def test_nothing_from_the_request_chooses_the_logo_file(target: Target, path: str) -> None:
    # Vulnerable: a logo route that takes a file name (or path suffix) from the URL serves
    # pledge.yaml or the keys file from the deployment folder.
    with httpx.Client(base_url=target.url, timeout=30) as http:
        res = http.get(path)
    assert "platform_url" not in res.text and "signing" not in res.text and "banner_origins" not in res.text
    if res.status_code == 200:
        assert res.headers["content-type"].startswith("image/"), (path, res.headers["content-type"])


def test_the_logo_is_a_sandboxed_image_and_the_stylesheet_ignores_the_request(target: Target) -> None:
    # Vulnerable: an SVG logo served as a document of this origin (script inside it runs
    # here), sniffable, or a stylesheet echoing a query or header into CSS.
    with target.client() as http:
        logo = http.get("/brand/logo")
        assert logo.status_code == 200
        assert logo.headers["content-type"].startswith("image/")
        csp = logo.headers["content-security-policy"]
        assert "sandbox" in csp and "default-src 'none'" in csp and "script-src" not in csp
        assert logo.headers.get("x-content-type-options") == "nosniff"
        plain = http.get("/brand.css").text
        evil = "}</style><script>x</script>body{background:url(https://evil.example/"
        poisoned = http.get("/brand.css", params={"colour": evil, "primary_colour": evil},
                            headers={"X-Brand": evil, "Referer": evil, "Cookie": f"brand={evil}"})
        assert poisoned.status_code == 200 and poisoned.text == plain
        assert poisoned.headers["content-type"].startswith("text/css")
