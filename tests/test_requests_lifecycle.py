"""The request lifecycle: transitions and their audit, officer-opened requests, encryption at rest,
the CLI, and the audit chain after tampering."""

from __future__ import annotations

import json
import zipfile
from io import BytesIO
from pathlib import Path

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from pledge.cli import app
from pledge.devmail import DevMail
from pledge.engine import Engine
from pledge.rights.requests import TRANSITIONS, RequestError, RequestStateError
from pledge.store.tables.requests import requests as requests_table
from tests.requests_support import (
    START,
    Clock,
    code_from,
    deployment,
    mails_to,
    make_engine,
    some_users,
)

runner = CliRunner()


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return deployment(tmp_path_factory.mktemp("omni"), "omni-one", users=30)


def verified(engine: Engine, sink: DevMail, email: str, kind: str = "access", **kw: object) -> str:
    svc = engine.requests
    r = svc.create(kind, {"email": email}, **kw)  # type: ignore[arg-type]
    svc.start_verification(r.id)
    return svc.verify_code(r.id, code_from(sink, email)).id


def test_full_access_lifecycle_is_audited_and_delivers_own_rows(engine: Engine, sink: DevMail, cfg: Path) -> None:
    user = some_users(cfg, 1)[0]
    svc = engine.requests
    r = svc.create("access", {"email": user["email"]})
    assert r.state == "received" and r.due_on.isoformat() == "2026-04-01"  # omni-one promises 30 days
    rid = r.id
    svc.start_verification(rid)
    assert svc.get(rid).state == "verifying"
    assert svc.verify_code(rid, code_from(sink, user["email"])).state == "verified"
    done = svc.approve(rid, actor="admin:1")
    assert done.state == "completed" and done.closed_at is not None
    _, data = svc.delivery.open_signed(rid, svc.delivery.sign(rid, done.result["export"]))
    with zipfile.ZipFile(BytesIO(data)) as z:
        doc = json.loads(z.read("data.json"))
    users = doc["collections"]["main.users"]["rows"]
    assert [u["id"] for u in users] == [user["id"]]
    actions = [e["action"] for e in reversed(engine.audit.entries()) if e["target"] == f"request:{rid}"]
    assert actions[:2] == ["request.received", "request.code_sent"]
    for state in ("verifying", "verified", "executing", "completed"):
        assert f"request.{state}" in actions
    assert engine.audit.verify() == []
    subjects = [m["Subject"] for m in mails_to(sink, user["email"])]
    assert any("received" in s for s in subjects) and any("complete" in s for s in subjects)


def test_transition_table_refuses_other_moves(engine: Engine, cfg: Path) -> None:
    user = some_users(cfg, 2)[1]
    svc = engine.requests
    r = svc.create("erasure", {"email": user["email"]}, notify=False)
    for bad in ("executing", "completed", "awaiting_approval"):
        assert bad not in TRANSITIONS["received"]
        with pytest.raises(RequestStateError):
            svc.transition(r.id, bad, actor="t")
    with pytest.raises(RequestStateError):
        svc.approve(r.id, actor="t")  # not verified
    denied = svc.deny(r.id, "manifestly_unfounded", note="the fifth identical request this week", actor="dpo")
    assert denied.state == "denied" and denied.denial_ground == "manifestly_unfounded"
    for new in TRANSITIONS:
        with pytest.raises(RequestStateError):
            svc.transition(r.id, new, actor="t")  # a denial is final
    with pytest.raises(RequestError):
        svc.deny(svc.create("access", {"email": user["email"]}, notify=False).id, "because", actor="dpo")


def test_identities_are_encrypted_at_rest(engine: Engine, cfg: Path, tmp_path: Path) -> None:
    user = some_users(cfg, 3)[2]
    r = engine.requests.create("rectification", {"email": user["email"]},
                               params={"changes": {"name": "Zofia Secretname"}}, notify=False)
    with engine.store.connect() as conn:
        row = conn.execute(select(requests_table).where(requests_table.c.public_id == r.id)).one()
    raw = repr(dict(row._mapping))
    assert user["email"].lower() not in raw.lower() and "Secretname" not in raw
    db_bytes = (tmp_path / "store.db").read_bytes()
    assert user["email"].encode() not in db_bytes and b"Secretname" not in db_bytes
    assert engine.requests.identities(r.id)["email"] == user["email"].lower()
    assert engine.requests.find(email=user["email"])[0].id == r.id


