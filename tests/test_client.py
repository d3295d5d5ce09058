"""``pledge.client`` against a served Pledge: every ``/v1`` operation of the app's own OpenAPI
is called through the client (a new route without a client method fails here), and the
decision cache forgets what the server says has changed."""

from __future__ import annotations

import io
import re
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pledge.client import DecisionCache, PledgeClient, PledgeError, RequestInfo
from pledge.rights.requests import KINDS
from tests.attacks.support import Target, served

ALL_SCOPES = ["requests:read", "requests:write", "requests:approve", "exports:read", "decisions:read",
              "consent:write", "activity:write", "metrics:read"]


class Recorder:
    """Every request the client sends: (method, path, status)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, int]] = []

    def __call__(self, response: httpx.Response) -> None:
        self.seen.append((response.request.method, response.request.url.path, response.status_code))


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Target]:
    with served(tmp_path, "sqlite") as t:
        yield t


def _client(target: Target, scopes: list[str] | None = None, recorder: Recorder | None = None) -> PledgeClient:
    key = target.engine.admins.create_api_key("client-test", scopes or ALL_SCOPES)
    client = PledgeClient(target.url, api_key=key)
    if recorder is not None:
        client.http.event_hooks["response"].append(recorder)
    return client


def _people(target: Target, n: int) -> list[str]:
    rows = target.platform_rows(f"SELECT email FROM users WHERE status = 'active' ORDER BY id LIMIT {n}")
    return [r["email"] for r in rows]


#: operations only a browser on the site's own pages may call (checked by Origin/Referer): the
#: cookie banner's anonymous receipts. A platform's server has no business calling them.
BROWSER_ONLY = {("POST", "/v1/consent/receipt")}


def _operations(target: Target) -> set[tuple[str, str]]:
    spec = httpx.get(target.url + "/openapi.json").json()
    return {(method.upper(), path) for path, item in spec["paths"].items() if path.startswith("/v1/")
            for method in item if method in ("get", "post", "put", "patch", "delete")} - BROWSER_ONLY


def _verified(pledge: PledgeClient, target: Target, kind: str, email: str) -> RequestInfo:
    made = pledge.create_request(kind, email)
    assert made.request.state == "verifying" and made.status_token is None
    return pledge.verify_request(made.request.id, code=target.code_for(email))


def test_the_client_round_trips_every_v1_operation(target: Target) -> None:
    recorder = Recorder()
    with _client(target, recorder=recorder) as pledge:
        a, b, c, d = _people(target, 4)

        # requests: create, verify, status (token and key), approve, download
        access = _verified(pledge, target, "access", a)
        assert access.state in ("verified", "awaiting_approval") and access.status_token
        assert pledge.request_status(access.id, token=access.status_token).id == access.id
        done = pledge.approve_request(access.id)
        assert done.state == "completed" and done.download_url
        package = pledge.download(done.download_url)
        assert package.media_type == "application/zip" and package.filename.endswith(".zip")
        assert zipfile.ZipFile(io.BytesIO(package.content)).namelist()
        assert pledge.request_status(access.id).download_url  # the key holds exports:read
        with pytest.raises(PledgeError) as used:
            pledge.download(done.download_url.replace("sig=", "sig=x"))
        assert used.value.status in (403, 410)

        # resend, run, extend, deny, list
        waiting = pledge.create_request("access", b).request
        assert pledge.resend_code(waiting.id).state == "verifying"
        ran = _verified(pledge, target, "portability", c)
        ran = pledge.run_request(ran.id) if ran.state == "verified" and not ran.approval_needed \
            else pledge.approve_request(ran.id)
        assert ran.state in ("completed", "partially_completed")
        later = _verified(pledge, target, "erasure", d)
        extended = pledge.extend_request(later.id, "Many systems to search")
        assert extended.extended_due_on and extended.extension_reason == "Many systems to search"
        denied = pledge.deny_request(later.id, "manifestly_unfounded", "A test of the client")
        assert denied.state == "denied" and denied.denial_ground == "manifestly_unfounded"
        assert {r.id for r in pledge.list_requests()} >= {access.id, waiting.id, ran.id, later.id}
        assert [r.id for r in pledge.list_requests(state="denied")] == [later.id]
        assert pledge.list_requests(overdue=True) == []

        # org-confirm: omni-one has no organisations, so the server refuses, and the client says why
        with pytest.raises(PledgeError) as refused:
            pledge.org_confirm(waiting.id, target.engine.requests.verifier.org_admin_token(waiting.id))
        assert refused.value.status == 409 and "administrator" in str(refused.value.detail)

        # consent and decisions
        config = pledge.consent_config()
        assert config["endpoint"] == "/v1/consent" and config["categories"]
        assert pledge.decision(a, "marketing_email").code == "no_consent"
        recorded = pledge.record_consent(a, "marketing_email", "given", notice_version=config["version"])
        assert [(r.purpose, r.state) for r in recorded] == [("marketing_email", "given")]
        assert pledge.decision(a, "marketing_email").allowed
        batch = pledge.decisions([(a, "marketing_email"), (b, "marketing_email")])
        assert [(x.subject, x.allowed) for x in batch] == [(a, True), (b, False)]
        version = pledge.consent_version()
        assert version and pledge.consent_version(version) is None  # 304 while nothing changed

        # the platform's facts, Art. 19
        active = pledge.record_activity(email=b)
        assert active.column and active.at
        notice = target.engine.requests.notices.ack_token(1)
        assert pledge.art19_ack(notice) is True
        with pytest.raises(PledgeError) as forged:
            pledge.art19_ack(notice + "x")
        assert forged.value.status == 403

        # the probes
        assert pledge.healthz() and pledge.readyz().ready
        assert "pledge_requests{" in pledge.metrics()

    called = {(m, p) for m, p, _ in recorder.seen}
    missing = [f"{m} {t}" for m, t in sorted(_operations(target))
               if not any(m == cm and re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", t), cp) for cm, cp in called)]
    assert missing == [], f"the client never called: {missing} (add a method to pledge.client)"


def test_errors_carry_status_and_detail(target: Target) -> None:
    with PledgeClient(target.url) as anonymous:
        with pytest.raises(PledgeError) as no_key:
            anonymous.list_requests()
        assert no_key.value.status == 401 and "API key" in str(no_key.value.detail)
    with _client(target, ["decisions:read"]) as narrow:
        with pytest.raises(PledgeError) as scope:
            narrow.list_requests()
        assert scope.value.status == 403 and "requests:read" in str(scope.value.detail)
        with pytest.raises(PledgeError) as unknown:
            narrow.decision("x@example.com", "no_such_purpose")
        assert unknown.value.status == 404
        with pytest.raises(PledgeError) as bad:
            narrow.decision("not an email", "marketing_email")
        assert bad.value.status == 422 and bad.value.path == "/v1/decisions"
        assert "not an email" not in bad.value.path  # the query is not in the error's path


def test_the_client_knows_every_request_kind(target: Target) -> None:
    """The kinds the server accepts all go through ``create_request`` (it passes them as given)."""
    with _client(target) as pledge:
        for i, kind in enumerate(KINDS):
            try:
                made = pledge.create_request(kind, f"kinds-{i}@example.com", params=_params(kind))
            except PledgeError as exc:  # a kind this policy does not offer is refused by name
                assert exc.status == 422 and kind in str(exc.detail), (kind, exc.detail)
            else:
                assert made.request.kind == kind


def _params(kind: str) -> dict[str, object]:
    return {"rectification": {"changes": {"users.name": "New Name"}}, "objection": {"purpose": "marketing_email"},
            "restriction": {}, "withdraw_consent": {"purposes": ["marketing_email"]}}.get(kind, {})


# -- the decision cache -------------------------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_decision_cache_answers_from_memory_until_the_server_says_otherwise(target: Target) -> None:
    [person] = _people(target, 1)
    clock = FakeClock()
    with _client(target) as pledge, _client(target) as elsewhere:  # elsewhere: another process of the platform
        cache = DecisionCache(pledge, ttl=60, check_every=1.0, clock=clock)
        assert cache.allowed(person, "marketing_email") is False
        assert (cache.checks, cache.fetches) == (1, 1)
        started = time.perf_counter()
        for _ in range(20_000):
            cache.allowed(person, "marketing_email")
        per_call = (time.perf_counter() - started) / 20_000
        assert per_call < 20e-6, f"{per_call * 1e6:.1f} µs a decision from memory"
        assert (cache.checks, cache.fetches) == (1, 1)  # no round trip at all
        assert cache.allowed(person.upper(), "marketing_email") is False and cache.fetches == 1  # case-blind

        elsewhere.record_consent(person, "marketing_email", "given")
        assert cache.allowed(person, "marketing_email") is False  # within check_every: still the old answer
        clock.now += 1.0
        assert cache.allowed(person, "marketing_email") is True  # the version moved: asked again
        assert (cache.checks, cache.fetches) == (2, 2)

        clock.now += 1.0
        assert cache.allowed(person, "marketing_email") is True
        assert (cache.checks, cache.fetches) == (3, 2)  # a 304: the cache stays

        target.engine.consent.record_many(person, {"marketing_email": "withdrawn"}, actor="subject")
        clock.now += 1.0
        decision = cache.may(person, "marketing_email")
        assert decision.allowed is False and decision.code == "consent_withdrawn"

        clock.now += 61  # past the ttl: facts kept outside Pledge are asked for again
        fetched = cache.fetches
        cache.may(person, "marketing_email")
        assert cache.fetches == fetched + 1


def test_the_version_moves_with_every_change_a_decision_depends_on(target: Target) -> None:
    from pledge.rights.restrict import lift_restriction, object_to, restrict, withdraw_objection

    [person] = _people(target, 1)
    engine = target.engine
    with _client(target) as pledge:
        seen = [pledge.consent_version()]
        for change in (lambda: engine.consent.record_many(person, {"marketing_email": "given"}),
                       lambda: restrict(engine, person, "marketing_email", reason="test"),
                       lambda: lift_restriction(engine, person, "marketing_email"),
                       lambda: object_to(engine, person, "marketing_email", reason="test"),
                       lambda: withdraw_objection(engine, person, "marketing_email")):
            change()
            seen.append(pledge.consent_version())
            assert pledge.consent_version(seen[-1]) is None
        assert len(set(seen)) == len(seen), seen


def test_a_rate_limit_says_when_to_come_back(target: Target) -> None:
    with PledgeClient(target.url) as person:  # no key: a person's own limits apply
        with pytest.raises(PledgeError) as limited:
            for _ in range(30):
                person.create_request("access", "flood@example.com")
        assert limited.value.status == 429 and (limited.value.retry_after or 0) > 0


def test_an_organisation_administrator_confirms_through_the_client(tmp_path: Path) -> None:
    with served(tmp_path, "sqlite", example="onestepai", users=60) as target, _client(target) as pledge:
        members = target.platform_rows(
            "SELECT email FROM users WHERE organisation_id IS NOT NULL AND id NOT IN "
            "(SELECT admin_user_id FROM organisations WHERE admin_user_id IS NOT NULL) AND organisation_id IN "
            "(SELECT id FROM organisations WHERE admin_user_id IS NOT NULL) ORDER BY id LIMIT 1")
        if not members:
            pytest.skip("the generated onestepai sample has no managed member")
        email = members[0]["email"]
        made = pledge.create_request("access", email)
        after_code = pledge.verify_request(made.request.id, code=target.code_for(email))
        assert after_code.needs == ["org_admin"]
        token = target.engine.requests.verifier.org_admin_token(made.request.id)  # the link mailed to the admin
        assert pledge.org_confirm(made.request.id, token).state in ("verified", "awaiting_approval")
