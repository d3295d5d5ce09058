"""A child found under the minimum age: the policy's ``age.on_child_found`` is carried out.

The ages come from the seeds, written here, and each child's birth date is computed from
the request day: omni-one "Omni One is not intended for children under 18 years of age."
and "If we learn we have collected information from a child under 18, we will delete it
immediately."; onestepai "children under 13 are prohibited from using the Services" and
"If we become aware that a child under 13 has provided us with personal information, we
will take steps to delete such information." Whether the data is gone is read with SQL
from the generated platform; an adult beside the child stays exactly as they were.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from pledge.cli import app
from pledge.rights.children import POLICY_ACTOR, ChildError, child_found, find_children
from pledge.rights.restrict import active_restrictions
from tests.requests_support import START, Clock, deployment, make_engine

OMNI_ONE_MINIMUM = 18  # "not intended for children under 18 years of age"
ONESTEPAI_MINIMUM = 13  # "children under 13 are prohibited from using the Services"
#: every column of the omni-one schema that points at a user (the platform schema, not the data map)
OMNI_ONE_LINKS = [("users", "id"), ("workspaces", "owner_id"), ("memberships", "user_id"),
                  ("invitations", "invited_by"), ("projects", "owner_id"), ("personas", "owner_id"),
                  ("conversations", "user_id"), ("messages", "author_id"), ("files", "owner_id"),
                  ("token_usage", "user_id"), ("invoices", "user_id"), ("marketing_preferences", "user_id"),
                  ("login_sessions", "user_id"), ("devices", "user_id"), ("analytics_events", "user_id")]
ONESTEPAI_LINKS = [("users", "id"), ("api_keys", "user_id"), ("media", "user_id"), ("annotations", "user_id"),
                   ("invoices", "user_id"), ("social_logins", "user_id"), ("marketing_contacts", "user_id"),
                   ("api_access_log", "user_id")]
runner = CliRunner()


def born(years: int, days: int = 0) -> date:
    """A birth date that makes the person ``years`` old (and ``days`` more) on the request day."""
    today = START.date()
    return today.replace(year=today.year - years) - timedelta(days=days)


def sql(cfg: Path, query: str, **params: Any) -> list[tuple[Any, ...]]:
    eng = create_engine(f"sqlite:///{cfg.parent / 'platform.db'}")
    with eng.begin() as conn:
        result = conn.execute(text(query), params)
        out = [tuple(r) for r in result] if result.returns_rows else []
    eng.dispose()
    return out


def rows_of(cfg: Path, links: list[tuple[str, str]], uid: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table that points at user ``uid``."""
    return {f"{t}.{c}": sql(cfg, f"SELECT * FROM {t} WHERE {c} = :u ORDER BY 1", u=uid) for t, c in links}


def two_people(cfg: Path) -> tuple[tuple[int, str], tuple[int, str]]:
    """Two open accounts that both wrote something (so there is data to lose or keep)."""
    found = sql(cfg, "SELECT u.id, u.email FROM users u WHERE u.status <> 'closed' AND EXISTS "
                     "(SELECT 1 FROM api_keys k WHERE k.user_id = u.id) ORDER BY u.id"
                if "api_keys" in {r[0] for r in sql(cfg, "SELECT name FROM sqlite_master WHERE type = 'table'")}
                else "SELECT u.id, u.email FROM users u WHERE u.status <> 'closed' AND EXISTS "
                     "(SELECT 1 FROM conversations c WHERE c.user_id = u.id) ORDER BY u.id")
    assert len(found) >= 2
    return (int(found[0][0]), str(found[0][1])), (int(found[1][0]), str(found[1][1]))


