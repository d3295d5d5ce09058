"""API keys on the consent and activity endpoints: who may ask a decision, record a
choice for someone named by email, or report activity — and the key memory."""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text

from pledge.admins import AdminService
from pledge.consent.unsubscribe import preferences_token
from pledge.engine import Engine
from pledge.web.app import create_app
from tests.consent_env import DATASET, add_user, make_engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    dataset = copy.deepcopy(DATASET)
    dataset["databases"][0]["collections"][0]["fields"][0]["identity"] = "user_id"
    eng = make_engine(tmp_path, dataset=dataset)
    with eng.platform_engine("main").begin() as conn:
        conn.execute(text("ALTER TABLE users ADD COLUMN last_login_at TIMESTAMP"))
    yield eng
    eng.close()


@pytest.fixture
def client(engine: Engine) -> TestClient:
    return TestClient(create_app(engine))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def adult(engine: Engine) -> str:
    return add_user(engine, birth=date(1990, 5, 5))


def decide(client: TestClient, email: str, headers: dict[str, str] | None = None,
           purpose: str = "marketing_email") -> Any:
    return client.get("/v1/decisions", params={"subject": email, "purpose": purpose}, headers=headers or {})


def batch(client: TestClient, email: str, headers: dict[str, str] | None = None) -> Any:
    return client.post("/v1/decisions/batch", json={"items": [{"subject": email, "purpose": "service"}]},
                       headers=headers or {})


def test_decisions_need_a_key_with_the_decisions_scope(engine: Engine, client: TestClient) -> None:
    email = adult(engine)
    engine.may(email, "marketing_email")  # a cached answer must not leak past the key check either
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "},
                    bearer("plk_nothere_abc"), bearer("not-a-key")):
        r = decide(client, email, headers)
        assert r.status_code == 401, (headers, r.text)
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert "allowed" not in r.text
        assert batch(client, email, headers).status_code == 401
    writer = engine.admins.create_api_key("crm", ["consent:write", "requests:read"])
    r = decide(client, email, bearer(writer))
    assert r.status_code == 403 and "decisions:read" in r.json()["detail"]
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
    assert batch(client, email, bearer(writer)).status_code == 403
    reader = engine.admins.create_api_key("mailer", ["decisions:read"])
    cached = decide(client, email, bearer(reader))
    assert cached.status_code == 200 and cached.json()["code"] == "no_consent"
    fresh = decide(client, email, bearer(reader), purpose="service")  # a miss: the full path
    assert fresh.status_code == 200 and fresh.json()["allowed"] is True
    assert batch(client, email, bearer(reader)).json()["results"][0]["allowed"] is True
    assert decide(client, email, bearer(reader), purpose="nope").status_code == 404
    # no key and a bad query: the key is asked for first
    assert client.get("/v1/decisions").status_code == 401
    assert client.get("/v1/decisions", headers=bearer(reader)).status_code == 422


def test_a_revoked_key_is_refused_on_the_next_call(engine: Engine, client: TestClient) -> None:
    email = adult(engine)
    key = engine.admins.create_api_key("mailer", ["decisions:read", "consent:write", "activity:write"])
    assert decide(client, email, bearer(key)).status_code == 200
    assert decide(client, email, bearer(key)).status_code == 200  # now the key and the answer are remembered
    assert batch(client, email, bearer(key)).status_code == 200
    assert engine.admins.revoke_api_key(key.split("_")[1])
    r = decide(client, email, bearer(key))
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]
    assert batch(client, email, bearer(key)).status_code == 401
    assert client.post("/v1/consent", json={"subject": email, "purpose": "marketing_email", "state": "given"},
                       headers=bearer(key)).status_code == 401
    assert client.post("/v1/activity", json={"email": email}, headers=bearer(key)).status_code == 401
    assert engine.consent.current(email) == {}


