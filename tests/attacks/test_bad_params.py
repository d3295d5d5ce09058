"""Attack: parameters that are accepted at creation and break the request later.

Before the fix, an unknown purpose, an unknown identity kind, a rectification of
``users.id`` or of something that is not a mapping, or a birth date of ``banana`` were
all accepted when the request was made; approval then raised a 500 and left the request
stuck in ``executing`` for ever. Now each is refused at the edge with a 422 naming the
field, nothing is recorded, and a run that fails for any other reason ends in ``failed``
with its reason and can be run again.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.attacks.support import STORES, served

BAD: list[tuple[str, dict[str, Any], str]] = [
    ("objection", {"purpose": "no_such_purpose"}, "params.purpose"),
    ("objection", {}, "params.purpose"),
    ("restriction", {"purpose": "no_such_purpose"}, "params.purpose"),
    ("withdraw_consent", {"purposes": ["no_such_purpose"]}, "params.purposes"),
    ("withdraw_consent", {"purposes": "marketing"}, "params.purposes"),
    ("rectification", {"changes": {"users.id": "7"}}, "params.changes"),
    ("rectification", {"changes": "name=Ann"}, "params.changes"),
    ("rectification", {"changes": ["users.name", "Ann"]}, "params.changes"),
    ("rectification", {"changes": {}}, "params.changes"),
    ("rectification", {"changes": {"users.birth_date": "banana"}}, "params.changes"),
    ("rectification", {"changes": {"users.name": {"nested": "x"}}}, "params.changes"),
    ("rectification", {"changes": {"users.nickname": "x"}}, "params.changes"),
    ("access", {"specific": True}, "params.specific"),
    ("ccpa_know", {"specific": "yes please"}, "params.specific"),
    ("erasure", {"cascade": "everyone"}, "params.cascade"),
]


@pytest.mark.parametrize("store", STORES)
def test_bad_params_are_refused_when_the_request_is_made(tmp_path: Path, store: str) -> None:
    with served(tmp_path, store) as target, target.client() as http:
        email = target.platform_rows("SELECT email FROM users ORDER BY id LIMIT 1")[0]["email"]
        for kind, params, field in BAD:
            res = http.post("/v1/requests", json={"kind": kind, "email": email, "params": params})
            assert res.status_code == 422, (kind, params, res.status_code, res.text)
            assert field in res.json()["detail"], (kind, params, res.json())
        # unknown identity kinds, and any identity besides the email, are refused too
        for identities in ({"passport": "X1"}, {"user_id": "1"}, {"email": "other@example.org"}):
            res = http.post("/v1/requests", json={"kind": "access", "email": email, "identities": identities})
            assert res.status_code == 422, identities
        assert target.store_rows("SELECT id FROM requests") == []
        # the privacy centre's form refuses a bad value with a form error, not a 500
        page = http.get("/privacy")
        import re

        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        res = http.post("/privacy/requests", data={"csrf": csrf, "kind": "rectification", "email": email,
                                                   "field": "users.birth_date", "value": "banana"})
        assert res.status_code == 422 and "1990-05-17" in res.text
        assert target.store_rows("SELECT id FROM requests") == []


@pytest.mark.parametrize("store", STORES)
def test_a_run_that_fails_ends_visibly_failed_and_can_be_retried(tmp_path: Path, store: str) -> None:
    with served(tmp_path, store) as target, target.client() as http:
        person = target.platform_rows("SELECT id, email FROM users WHERE status = 'active' "
                                      "AND id IN (SELECT user_id FROM conversations) ORDER BY id LIMIT 1")[0]
        key = target.engine.admins.create_api_key("officer", ["requests:read", "requests:approve"])
        officer = {"Authorization": f"Bearer {key}"}
        made = http.post("/v1/requests", json={"kind": "erasure", "email": person["email"]})
        rid = made.json()["request"]["id"]
        assert http.post(f"/v1/requests/{rid}/verify", json={"code": target.code_for(person["email"])}
                         ).status_code == 200
        # something outside Pledge breaks: a table of the platform is renamed away
        db = sqlite3.connect(target.cfg.parent / "platform.db")
        db.execute("ALTER TABLE conversations RENAME TO conversations_moved")
        db.commit()
        res = http.post(f"/v1/requests/{rid}/approve", headers=officer)
        assert res.status_code == 200, res.text
        assert res.json()["state"] == "failed"
        row = target.store_rows("SELECT state, result FROM requests WHERE public_id = :p", p=rid)[0]
        assert row["state"] == "failed" and "conversations" in str(row["result"])
        actions = [r["action"] for r in target.store_rows("SELECT action FROM audit_log ORDER BY id")]
        assert "request.failed" in actions
        # fixed, then run again: it completes, and the person's rows are gone
        db.execute("ALTER TABLE conversations_moved RENAME TO conversations")
        db.commit()
        db.close()
        again = http.post(f"/v1/requests/{rid}/run", headers=officer)
        assert again.status_code == 200 and again.json()["state"] in ("completed", "partially_completed")
        assert target.platform_rows("SELECT id FROM conversations WHERE user_id = :u", u=person["id"]) == []
