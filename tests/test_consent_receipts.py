"""The banner for visitors Pledge does not know: cookies declared per category in the policy,
choices kept server-side under a receipt id (no personal data), GPC honoured and recorded.
Over HTTP, attacks included: another site's form, oversized and malformed bodies, floods."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from pledge.policy.lint import lint_policy
from pledge.policy.model import Policy
from pledge.store.tables.consent import consent_records
from pledge.web.app import create_app
from tests.conftest import EXAMPLES
from tests.test_consent_platforms import platform_engine

SAME = {"Origin": "http://testserver"}


@pytest.fixture
def site(tmp_path: Path) -> Any:
    engine = platform_engine("onestepai", tmp_path)  # has a marketing category that sells or shares
    yield engine, TestClient(create_app(engine))
    engine.close()


def rows(engine: Any, key: str) -> list[Any]:
    with engine.store.connect() as conn:
        return list(conn.execute(select(consent_records).where(consent_records.c.subject_key == key)))


def test_a_visitor_choice_is_kept_under_a_receipt_without_personal_data(site: Any) -> None:
    engine, client = site
    res = client.post("/v1/consent/receipt", headers={**SAME, "User-Agent": "Secret/1.0"},
                      content='{"choices": {"analytics": true, "marketing": false}}')
    assert res.status_code == 200, res.text
    out = res.json()
    receipt = out["receipt"]
    assert receipt.startswith("rcpt_") and len(receipt) == 27 and out["gpc"] is False
    recorded = rows(engine, receipt)
    assert {(r.purpose, r.state) for r in recorded} >= {("cookies.analytics", "given"),
                                                        ("cookies.marketing", "refused")}
    for r in recorded:
        assert r.proof is None and "Secret" not in str(tuple(r)) and "testclient" not in str(tuple(r))
    # the same visitor changes their mind: the same receipt, one history
    again = client.post("/v1/consent/receipt", headers=SAME,
                        json={"receipt": receipt, "choices": {"analytics": False}}).json()
    assert again["receipt"] == receipt
    assert [r.state for r in rows(engine, receipt) if r.purpose == "cookies.analytics"] == ["given", "refused"]
    # a made-up receipt is not adopted
    forged = client.post("/v1/consent/receipt", headers=SAME,
                         json={"receipt": "rcpt_../../admin", "choices": {"analytics": True}}).json()
    assert forged["receipt"] != "rcpt_../../admin" and forged["receipt"].startswith("rcpt_")


def test_gpc_turns_sale_sharing_and_marketing_off_and_says_so(site: Any) -> None:
    engine, client = site
    out = client.post("/v1/consent/receipt", headers={**SAME, "Sec-GPC": "1"},
                      json={"choices": {"analytics": True, "marketing": True}}).json()
    assert out["gpc"] is True and out["gpc_honoured"] is True and out["gpc_overrode"] is True
    states = {r.purpose: r.state for r in rows(engine, out["receipt"])}
    assert states["cookies.marketing"] == "refused" and states["advertising"] == "refused"
    assert states["cookies.analytics"] == "given"
    assert all(r.gpc for r in rows(engine, out["receipt"]))
    config = client.get("/v1/consent/config", headers={"Sec-GPC": "1"}).json()
    cats = {c["key"]: c for c in config["categories"]}
    assert config["gpc"] is True and cats["marketing"]["gpc_off"] and not cats["analytics"]["gpc_off"]
    assert "Global Privacy Control" in config["texts"]["en"]["gpc_honoured"]
    assert "Global Privacy Control" in config["texts"]["pl"]["gpc_honoured"]


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 403),                                            # no Origin, no Referer: not from our page
    ({"Origin": "https://evil.example"}, 403),            # another site's form or script
    ({"Origin": "null"}, 403),                            # a sandboxed frame
    ({"Referer": "https://evil.example/x"}, 403),
    ({"Referer": "http://testserver/consent/demo"}, 200),  # no Origin, but our own page referred
])
def test_only_this_sites_pages_may_record(site: Any, headers: dict[str, str], status: int) -> None:
    _, client = site
    res = client.post("/v1/consent/receipt", headers=headers, json={"choices": {"analytics": True}})
    assert res.status_code == status, res.text


@pytest.fixture
def embedded(tmp_path: Path) -> Any:
    """onestepai with the platform's own site listed as embedding the banner."""
    import yaml

    from pledge.engine import Engine
    from pledge.settings import Settings

    platform_engine("onestepai", tmp_path).close()  # the example's files and platform tables
    cfg = tmp_path / "pledge.yaml"
    cfg.write_text(yaml.safe_dump({**yaml.safe_load(cfg.read_text()),
                                   "banner_origins": ["https://www.onestepai.example/", "http://localhost:8080"]}))
    engine = Engine.from_config_file(cfg, Settings(environment="test"))
    yield engine, TestClient(create_app(engine))
    engine.close()


