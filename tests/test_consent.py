"""The consent ledger, purpose decisions, unsubscribe links and the consent HTTP API."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select, text, update

from pledge.consent import consent_history, versions
from pledge.consent.unsubscribe import (
    LinkError,
    list_unsubscribe_headers,
    preferences_token,
    unsubscribe_token,
    use_unsubscribe,
)
from pledge.engine import Engine
from pledge.store.tables.consent import consent_current, consent_records
from pledge.store.tables.rights import objections, restrictions
from pledge.web.app import create_app
from tests.consent_env import NOW, add_user, make_engine


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    eng = make_engine(tmp_path)
    yield eng  # type: ignore[misc]
    eng.close()


def adult(engine: Engine, **kw: object) -> str:
    return add_user(engine, birth=date(1990, 5, 5), **kw)  # type: ignore[arg-type]


# -- the ledger ------------------------------------------------------------------------
def test_ledger_is_insert_only_with_current_state_beside_it(any_db_url: str, tmp_path: Path) -> None:
    eng = make_engine(tmp_path, store_url=any_db_url)
    email = adult(eng)
    eng.consent.record(email, "marketing_email", "given", method="web_form", channel="web",
                       ip="203.0.113.9", user_agent="Firefox/130")
    eng.consent.record(email, "marketing_email", "withdrawn", method="unsubscribe_link", channel="email")
    eng.consent.record(email, "analytics", "refused", gpc=True)
    with eng.store.connect() as conn:
        history = conn.execute(select(consent_records).order_by(consent_records.c.id)).all()
        current = {r.purpose: r for r in conn.execute(select(consent_current))}
    assert [(r.purpose, r.state) for r in history] == [
        ("marketing_email", "given"), ("marketing_email", "withdrawn"), ("analytics", "refused")]
    assert current["marketing_email"].state == "withdrawn"
    assert current["marketing_email"].record_id == history[1].id
    assert current["analytics"].gpc is True
    # no email, IP or user agent is stored; the proof is a keyed hash
    dump = " ".join(str(v) for r in history for v in r)
    assert email not in dump and "203.0.113.9" not in dump and "Firefox" not in dump
    assert history[0].proof == eng.consent.proof("203.0.113.9", "Firefox/130")
    assert history[0].proof != eng.consent.proof("203.0.113.10", "Firefox/130")
    assert history[0].subject_key == eng.ledger.keys_for({"email": email})["email"]
    assert history[0].notice_version == eng.policy.version
    eng.close()


def test_consent_history_for_the_access_package(engine: Engine) -> None:
    email = adult(engine)
    other = adult(engine)
    engine.consent.record(email, "marketing_email", "given", ip="198.51.100.1", user_agent="UA")
    engine.consent.record(other, "analytics", "given")
    engine.consent.record(email.upper(), "marketing_email", "withdrawn")
    rows = consent_history(engine, email)
    assert [(r["purpose"], r["state"]) for r in rows] == [("marketing_email", "given"),
                                                         ("marketing_email", "withdrawn")]
    assert rows[0]["proof"] and rows[1]["proof"] is None
    assert rows[0]["at"].startswith("2026-06-01")
    assert "subject_key" not in rows[0]


def test_unknown_purpose_and_bad_state_are_refused(engine: Engine) -> None:
    email = adult(engine)
    with pytest.raises(KeyError, match="no purpose 'nope'"):
        engine.consent.record(email, "nope", "given")
    with pytest.raises(ValueError, match="not one of"):
        engine.consent.record(email, "analytics", "maybe")
    with pytest.raises(ValueError, match="not an email"):
        engine.consent.record("not-an-email", "analytics", "given")


# -- decisions -------------------------------------------------------------------------
def test_withdrawal_takes_effect_on_the_very_next_decision(engine: Engine) -> None:
    email = adult(engine)
    assert engine.may(email, "marketing_email").code == "no_consent"
    engine.consent.record(email, "marketing_email", "given")
    first = engine.may(email, "marketing_email")
    assert first.allowed and first.code == "consent_given"
    assert engine.may(email, "marketing_email") is first  # served from the cache
    engine.consent.record(email, "marketing_email", "withdrawn")
    after = engine.may(email, "marketing_email")
    assert not after.allowed and after.code == "consent_withdrawn"
    assert "withdrawn on 2026-06-01" in after.reason


def test_rules_by_basis_age_account_restriction_objection(engine: Engine) -> None:
    email = adult(engine)
    assert engine.may(email, "service").code == "contract"
    assert engine.may(email, "security").allowed
    assert engine.may("nobody@example.test", "service").code == "no_account"
    # objection binds legitimate interests, not contract
    key = engine.consent.subject_key(email)
    with engine.store.begin() as conn:
        conn.execute(insert(objections).values(subject_key=key, purpose="security", reason="",
                                               created_at=NOW))
        versions.bump(conn, key)  # as rights code does (pledge.rights.restrict)
    assert engine.may(email, "security").code == "objected"
    assert engine.may(email, "service").allowed
    # a restriction stops everything but legal obligations (storage)
    with engine.store.begin() as conn:
        conn.execute(insert(restrictions).values(subject_key=key, purpose=None, reason="", created_at=NOW))
        versions.bump(conn, key)
    assert engine.may(email, "service").code == "restricted"
    assert engine.may(email, "tax").allowed
    with engine.store.begin() as conn:
        conn.execute(update(restrictions).where(restrictions.c.subject_key == key).values(lifted_at=NOW))
        versions.bump(conn, key)
    assert engine.may(email, "service").allowed


def test_age_rules_and_closed_accounts(engine: Engine) -> None:
    too_young = add_user(engine, birth=date(2015, 1, 1))
    teen = add_user(engine, birth=date(2011, 1, 1))
    teen_ok = add_user(engine, birth=date(2011, 1, 1), parental=True)
    closed = add_user(engine, birth=date(1980, 1, 1), status="closed")
    assert engine.may(too_young, "tax").code == "below_minimum_age"
    assert engine.may(teen, "service").code == "parental_consent_missing"
    assert engine.may(teen, "tax").allowed
    assert engine.may(teen_ok, "service").allowed
    engine.consent.record(teen, "parental_consent", "given", method="parent_form")
    assert engine.may(teen, "service").allowed  # a parent's consent recorded in the ledger counts
    assert engine.may(closed, "service").code == "account_closed"
    assert engine.may(closed, "tax").allowed


def test_gpc_turns_off_sale_and_sharing_only(engine: Engine) -> None:
    email = adult(engine)
    engine.consent.record(email, "ad_sharing", "given")
    engine.consent.record(email, "analytics", "given")
    assert engine.may(email, "ad_sharing").allowed
    assert engine.may(email, "ad_sharing", gpc=True).code == "gpc"
    assert engine.may(email, "analytics", gpc=True).allowed
    # a GPC signal recorded with a choice counts for later decisions too
    engine.consent.record(email, "analytics", "given", gpc=True)
    assert engine.may(email, "ad_sharing").code == "gpc"


def test_writes_by_other_modules_invalidate_the_cache(engine: Engine) -> None:
    """Restriction and objection rows written straight to the store, with the person's
    version counter moved in the same transaction (as rights code does)."""
    email = adult(engine)
    engine.consent.record(email, "marketing_email", "given")
    assert engine.may(email, "marketing_email").allowed
    key = engine.consent.subject_key(email)
    with engine.store.begin() as conn:
        conn.execute(insert(objections).values(subject_key=key, purpose="marketing_email", reason="",
                                               created_at=NOW))
        versions.bump(conn, key)
    assert engine.may(email, "marketing_email").code == "objected"
    with engine.store.begin() as conn:
        conn.execute(text("UPDATE objections SET withdrawn_at = CURRENT_TIMESTAMP"))
        versions.bump(conn, key)
    assert engine.may(email, "marketing_email").allowed


def test_rights_module_restriction_shows_on_next_decision(engine: Engine) -> None:
    restrict = pytest.importorskip("pledge.rights.restrict")
    email = adult(engine)
    assert engine.may(email, "service").allowed
    restrict.restrict(engine, email, None, reason="accuracy contested")
    assert engine.may(email, "service").code == "restricted"
    restrict.lift_restriction(engine, email)
    assert engine.may(email, "service").allowed


def test_facts_block_in_dataset_names_the_person_table(tmp_path: Path) -> None:
    from tests.consent_env import DATASET

    ds = {**DATASET, "facts": {"collection": "main.users", "birth_date": "birth_date",
                               "status": "status", "closed_statuses": ["gone"]}}
    eng = make_engine(tmp_path, dataset=ds)
    email = add_user(eng, birth=date(1990, 1, 1), status="gone")
    assert eng.may(email, "service").code == "account_closed"
    eng.close()


# -- unsubscribe -----------------------------------------------------------------------
def test_unsubscribe_link_works_once_and_shows_on_next_decision(engine: Engine) -> None:
    email = adult(engine)
    engine.consent.record(email, "marketing_email", "given")
    assert engine.may(email, "marketing_email").allowed
    token = unsubscribe_token(engine, email, "marketing_email")
    assert use_unsubscribe(engine, token)["state"] == "withdrawn"
    assert engine.may(email, "marketing_email").code == "consent_withdrawn"
    engine.consent.record(email, "marketing_email", "given")
    with pytest.raises(LinkError) as used:
        use_unsubscribe(engine, token)
    assert used.value.kind == "used"
    assert engine.may(email, "marketing_email").allowed  # the spent link changed nothing


def _flip(c: str) -> str:
    # Flip a middle character of the signature: the last base64 character may carry only
    # padding bits, so changing it does not always change the signature's bytes.
    return "A" if c != "A" else "B"


@pytest.mark.parametrize("mangle", [
    # payload.timestamp.signature; a compressed payload starts with "." itself
    lambda t: (lambda head, sig: head + "." + sig[:5] + _flip(sig[5]) + sig[6:])(*t.rsplit(".", 1)),
    lambda t: (lambda payload, stamp, sig: payload[::-1] + "x." + stamp + "." + sig)(*t.rsplit(".", 2)),
    lambda t: t.rsplit(".", 1)[0],
])
def test_tampered_unsubscribe_link_is_refused(engine: Engine, mangle: object) -> None:
    email = adult(engine)
    engine.consent.record(email, "marketing_email", "given")
    token = unsubscribe_token(engine, email, "marketing_email")
    with pytest.raises(LinkError) as bad:
        use_unsubscribe(engine, mangle(token))  # type: ignore[operator]
    assert bad.value.kind == "tampered"
    assert engine.may(email, "marketing_email").allowed


def test_rfc8058_headers(engine: Engine) -> None:
    email = adult(engine)
    h = list_unsubscribe_headers(engine, email, "marketing_email", mailto="unsubscribe@example.test")
    assert h["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = [p.strip() for p in h["List-Unsubscribe"].split(",")]
    assert https.startswith("<http") and "/unsubscribe/" in https and https.endswith(">")
    assert mailto.startswith("<mailto:unsubscribe@example.test?subject=")


# -- HTTP -------------------------------------------------------------------------------
@pytest.fixture
def client(engine: Engine) -> TestClient:
    """A platform's server: its API key may read decisions and record consent."""
    key = engine.admins.create_api_key("platform", ["decisions:read", "consent:write"])
    return TestClient(create_app(engine), headers={"Authorization": f"Bearer {key}"})