def test_omni_one_deletes_a_child_under_18_at_once_and_leaves_the_adult(tmp_path: Path) -> None:
    cfg = deployment(tmp_path, "omni-one", users=20)
    (child_id, child), (adult_id, adult) = two_people(cfg)
    sql(cfg, "UPDATE users SET birth_date = :b WHERE id = :u", b=born(OMNI_ONE_MINIMUM - 1).isoformat(), u=child_id)
    sql(cfg, "UPDATE users SET birth_date = :b WHERE id = :u", b=born(OMNI_ONE_MINIMUM).isoformat(), u=adult_id)
    before_child = rows_of(cfg, OMNI_ONE_LINKS, child_id)
    assert sum(len(v) for v in before_child.values()) > 3, "the child has data to delete"
    before_adult = rows_of(cfg, OMNI_ONE_LINKS, adult_id)
    engine = make_engine(cfg, Clock(START), 1, database_url=f"sqlite:///{tmp_path / 'store.db'}")
    try:
        # 18 today is not under 18: refused, and nothing changes
        with pytest.raises(ChildError, match="not under 18"):
            child_found(engine, adult, actor="dpo@x")
        outcome = child_found(engine, child, actor="dpo@x", note="a support chat said 'I am in year 11'")
        assert (outcome.action, outcome.age, outcome.minimum) == ("delete", OMNI_ONE_MINIMUM - 1, OMNI_ONE_MINIMUM)
        # "immediately": carried out now, approved by the policy's own promise, the ground on record
        assert outcome.state in ("completed", "partially_completed")
        request = engine.requests.get(str(outcome.request_id))
        assert request.initiative_ground == "child_under_minimum_age" and request.source == "officer"
        approvals = [e for e in engine.audit.entries(action="request.executing")
                     if e["target"] == f"request:{outcome.request_id}"]
        assert [e["actor"] for e in approvals] == [POLICY_ACTOR]
        assert engine.audit.entries(action="rights.child_found")
    finally:
        engine.close()
    left = {k: v for k, v in rows_of(cfg, OMNI_ONE_LINKS, child_id).items() if v}
    assert left == {}, "no row points at the child any more"
    assert sql(cfg, "SELECT count(*) FROM users WHERE lower(email) = lower(:e)", e=child) == [(0,)]
    assert rows_of(cfg, OMNI_ONE_LINKS, adult_id) == before_adult, "the adult's data is untouched"