@pytest.mark.parametrize(("headers", "status", "cors"), [
    ({"Origin": "https://www.onestepai.example"}, 200, "https://www.onestepai.example"),  # listed
    ({"Origin": "HTTP://LOCALHOST:8080"}, 200, "http://localhost:8080"),  # origins compare case-blind
    ({"Referer": "https://www.onestepai.example/pricing?x=1"}, 200, "https://www.onestepai.example"),
    ({"Origin": "http://www.onestepai.example"}, 403, None),   # another scheme is another origin
    ({"Origin": "https://www.onestepai.example:444"}, 403, None),  # and another port
    ({"Origin": "https://evil.onestepai.example"}, 403, None),
    ({"Origin": "http://testserver"}, 200, None),               # this site's own page: no CORS needed
])
def test_the_platforms_own_sites_that_embed_the_banner_may_record(
        embedded: Any, headers: dict[str, str], status: int, cors: str | None) -> None:
    engine, client = embedded
    res = client.post("/v1/consent/receipt", headers={**headers, "Content-Type": "text/plain;charset=UTF-8"},
                      content='{"choices": {"analytics": true, "marketing": true}}')
    assert res.status_code == status, res.text
    assert res.headers.get("access-control-allow-origin") == cors
    if status == 200:
        assert rows(engine, res.json()["receipt"])  # kept server-side under the receipt
        assert cors is None or res.headers["vary"] == "Origin"


def test_banner_origins_must_be_origins(tmp_path: Path) -> None:
    from pledge.settings import ConfigError, load_config

    for bad in ("onestepai.example", "https://x.example/path", "javascript:alert(1)", "https://x.example:99999"):
        (tmp_path / "pledge.yaml").write_text(f'name: x\npolicy: p.yaml\ndataset: d.yaml\nbanner_origins: ["{bad}"]\n')
        with pytest.raises(ConfigError, match="banner_origins"):
            load_config(tmp_path / "pledge.yaml")


@pytest.mark.parametrize(("body", "status"), [
    ("x" * 5000, 413),
    ('{"choices": {"analytics": true}, "pad": "' + "x" * 3000 + '"}', 413),
    ("not json", 422),
    ('{"choices": {"tracking_pixels": true}}', 422),
    ('{"choices": "all"}', 422),
    ('{"choices": {"analytics": true}, "receipt": "' + "r" * 100 + '"}', 422),
    ("[]", 422),
])
def test_bad_bodies_are_refused(site: Any, body: str, status: int) -> None:
    engine, client = site
    res = client.post("/v1/consent/receipt", headers=SAME, content=body)
    assert res.status_code == status, res.text
    with engine.store.connect() as conn:
        assert not list(conn.execute(select(consent_records)))


def test_one_address_cannot_flood_the_ledger(site: Any) -> None:
    _, client = site
    codes = [client.post("/v1/consent/receipt", headers=SAME, json={"choices": {"analytics": True}}).status_code
             for _ in range(62)]
    assert codes[:60] == [200] * 60 and codes[60:] == [429, 429]


def test_banner_lists_each_categorys_cookies_in_both_languages_and_links_the_notice(site: Any) -> None:
    _, client = site
    config = client.get("/v1/consent/config").json()
    assert config["notice"] == "/notice" and config["receipt_endpoint"] == "/v1/consent/receipt"
    cats = {c["key"]: c for c in config["categories"]}
    essential = cats["essential"]["words"]
    assert essential["en"]["cookies"][0] == {"name": "pledge_consent", "provider": "OneStepAI (this site)",
                                             "duration": "180 days", "purpose": essential["en"]["cookies"][0]["purpose"]}
    assert essential["pl"]["cookies"][0]["duration"] == "180 dni"
    assert cats["marketing"]["words"]["pl"]["name"] == "Reklamowe pliki cookie"
    js = client.get("/consent.js").text
    config_part = js.split("var CONFIG = ", 1)[1].split(";\n", 1)[0]
    assert "pledge_consent" in config_part and "receipt_endpoint" in config_part and "</" not in config_part


def test_every_examples_cookie_category_declares_its_cookies() -> None:
    import yaml

    for name in ("omni-one", "onestepai", "onetagger"):
        policy = Policy.model_validate(yaml.safe_load((EXAMPLES / name / "policy.yaml").read_text()))
        for cat in policy.cookies:
            assert cat.cookies, (name, cat.key)
            for cookie in cat.cookies:
                assert cookie.name and cookie.provider and cookie.purpose, (name, cookie.name)
        assert not [f for f in lint_policy(policy).findings if f.code == "PL101"], name


def test_lint_names_a_category_without_cookies_and_a_cookie_without_its_duration() -> None:
    policy = Policy.model_validate({
        "version": "1", "controller": {"name": "C", "country": "PL", "email": "c@example.org"},
        "cookies": [{"key": "essential", "name": "Essential"},
                    {"key": "analytics", "name": "Analytics"},
                    {"key": "functional", "name": "Functional", "cookies": ["lang", {
                        "name": "ui", "provider": "C", "purpose": "layout"}]}]})
    codes = [(f.code, f.path) for f in lint_policy(policy).findings if f.code in ("PL101", "PL102")]
    assert ("PL101", "cookies[1].cookies") in [(c, str(p)) for c, p in codes] or len(codes) == 3
    assert sum(1 for c, _ in codes if c == "PL101") == 1  # essential needs no list
    assert sum(1 for c, _ in codes if c == "PL102") == 2  # "lang" (a bare name) and "ui" (no duration)
    assert policy.cookies[2].cookies[0].name == "lang"  # a bare name still reads