def test_http_decisions_single_and_batch(engine: Engine, client: TestClient) -> None:
    email = adult(engine)
    r = client.get("/v1/decisions", params={"subject": email, "purpose": "marketing_email"})
    assert r.status_code == 200 and r.json()["allowed"] is False and r.json()["reason"]
    r = client.post("/v1/consent", json={"subject": email, "purpose": "marketing_email", "state": "given"})
    assert r.status_code == 200, r.text
    assert client.get("/v1/decisions", params={"subject": email, "purpose": "marketing_email"}).json()["allowed"]
    batch = client.post("/v1/decisions/batch", json={"items": [
        {"subject": email, "purpose": "service"}, {"subject": email, "purpose": "ad_sharing"}]}).json()
    assert [x["allowed"] for x in batch["results"]] == [True, False]
    assert client.get("/v1/decisions", params={"subject": email, "purpose": "nope"}).status_code == 404
    assert client.get("/v1/decisions", params={"subject": "x", "purpose": "service"}).status_code == 422
    assert client.post("/v1/consent", json={"subject": email, "purpose": "analytics",
                                            "state": "perhaps"}).status_code == 422


def test_http_banner_choices_with_gpc_header(engine: Engine, client: TestClient) -> None:
    email = adult(engine)
    token = preferences_token(engine, email)
    r = client.post("/v1/consent", content=f'{{"token": "{token}", "choices": {{"analytics": true, '
                                           f'"marketing": true, "essential": true}}}}',
                    headers={"Content-Type": "text/plain", "Sec-GPC": "1"})
    assert r.status_code == 200, r.text
    recorded = {x["purpose"]: x["state"] for x in r.json()["recorded"]}
    assert recorded == {"cookies.analytics": "given", "analytics": "given",
                        "cookies.marketing": "refused", "ad_sharing": "refused"}
    assert engine.may(email, "analytics").allowed
    assert not engine.may(email, "ad_sharing").allowed
    bad = client.post("/v1/consent", json={"token": token + "x", "choices": {"analytics": True}})
    assert bad.status_code == 403
    browser = TestClient(client.app)  # the banner sends no key: the signed token is enough
    r = browser.post("/v1/consent", content=f'{{"token": "{token}", "choices": {{"analytics": false}}}}',
                     headers={"Content-Type": "text/plain"})
    assert r.status_code == 200, r.text
    assert not engine.may(email, "analytics").allowed