def test_omni_one_a_child_known_only_from_a_report_waits_for_a_second_person(tmp_path: Path) -> None:
    """"If you believe we have information about a child under 18, please contact us at hello@omni1.ai."
    Without a birth date in the platform, the officer's evidence opens the erasure; a second
    person approves it before anything is deleted."""
    cfg = deployment(tmp_path, "omni-one", users=12)
    (uid, email), _ = two_people(cfg)
    sql(cfg, "UPDATE users SET birth_date = NULL WHERE id = :u", u=uid)
    engine = make_engine(cfg, Clock(START), 1, database_url=f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with pytest.raises(ChildError, match="evidence"):
            child_found(engine, email, actor="dpo@x")
        outcome = child_found(engine, email, actor="dpo@x", evidence="a parent wrote to hello@omni1.ai on 1 March")
        assert outcome.age is None and outcome.state == "verified"
        assert sql(cfg, "SELECT count(*) FROM users WHERE id = :u", u=uid) == [(1,)], "not before the approval"
        done = engine.requests.approve(str(outcome.request_id), actor="owner@x")
        assert done.state in ("completed", "partially_completed")
    finally:
        engine.close()
    assert sql(cfg, "SELECT count(*) FROM users WHERE id = :u", u=uid) == [(0,)]


def _onestepai(tmp_path: Path, action: str | None = None) -> Path:
    cfg = deployment(tmp_path, "onestepai", users=30)
    if action is not None:
        policy = cfg.with_name("policy.yaml")
        raw = yaml.safe_load(policy.read_text(encoding="utf-8"))
        raw["age"]["on_child_found"] = action
        policy.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return cfg


def test_onestepai_deletes_a_child_under_13_but_not_a_teenager(tmp_path: Path) -> None:
    cfg = _onestepai(tmp_path)
    (child_id, child), (teen_id, teen) = two_people(cfg)
    sql(cfg, "UPDATE users SET birth_date = :b WHERE id = :u", b=born(ONESTEPAI_MINIMUM - 1, 200).isoformat(),
        u=child_id)
    # 13 to 18 may use the Services with a parent's consent: not a child under the minimum
    sql(cfg, "UPDATE users SET birth_date = :b WHERE id = :u", b=born(ONESTEPAI_MINIMUM).isoformat(), u=teen_id)
    before_teen = rows_of(cfg, ONESTEPAI_LINKS, teen_id)
    engine = make_engine(cfg, Clock(START), 1, database_url=f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with pytest.raises(ChildError):
            child_found(engine, teen, actor="dpo@x")
        under = {str(r[0]).lower() for r in sql(cfg, "SELECT email FROM users WHERE birth_date > :b",
                                                  b=born(ONESTEPAI_MINIMUM).isoformat())}
        assert child.lower() in under and teen.lower() not in under
        assert {e.lower() for e in find_children(engine)} == under
        outcome = child_found(engine, child, actor="dpo@x")
        assert outcome.action == "delete" and outcome.state in ("completed", "partially_completed")
    finally:
        engine.close()
    assert {k: v for k, v in rows_of(cfg, ONESTEPAI_LINKS, child_id).items() if v} == {}
    assert rows_of(cfg, ONESTEPAI_LINKS, teen_id) == before_teen


@pytest.mark.parametrize("action", ["suspend", "require_parental_consent"])
def test_a_policy_that_suspends_keeps_the_data_and_stops_processing(tmp_path: Path, action: str) -> None:
    """``on_child_found`` is read: the same child, under a policy that suspends, keeps every row
    but nothing is processed for them any more."""
    cfg = _onestepai(tmp_path, action)
    (child_id, child), _ = two_people(cfg)
    sql(cfg, "UPDATE users SET birth_date = :b WHERE id = :u", b=born(ONESTEPAI_MINIMUM - 2).isoformat(),
        u=child_id)
    before = rows_of(cfg, ONESTEPAI_LINKS, child_id)
    engine = make_engine(cfg, Clock(START), 1, database_url=f"sqlite:///{tmp_path / 'store.db'}")
    try:
        outcome = child_found(engine, child, actor="dpo@x")
        assert outcome.action == action and outcome.request_id is None and outcome.restriction_id
        held = active_restrictions(engine, engine.consent.subject_keys(child))
        assert [r["purpose"] for r in held] == [None], "every purpose is restricted"
        assert not engine.may(child, "account").allowed
    finally:
        engine.close()
    assert rows_of(cfg, ONESTEPAI_LINKS, child_id) == before


def test_cli_child_found_all_acts_on_every_child_the_platform_holds(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = deployment(tmp_path, "omni-one", users=20)
    (child_id, child), (adult_id, _adult) = two_people(cfg)
    sql(cfg, "UPDATE users SET birth_date = :b WHERE id = :u", b=born(OMNI_ONE_MINIMUM - 3).isoformat(), u=child_id)
    children = {r[0] for r in sql(cfg, "SELECT id FROM users WHERE birth_date > :b",
                                  b=born(OMNI_ONE_MINIMUM).isoformat())}
    assert child_id in children and adult_id not in children
    monkeypatch.setenv("PLEDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    res = runner.invoke(app, ["rights", "child-found", "-c", str(cfg), "--all", "--format", "json",
                              "--actor", "dpo@x"])
    assert res.exit_code == 0, res.output
    assert sql(cfg, f"SELECT count(*) FROM users WHERE id IN ({','.join(map(str, children))})") == [(0,)]
    assert sql(cfg, "SELECT count(*) FROM users WHERE id = :u", u=adult_id) == [(1,)]
    both = runner.invoke(app, ["rights", "child-found", "-c", str(cfg), "--all", "--email", child])
    assert both.exit_code == 2