def test_raw_subject_needs_consent_write_but_the_signed_token_does_not(engine: Engine, client: TestClient) -> None:
    email = adult(engine)
    choice = {"subject": email, "purpose": "marketing_email", "state": "given"}
    r = client.post("/v1/consent", json=choice)
    assert r.status_code == 401 and "API key" in r.json()["detail"]
    # the banner's own content type changes nothing, nor does a bad state: the key comes first
    assert client.post("/v1/consent", content=f'{{"subject": "{email}", "choices": {{"analytics": true}}}}',
                       headers={"Content-Type": "text/plain"}).status_code == 401
    assert client.post("/v1/consent", json={**choice, "state": "perhaps"}).status_code == 401
    reader = engine.admins.create_api_key("mailer", ["decisions:read"])
    assert client.post("/v1/consent", json=choice, headers=bearer(reader)).status_code == 403
    assert engine.consent.current(email) == {}
    assert not engine.may(email, "marketing_email").allowed
    writer = engine.admins.create_api_key("crm", ["consent:write"])
    r = client.post("/v1/consent", json=choice, headers=bearer(writer))
    assert r.status_code == 200, r.text
    assert engine.may(email, "marketing_email").allowed
    assert engine.consent.history(email)[-1]["recorded_by"] == f"api_key:{writer.split('_')[1]}"
    # the browser: the signed token needs no key, and is recorded as the person's own act
    token = preferences_token(engine, email)
    r = client.post("/v1/consent", content=f'{{"token": "{token}", "purpose": "marketing_email", '
                                           f'"state": "withdrawn"}}', headers={"Content-Type": "text/plain"})
    assert r.status_code == 200, r.text
    assert engine.may(email, "marketing_email").code == "consent_withdrawn"
    assert engine.consent.history(email)[-1]["recorded_by"] == "subject"
    assert client.post("/v1/consent", json={"token": token[:-2] + "xx", "purpose": "marketing_email",
                                            "state": "given"}).status_code == 403
    # an unknown visitor: the banner keeps the choice in a cookie and posts nothing; a post without
    # a person is refused and records nothing
    assert client.post("/v1/consent", json={"choices": {"analytics": True}}).status_code == 422


def test_activity_needs_the_activity_scope(engine: Engine, client: TestClient) -> None:
    email = adult(engine)
    assert client.post("/v1/activity", json={"email": email}).status_code == 401
    assert client.post("/v1/activity", json={}).status_code == 401  # the key before the body
    reader = engine.admins.create_api_key("mailer", ["decisions:read", "consent:write"])
    assert client.post("/v1/activity", json={"email": email}, headers=bearer(reader)).status_code == 403
    with engine.platform_engine("main").connect() as conn:
        assert conn.execute(text("SELECT last_login_at FROM users")).scalar() is None
    key = engine.admins.create_api_key("platform", ["activity:write"])
    r = client.post("/v1/activity", json={"email": email}, headers=bearer(key))
    assert r.status_code == 200 and r.json()["recorded"] is True, r.text
    with engine.platform_engine("main").connect() as conn:
        assert conn.execute(text("SELECT last_login_at FROM users")).scalar() is not None
    assert client.post("/v1/activity", json={}, headers=bearer(key)).status_code == 422
    # an id no database column can hold is bad input, not a server error (found by schemathesis)
    assert client.post("/v1/activity", json={"user_id": 2**63}, headers=bearer(key)).status_code == 422