def test_consent_js_carries_policy_categories_and_version(engine: Engine, client: TestClient) -> None:
    r = client.get("/consent.js", headers={"Sec-GPC": "1"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert "__PLEDGE_CONFIG__" not in r.text
    assert f'"version": "{engine.policy.version}"' in r.text and '"gpc": true' in r.text
    cfg = client.get("/v1/consent/config").json()
    assert [c["key"] for c in cfg["categories"]] == ["essential", "functional", "analytics", "marketing"]
    assert cfg["categories"][0]["locked"] and cfg["categories"][3]["sells_or_shares"]
    assert cfg["texts"]["pl"]["accept_all"] == "Akceptuję wszystkie"
    assert cfg["gpc"] is False


def test_preference_centre_in_both_languages_records_choices(engine: Engine, client: TestClient) -> None:
    email = adult(engine)
    token = preferences_token(engine, email)
    en = client.get(f"/preferences/{token}?lang=en")
    pl = client.get(f"/preferences/{token}?lang=pl")
    assert en.status_code == pl.status_code == 200
    assert "Your privacy choices" in en.text and "Twoje ustawienia prywatności" in pl.text
    assert 'name="purpose" value="marketing_email"' in en.text
    r = client.post(f"/preferences/{token}", data={"purpose": ["marketing_email"]})
    assert r.status_code == 200
    assert engine.may(email, "marketing_email").allowed
    assert engine.consent.current(email)["analytics"].state == "refused"
    client.post(f"/preferences/{token}", data={})
    assert engine.may(email, "marketing_email").code == "consent_withdrawn"
    assert client.get(f"/preferences/{token}x").status_code == 400


def test_unsubscribe_pages_get_confirms_post_unsubscribes_once(engine: Engine, client: TestClient) -> None:
    email = adult(engine)
    engine.consent.record(email, "marketing_email", "given")
    token = unsubscribe_token(engine, email, "marketing_email")
    page = client.get(f"/unsubscribe/{token}?lang=pl")
    assert page.status_code == 200 and "Wypisz mnie" in page.text
    assert engine.may(email, "marketing_email").allowed  # a GET (mail scanner) changes nothing
    one_click = client.post(f"/unsubscribe/{token}", content="List-Unsubscribe=One-Click",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert one_click.status_code == 200
    assert engine.may(email, "marketing_email").code == "consent_withdrawn"
    again = client.post(f"/unsubscribe/{token}?lang=en")
    assert again.status_code == 410 and "already been used" in again.text
    assert client.post(f"/unsubscribe/{token[:-3]}abc").status_code == 400
