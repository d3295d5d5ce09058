"""The three example platforms' consents, end to end, against their own policy.yaml
and dataset.yaml. The platform database here holds only the person table the facts
come from (columns as in the platform schema contract), filled from Faker."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml
from faker import Faker
from fastapi.testclient import TestClient
from sqlalchemy import text

from pledge.consent.unsubscribe import preferences_token, unsubscribe_token, use_unsubscribe
from pledge.engine import Engine
from pledge.settings import Settings
from pledge.web.app import create_app
from tests.conftest import EXAMPLES
from tests.consent_env import NOW

PERSON_TABLES = {
    "omni-one": "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT, birth_date DATE, "
                "status TEXT NOT NULL DEFAULT 'active', closed_at TIMESTAMP, created_at TIMESTAMP)",
    "onetagger": "CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT, "
                 "status TEXT NOT NULL DEFAULT 'active', closed_at TIMESTAMP, created_at TIMESTAMP)",
    "onestepai": "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT, birth_date DATE, "
                 "parental_consent BOOLEAN NOT NULL DEFAULT 0, status TEXT NOT NULL DEFAULT 'active', "
                 "closed_at TIMESTAMP, created_at TIMESTAMP)",
}


def platform_engine(name: str, tmp_path: Path) -> Engine:
    src = EXAMPLES / name
    if not (src / "policy.yaml").exists() or not (src / "dataset.yaml").exists():
        pytest.skip(f"examples/{name} has no policy.yaml/dataset.yaml yet")
    for f in ("policy.yaml", "dataset.yaml"):
        shutil.copyfile(src / f, tmp_path / f)
    (tmp_path / "pledge.yaml").write_text(yaml.safe_dump({
        "name": name, "policy": "policy.yaml", "dataset": "dataset.yaml",
        "platform_url": "sqlite:///platform.db", "store_url": "sqlite:///store.db"}), encoding="utf-8")
    engine = Engine.from_config_file(tmp_path / "pledge.yaml", Settings(environment="test"),
                                     clock=lambda: NOW)
    with engine.platform_engine("main").begin() as conn:
        conn.execute(text(PERSON_TABLES[name]))
    return engine


def person(engine: Engine, table: str, **cols: object) -> str:
    fake = Faker()
    email = fake.unique.email()
    values = {"email": email, "name": fake.name(), **cols}
    names = ", ".join(values)
    with engine.platform_engine("main").begin() as conn:
        conn.execute(text(f"INSERT INTO {table} ({names}) VALUES ({', '.join(':' + k for k in values)})"), values)
    return email


def test_omni_one_marketing_email_and_email_tracking(tmp_path: Path) -> None:
    engine = platform_engine("omni-one", tmp_path)
    email = person(engine, "users", birth_date=date(1992, 4, 1))
    assert engine.may(email, "marketing_email").code == "no_consent"
    assert engine.may(email, "service").allowed
    client = TestClient(create_app(engine))
    token = preferences_token(engine, email)
    page = client.get(f"/preferences/{token}?lang=en")
    assert 'value="marketing_email"' in page.text and 'value="email_tracking"' in page.text
    client.post(f"/preferences/{token}", data={"purpose": ["marketing_email", "email_tracking"]})
    assert engine.may(email, "marketing_email").allowed and engine.may(email, "email_tracking").allowed
    # "click Unsubscribe in any marketing email": the link stops marketing, not tracking consent
    use_unsubscribe(engine, unsubscribe_token(engine, email, "marketing_email"))
    assert engine.may(email, "marketing_email").code == "consent_withdrawn"
    assert engine.may(email, "email_tracking").allowed
    # 18+ only; closed accounts get nothing but legal obligations
    minor = person(engine, "users", birth_date=date(2010, 1, 1))
    assert engine.may(minor, "service").code == "below_minimum_age"
    closed = person(engine, "users", birth_date=date(1980, 1, 1), status="closed")
    assert engine.may(closed, "email_tracking").code == "account_closed"
    assert engine.may(closed, "legal_obligations").allowed
    # material changes may require consent again: a new notice version asks again
    engine.policy.version = "2099-01-01"
    engine.decisions.invalidate()
    assert engine.may(email, "email_tracking").code == "reconsent_needed"
    engine.close()


def test_onetagger_newsletter_and_tracking_cookies(tmp_path: Path) -> None:
    engine = platform_engine("onetagger", tmp_path)
    key = engine.admins.create_api_key("onetagger", ["decisions:read", "consent:write"])
    client = TestClient(create_app(engine), headers={"Authorization": f"Bearer {key}"})
    # a newsletter subscriber need not have an account
    subscriber = Faker().unique.email()
    assert engine.may(subscriber, "biuletyn").code == "no_consent"
    r = client.post("/v1/consent", json={"subject": subscriber, "purpose": "biuletyn", "state": "given",
                                         "method": "newsletter_form", "channel": "web"})
    assert r.status_code == 200, r.text
    assert engine.may(subscriber, "biuletyn").allowed
    assert client.post(f"/unsubscribe/{unsubscribe_token(engine, subscriber, 'biuletyn')}",
                       content="List-Unsubscribe=One-Click").status_code == 200
    assert client.get("/v1/decisions", params={"subject": subscriber, "purpose": "biuletyn"}).json() == {
        "allowed": False, "reason": "consent withdrawn on 2026-06-01", "code": "consent_withdrawn"}
    # tracking cookies through the banner for an account holder
    account = person(engine, "accounts")
    cfg = client.get("/v1/consent/config").json()
    assert {c["key"] for c in cfg["categories"]} >= {"essential", "analytics"}
    token = preferences_token(engine, account)
    client.post("/v1/consent", json={"token": token, "choices": {"analytics": False, "marketing": False}})
    assert engine.may(account, "sledzace_cookie").code == "consent_refused"
    client.post("/v1/consent", json={"token": token, "choices": {"analytics": True}})
    assert engine.may(account, "sledzace_cookie").allowed
    page = client.get(f"/preferences/{token}?lang=pl")
    assert "Twoje ustawienia prywatności" in page.text and 'value="biuletyn"' in page.text
    engine.close()


def test_onestepai_testimonials_marketing_and_parental_consent(tmp_path: Path) -> None:
    engine = platform_engine("onestepai", tmp_path)
    adult = person(engine, "users", birth_date=date(1990, 2, 2))
    assert engine.may(adult, "testimonials").code == "no_consent"
    engine.consent.record(adult, "testimonials", "given", method="testimonial_form", channel="web")
    assert engine.may(adult, "testimonials").allowed
    assert engine.may(adult, "marketing_email").code == "no_consent"
    engine.consent.record(adult, "marketing_email", "given")
    assert engine.may(adult, "marketing_email").allowed
    # advertising shares data: GPC turns it off
    assert engine.may(adult, "advertising").allowed
    assert engine.may(adult, "advertising", gpc=True).code == "gpc"
    # 13 to 18: a parent's consent is needed, from the platform or recorded in Pledge
    teen = person(engine, "users", birth_date=date(2011, 9, 1))
    engine.consent.record(teen, "testimonials", "given")
    assert engine.may(teen, "testimonials").code == "parental_consent_missing"
    engine.consent.record(teen, "parental_consent", "given", method="parent_email", channel="email",
                          actor="guardian")
    assert engine.may(teen, "testimonials").allowed
    teen2 = person(engine, "users", birth_date=date(2010, 1, 1), parental_consent=True)
    assert engine.may(teen2, "account").allowed
    child = person(engine, "users", birth_date=date(2015, 1, 1), parental_consent=True)
    assert engine.may(child, "account").code == "below_minimum_age"
    engine.close()