def test_keys_are_remembered_briefly_and_a_cached_decision_reads_one_counter(engine: Engine,
                                                                             client: TestClient) -> None:
    email = adult(engine)
    key = engine.admins.create_api_key("mailer", ["decisions:read"])
    assert decide(client, email, bearer(key)).status_code == 200  # key and decision now remembered
    statements: list[str] = []
    event.listen(engine.store.engine, "before_cursor_execute",
                 lambda *args: statements.append(args[2]))
    for _ in range(20):
        assert decide(client, email, bearer(key)).status_code == 200
    # no key lookup: the key is remembered; the decision reads only the person's version counter,
    # on a pooled connection below SQLAlchemy's statement events (pledge.consent.versions)
    assert all("consent_versions" in s for s in statements)
    statements.clear()
    assert decide(client, email, bearer(key + "x")).status_code == 401  # a different key is looked up
    assert len(statements) == 1
    # another process revokes: this one trusts its memory until the time is up, then reads again
    engine.admins.key_cache_seconds = 0.2
    engine.admins.forget_api_keys()
    assert engine.admins.check_api_key(key, "decisions:read") is not None
    elsewhere = AdminService(engine.store, engine.audit, engine.keys, engine.now, issuer="elsewhere")
    assert elsewhere.revoke_api_key(key.split("_")[1])
    assert engine.admins.check_api_key(key, "decisions:read") is not None
    time.sleep(0.25)
    assert engine.admins.check_api_key(key, "decisions:read") is None
    assert decide(client, email, bearer(key)).status_code == 401


def test_openapi_shows_which_routes_need_a_key(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    scheme = spec["components"]["securitySchemes"]["ApiKey"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer" and "decisions:read" in scheme["description"]
    paths = spec["paths"]
    for path, method in (("/v1/decisions", "get"), ("/v1/decisions/batch", "post"), ("/v1/activity", "post"),
                         ("/v1/requests", "get"), ("/v1/requests/{request_id}/approve", "post")):
        op = paths[path][method]
        assert op["security"] == [{"ApiKey": []}], (path, op.get("security"))
    consent = paths["/v1/consent"]["post"]
    assert {"ApiKey": []} in consent["security"] and {} in consent["security"]  # a key, or a signed token
    assert "subject" in consent["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert {"401", "403"} <= set(paths["/v1/decisions"]["get"]["responses"])
    assert "security" not in paths["/v1/consent/config"]["get"]


def test_consent_api_has_no_server_errors_with_or_without_a_key(engine: Engine, client: TestClient) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    adult(engine)
    key = engine.admins.create_api_key("fuzz", ["decisions:read", "consent:write", "activity:write"])
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app).include(
        path_regex=r"^/v1/(decisions|consent|activity)")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {"GET /v1/decisions", "POST /v1/decisions/batch",
                                               "POST /v1/consent", "POST /v1/activity"}
    statuses: set[int] = set()
    for operation in operations:

        @given(case=operation.as_strategy(), with_key=st.booleans())
        @settings(max_examples=int(os.environ.get("PLEDGE_FUZZ_EXAMPLES", "15")), deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_server_error(case: schemathesis.Case, with_key: bool) -> None:
            response = case.call(headers=bearer(key) if with_key else {"Authorization": ""})  # "": no key
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}")
            statuses.add(response.status_code)

        no_server_error()
    assert 401 in statuses and 200 in statuses


def test_decisions_have_one_route_and_openapi_shows_it(engine: Engine, client: TestClient) -> None:
    from pledge.web import api_consent

    routes = [r for r in api_consent.router.routes if getattr(r, "path", None) == "/v1/decisions"]
    assert len(routes) == 1  # no raw route in front of the documented one
    op = client.get("/openapi.json").json()["paths"]["/v1/decisions"]["get"]
    assert {p["name"] for p in op["parameters"] if p["required"]} == {"subject", "purpose"}
    assert op["security"] == [{"ApiKey": []}]
    assert {"200", "401", "403", "404", "422"} <= set(op["responses"])
    reader = engine.admins.create_api_key("mailer", ["decisions:read"])
    email = adult(engine)
    assert decide(client, email, bearer(reader), purpose="no_such_purpose").status_code == 404
    assert client.get("/v1/decisions", params={"subject": "not-an-email", "purpose": "service"},
                      headers=bearer(reader)).status_code == 422
    assert client.get("/v1/decisions", params={"purpose": "service"}).status_code == 401  # the key first
