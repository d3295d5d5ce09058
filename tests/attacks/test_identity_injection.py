"""Attack: a stranger adds someone else's identity to their own request.

The attacker owns only their own mailbox. Before the fix, ``POST /v1/requests`` took an
``identities`` object beside the email and executed the request with all of it, although
the code proved only the email: the attacker got another user's access package, erased
them, or changed their email (account takeover), after one routine approval.

Each test plays the whole attack over HTTP against a served Pledge on each store engine:
submit, verify with the attacker's own code, have an officer approve through the API,
and look at what came out. The outcome is read from the platform database with plain SQL.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.attacks.support import STORES, Target, served

ATTACKER = "mallory@attacker.example"


def _officer(target: Target) -> dict[str, str]:
    key = target.engine.admins.create_api_key("officer", ["requests:read", "requests:approve", "exports:read"])
    return {"Authorization": f"Bearer {key}"}


def _victim(target: Target, where: str = "1=1") -> dict[str, Any]:
    return target.platform_rows(f"SELECT id, email FROM users WHERE status = 'active' AND {where} "
                                "ORDER BY id LIMIT 1")[0]


def _attack(target: Target, http: httpx.Client, kind: str, victim: dict[str, Any],
            params: dict[str, Any] | None = None) -> httpx.Response:
    """Submit as the attacker with the victim's user id; if accepted, verify and get it approved."""
    res = http.post("/v1/requests", json={"kind": kind, "email": ATTACKER, "params": params or {},
                                          "identities": {"user_id": str(victim["id"])}})
    if res.status_code != 201:
        return res
    rid = res.json()["request"]["id"]
    verified = http.post(f"/v1/requests/{rid}/verify", json={"code": target.code_for(ATTACKER)})
    assert verified.status_code == 200, verified.text
    return http.post(f"/v1/requests/{rid}/approve", headers=_officer(target))


@pytest.mark.parametrize("store", STORES)
def test_access_with_an_injected_user_id_gets_nothing_of_the_victim(tmp_path: Path, store: str) -> None:
    with served(tmp_path, store) as target, target.client() as http:
        victim = _victim(target)
        res = _attack(target, http, "access", victim)
        if res.status_code == 200 and res.json().get("download_url"):  # the old behaviour: a package
            package = http.get(res.json()["download_url"]).content
            names = zipfile.ZipFile(io.BytesIO(package)).namelist()
            leaked = victim["email"] in b"".join(zipfile.ZipFile(io.BytesIO(package)).read(n) for n in names).decode()
            pytest.fail(f"the attacker received a package (victim's email inside: {leaked})")
        assert res.status_code == 422 and "identities" in res.json()["detail"]
        assert target.store_rows("SELECT id FROM requests") == []  # nothing was recorded


@pytest.mark.parametrize("store", STORES)
def test_erasure_with_an_injected_user_id_leaves_the_victim_untouched(tmp_path: Path, store: str) -> None:
    with served(tmp_path, store) as target, target.client() as http:
        victim = _victim(target)
        before = target.platform_rows("SELECT * FROM users WHERE id = :id", id=victim["id"])
        res = _attack(target, http, "erasure", victim)
        assert target.platform_rows("SELECT * FROM users WHERE id = :id", id=victim["id"]) == before
        assert res.status_code == 422


@pytest.mark.parametrize("store", STORES)
def test_rectification_cannot_take_over_an_account(tmp_path: Path, store: str) -> None:
    with served(tmp_path, store) as target, target.client() as http:
        victim = _victim(target)
        res = _attack(target, http, "rectification", victim, params={"changes": {"users.name": "Mallory"}})
        assert target.platform_rows("SELECT email, name FROM users WHERE id = :id", id=victim["id"])[0]["name"] \
            != "Mallory"
        assert res.status_code == 422
        # the email, keys and system columns cannot be "corrected" even on one's own request
        for changes in ({"users.email": ATTACKER}, {"users.id": "1"}, {"users.status": "active"},
                        {"users.last_login_at": "2026-01-01T00:00:00"}):
            bad = http.post("/v1/requests", json={"kind": "rectification", "email": victim["email"],
                                                  "params": {"changes": changes}})
            assert bad.status_code == 422, (changes, bad.text)
            assert "rectifiable" in bad.json()["detail"] or "keys" in bad.json()["detail"]


@pytest.mark.parametrize("store", STORES)
def test_the_organisation_administrator_check_cannot_be_dropped(tmp_path: Path, store: str) -> None:
    with served(tmp_path, store, example="onestepai", users=60) as target, target.client() as http:
        member = target.platform_rows(
            "SELECT u.id, u.email FROM users u JOIN organisations o ON o.id = u.organisation_id "
            "WHERE o.admin_user_id IS NOT NULL AND o.admin_user_id <> u.id ORDER BY u.id LIMIT 1")[0]
        res = _attack(target, http, "erasure", member)
        assert res.status_code == 422
        assert target.platform_rows("SELECT id FROM users WHERE id = :id", id=member["id"])  # still there
        # the member's own request waits for the administrator, and the answer to the asker
        # is the same whether the email belongs to an organisation member or to nobody
        answers = []
        for email in (member["email"], ATTACKER):
            made = http.post("/v1/requests", json={"kind": "access", "email": email})
            assert made.status_code == 201
            body = made.json()
            answers.append((sorted(body), sorted(body["request"]), body["request"]["state"],
                            body["request"]["needs"], body["status_token"]))
        assert answers[0] == answers[1]
        needs = target.store_rows("SELECT needs FROM requests ORDER BY id")
        assert "org_admin" in str(needs[0]["needs"]) and "org_admin" not in str(needs[1]["needs"])


@pytest.mark.parametrize("store", ["sqlite"])
def test_identities_the_platform_signs_join_the_request(tmp_path: Path, store: str) -> None:
    """The one way besides an officer's evidence: the platform vouches inside its signed token."""
    from pledge.rights.verify import make_platform_token

    with served(tmp_path, store) as target, target.client() as http:
        person = _victim(target)
        secret = target.engine.requests.verifier.platform_secret()
        token = make_platform_token(secret, person["email"], now=target.engine.now(),
                                    identities={"user_id": str(person["id"])})
        made = http.post("/v1/requests", json={"kind": "access", "email": person["email"], "platform_token": token})
        assert made.status_code == 201 and made.json()["request"]["state"] == "verified"
        rid = made.json()["request"]["id"]
        assert target.engine.requests.identities(rid) == {"email": person["email"].lower(),
                                                          "user_id": str(person["id"])}
        # a token for someone else's email does not verify, nor bind its identities
        other = make_platform_token(secret, ATTACKER, now=target.engine.now(), identities={"user_id": "1"})
        made = http.post("/v1/requests", json={"kind": "access", "email": person["email"], "platform_token": other})
        assert made.status_code == 400
        assert target.store_rows("SELECT state FROM requests ORDER BY id")[-1]["state"] == "received"