def test_key_rotation_keeps_old_identities_readable(cfg: Path, sink: DevMail, tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    store = f"sqlite:///{tmp_path / 'rot.db'}"
    first = make_engine(cfg, Clock(START), sink.port, database_url=store, encryption_keys=old)
    rid = first.requests.create("access", {"email": "ann@example.org"}, notify=False).id
    first.close()
    rotated = make_engine(cfg, Clock(START), sink.port, database_url=store, encryption_keys=f"{new},{old}")
    assert rotated.requests.identities(rid) == {"email": "ann@example.org"}
    rotated.close()
    gone = make_engine(cfg, Clock(START), sink.port, database_url=store, encryption_keys=new)
    with pytest.raises(ValueError):
        gone.requests.identities(rid)
    gone.close()


def test_officer_opens_erasure_of_a_child_with_the_ground_recorded(engine: Engine, cfg: Path) -> None:
    child = some_users(cfg, 4)[3]
    svc = engine.requests
    with pytest.raises(RequestError):
        svc.open_on_initiative("erasure", {"email": child["email"]}, ground="felt_like_it", actor="dpo")
    r = svc.open_on_initiative("erasure", {"email": child["email"]}, ground="child_under_minimum_age",
                               note="date of birth shows 16; the policy's minimum is 18", actor="dpo@x")
    assert r.source == "officer" and r.initiative_ground == "child_under_minimum_age"
    assert r.state == "verified" and r.approval_needed  # a second person approves an erasure
    with pytest.raises(RequestStateError):
        svc.run(r.id)
    done = svc.approve(r.id, actor="owner@x")
    assert done.state in ("completed", "partially_completed")
    assert done.result["certificate"]["certificate"]["request_id"] == f"request-{r.id}"
    opened = engine.audit.entries(action="request.verified")
    assert any(e["target"] == f"request:{r.id}" and e["details"]["ground"] == "child_under_minimum_age"
               for e in opened)
    with engine.platform_engine("main").connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM users WHERE id = :i"), {"i": child["id"]}).scalar() == 0


def test_extension_once_with_a_reason_inside_the_first_period(engine: Engine, cfg: Path, sink: DevMail,
                                                              clock: Clock) -> None:
    user = some_users(cfg, 5)[4]
    svc = engine.requests
    r = svc.create("access", {"email": user["email"]})
    with pytest.raises(RequestError):
        svc.extend(r.id, "  ", actor="dpo")
    ext = svc.extend(r.id, "Many systems to search", actor="dpo")
    assert ext.extended_due_on is not None and ext.extended_due_on > ext.due_on
    assert ext.effective_due == ext.extended_due_on
    assert any("more time" in m["Subject"] for m in mails_to(sink, user["email"]))
    with pytest.raises(RequestStateError):
        svc.extend(r.id, "again", actor="dpo")
    late = svc.create("access", {"email": user["email"]}, notify=False)
    clock.now = START.replace(month=4, day=20)
    with pytest.raises(RequestStateError, match="too late"):
        svc.extend(late.id, "forgot", actor="dpo")


def test_overdue_cli_lists_late_requests(engine: Engine, cfg: Path, sink: DevMail, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    user = some_users(cfg, 6)[5]
    r = engine.requests.create("access", {"email": user["email"]}, notify=False)
    monkeypatch.setenv("PLEDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("PLEDGE_SMTP_PORT", str(sink.port))
    ok = runner.invoke(app, ["requests", "overdue", "-c", str(cfg), "--format", "json", "--now", "2026-03-20"])
    assert ok.exit_code == 0 and json.loads(ok.stdout) == []
    late = runner.invoke(app, ["requests", "overdue", "-c", str(cfg), "--format", "json", "--now", "2026-04-02"])
    assert late.exit_code == 1
    rows = json.loads(late.stdout)
    assert [x["id"] for x in rows] == [r.id] and rows[0]["overdue"] and rows[0]["days_left"] == -1
    bad = runner.invoke(app, ["requests", "overdue", "-c", str(cfg), "--format", "xml"])
    assert bad.exit_code == 2
    shown = runner.invoke(app, ["requests", "show", r.id, "-c", str(cfg), "--format", "json"])
    assert shown.exit_code == 0 and user["email"] not in shown.stdout
    missing = runner.invoke(app, ["requests", "show", "req_nope", "-c", str(cfg)])
    assert missing.exit_code == 2


@pytest.mark.parametrize("tamper", ["edit", "delete", "reorder", "truncate"])
def test_audit_verify_names_the_tampered_entry(engine: Engine, cfg: Path, tmp_path: Path, tamper: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(5):
        engine.audit.record("test.event", target=f"t{i}", details={"i": i})
    monkeypatch.setenv("PLEDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    clean = runner.invoke(app, ["audit", "verify", "-c", str(cfg)])
    assert clean.exit_code == 0, clean.output
    with engine.store.begin() as conn:
        if tamper == "edit":
            conn.execute(text("UPDATE audit_log SET details = '{\"i\": 99}' WHERE id = 3"))
        elif tamper == "delete":
            conn.execute(text("DELETE FROM audit_log WHERE id = 3"))
        elif tamper == "reorder":  # swap the content of entries 2 and 3, hashes and all
            rows = {r.id: r for r in conn.execute(text("SELECT * FROM audit_log WHERE id IN (2, 3)"))}
            for a, b in ((2, 3), (3, 2)):
                src = rows[b]
                conn.execute(text("UPDATE audit_log SET at=:at, actor=:actor, action=:action, target=:target, "
                                  "details=:details, prev_hash=:prev, hash=:hash WHERE id=:id"),
                             {"at": src.at, "actor": src.actor, "action": src.action, "target": src.target,
                              "details": src.details, "prev": src.prev_hash, "hash": src.hash, "id": a})
        else:
            conn.execute(text("DELETE FROM audit_log WHERE id = 5"))
    out = runner.invoke(app, ["audit", "verify", "-c", str(cfg), "--format", "json"])
    assert out.exit_code == 1
    named = {p["entry"] for p in json.loads(out.stdout)["problems"]}
    expected = {"edit": 3, "delete": 3, "reorder": 2, "truncate": 5}[tamper]
    assert expected in named
