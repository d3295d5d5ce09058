"""Rectification (Art. 16), restriction (Art. 18) and objection (Art. 21)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pledge.rights.rectify import RectifyError, rectify
from pledge.rights.restrict import (
    RightsInputError,
    active_objections,
    active_restrictions,
    is_restricted,
    lift_restriction,
    object_to,
    restrict,
    subject_key_for,
    withdraw_objection,
)
from tests.erasure_support import snapshot
from tests.test_erasure import POLICY, make_engine


def test_rectify_updates_named_fields_and_reports(any_db_url: str, tmp_path: Path) -> None:
    engine = make_engine(tmp_path, any_db_url)
    eng = engine.platform_engine("main")
    before = snapshot(eng)
    user = before["users"][3]
    report = rectify(engine, {"email": user["email"]}, {"name": "Ann Rectified", "users.phone": "+48 500 100 200"})
    after = snapshot(eng)
    assert after["users"][3]["name"] == "Ann Rectified"
    assert after["users"][3]["phone"] == "+48 500 100 200"
    by_field = {c["field"]: c for c in report["changes"]}
    assert by_field["main.users.name"]["changes"] == [{"id": 3, "old": user["name"], "new": "Ann Rectified"}]
    assert report["rows"] == 2
    # nothing else changed
    for table, rows in before.items():
        for key, row in rows.items():
            if (table, key) != ("users", 3):
                assert after[table][key] == row
    entry = engine.audit.entries(action="rights.rectify")[0]
    assert "Ann Rectified" not in str(entry["details"]) and user["email"] not in str(entry)
    # the same change again changes nothing
    assert rectify(engine, {"email": user["email"]}, {"name": "Ann Rectified"})["rows"] == 0
    engine.close()


@pytest.mark.parametrize(("field", "value", "message"), [
    ("email", "ann@example.org", "not declared rectifiable"),
    ("billing_email", "not-an-email", "not an email address"),
    ("phone", "call me", "not a phone number"),
    ("nickname", "x", "not a field declared"),
    ("users.id", "7", "keys and references"),
    ("id", "7", "ambiguous"),
    ("name", "", "NOT NULL"),
    ("name", "x" * 101, "at most 100 characters"),
    ("title", "New title", "ambiguous|no rows|main.conversations.title"),
])
def test_rectify_refuses_bad_input(tmp_path: Path, field: str, value: str, message: str) -> None:
    engine = make_engine(tmp_path, f"sqlite:///{tmp_path / 'p.db'}")
    eng = engine.platform_engine("main")
    before = snapshot(eng)
    user = before["users"][1]
    if field == "title":  # two conversations: fine, both updated; the field resolves uniquely
        report = rectify(engine, {"email": user["email"]}, {field: value})
        assert report["changes"][0]["field"] == "main.conversations.title"
        assert report["rows"] == 2
        return
    with pytest.raises(RectifyError, match=message):
        rectify(engine, {"email": user["email"]}, {"name": "Valid Name", field: value})
    assert snapshot(eng) == before  # all validated before anything is written


def test_rectify_date_type_check(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, f"sqlite:///{tmp_path / 'p.db'}")
    user = snapshot(engine.platform_engine("main"))["users"][1]
    with pytest.raises(RectifyError, match="not a valid datetime"):
        rectify(engine, {"email": user["email"]}, {"invoices.issued_at": "yesterday"})


def _with_purposes(tmp_path: Path, url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(tmp_path, url, fill=False)
    policy = dict(POLICY)
    policy["purposes"] = [
        {"key": "newsletter", "name": "Newsletter", "data_use": "marketing.communications.email",
         "legal_basis": "consent"},
        {"key": "analytics", "name": "Product analytics", "data_use": "analytics.reporting",
         "legal_basis": "legitimate_interests"},
    ]
    engine.config.policy.write_text(yaml.safe_dump(policy))
    return engine


def test_restrict_and_object_recorded_per_purpose(tmp_path: Path) -> None:
    engine = _with_purposes(tmp_path, f"sqlite:///{tmp_path / 'p.db'}")
    email = "ann@example.com"
    key = subject_key_for(engine, email)
    assert key == engine.ledger.keys_for({"email": email})["email"]
    r1 = restrict(engine, email, "analytics", reason="accuracy contested")
    assert r1["created"] and restrict(engine, email, "analytics")["created"] is False
    restrict(engine, email)  # every purpose
    assert [r["purpose"] for r in active_restrictions(engine, key)] == ["analytics", None]
    assert is_restricted(engine, key, "newsletter")  # the all-purposes restriction
    lifted = lift_restriction(engine, email, None)
    assert len(lifted["lifted"]) == 2 and active_restrictions(engine, key) == []
    assert not is_restricted(engine, key, "newsletter")

    o = object_to(engine, email, "newsletter")
    assert o["absolute"] is True  # direct marketing: Art. 21(2)
    assert object_to(engine, email, "analytics")["art21_applies"] is True
    assert [x["purpose"] for x in active_objections(engine, key)] == ["newsletter", "analytics"]
    assert is_restricted(engine, key, "newsletter")
    withdraw_objection(engine, email, "newsletter")
    assert [x["purpose"] for x in active_objections(engine, key)] == ["analytics"]
    # another person is not affected
    assert active_objections(engine, subject_key_for(engine, "bob@example.com")) == []
    actions = [e["action"] for e in engine.audit.entries()][::-1]
    assert actions == ["rights.restrict", "rights.restrict", "rights.restrict.lift", "rights.object",
                       "rights.object", "rights.object.withdraw"]
    assert email not in str(engine.audit.entries())
    with pytest.raises(RightsInputError, match="no purpose 'nope'"):
        object_to(engine, email, "nope")
    with pytest.raises(RightsInputError, match="not an email"):
        restrict(engine, "nobody")
