"""Retention operations: the condition language, a SIGKILLed sweep, restore + replay,
holds from the CLI, limits, and ``POST /v1/activity``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, select, text
from typer.testing import CliRunner

from pledge.cli import app
from pledge.engine import Engine
from pledge.platforms import REFERENCE, create_platform
from pledge.retention import sweep
from pledge.retention.replay import ReplayError, replay
from pledge.retention.rules import ConditionError, parse_condition
from pledge.rights.erasure import erase
from pledge.settings import Settings
from tests.erasure_support import snapshot
from tests.retention_support import deployment, rows, write_config

NOW = REFERENCE + timedelta(days=200)
runner = CliRunner()


# -- the condition language -----------------------------------------------------------------------
@pytest.fixture
def people_table(tmp_path: Path) -> tuple[Table, object]:
    eng = create_engine(f"sqlite:///{tmp_path / 'c.db'}")
    md = MetaData()
    t = Table("people", md, Column("id", Integer, primary_key=True), Column("status", String(20)),
              Column("name", String(50)), Column("org", Integer, nullable=True))
    md.create_all(eng)
    with eng.begin() as conn:
        conn.execute(insert(t), [{"id": 1, "status": "closed", "name": "O'Brien", "org": None},
                                 {"id": 2, "status": "open", "name": "Ann", "org": 7},
                                 {"id": 3, "status": "closed", "name": "Bo", "org": 7}])
    return t, eng


def _ids(people_table: tuple[Table, object], cond: str) -> list[int]:
    table, eng = people_table
    with eng.connect() as conn:  # type: ignore[attr-defined]
        return [r[0] for r in conn.execute(select(table.c.id).where(parse_condition(cond, table)).order_by(table.c.id))]


@pytest.mark.parametrize(("cond", "expected"), [
    ("status = 'closed'", [1, 3]),
    ("status = 'closed' AND org IS NULL", [1]),
    ("status = 'open' OR (org IS NOT NULL AND id >= 3)", [2, 3]),
    ("name = 'O''Brien'", [1]),
    ("status <> 'closed'", [2]),
    ("status = 'closed'' OR ''1''=''1'", []),  # quotes inside a literal stay a value
    ("org = id", []),
])
def test_condition_language_selects_the_right_rows(people_table: tuple[Table, object], cond: str,
                                                   expected: list[int]) -> None:
    assert _ids(people_table, cond) == expected


@pytest.mark.parametrize(("cond", "says"), [
    ("status = 'closed'; DROP TABLE people", "';'"),
    ("status = 'closed' -- comment", "position"),
    ("1 = 1", "expected a column name"),
    ("status = 'x' OR 1 = 1", "expected a column name"),
    ("sleep(5) = 0", "function calls"),
    ("status IN ('a', 'b')", "not allowed"),
    ("status LIKE 'a%'", "comparison operator"),
    ("status = (SELECT 1)", "expected a value"),
    ("secret = 1", "not a column of people"),
    ("status = NULL", "IS NULL"),
    ("status = 'x' UNION SELECT 1", "unexpected"),
    ("status = 'unterminated", "not allowed"),
    ("", "empty"),
    ("(" * 60 + "id = 1" + ")" * 60, "too deep"),
])
def test_condition_language_rejects_injection(people_table: tuple[Table, object], cond: str, says: str) -> None:
    with pytest.raises(ConditionError, match=None) as info:
        parse_condition(cond, people_table[0])
    assert says in str(info.value)
    table, eng = people_table
    with eng.connect() as conn:  # type: ignore[attr-defined]
        assert conn.execute(text("SELECT count(*) FROM people")).scalar() == 3


# -- a sweep killed with SIGKILL -------------------------------------------------------------------------
def _cli(cfg: Path, *args: str) -> subprocess.Popen[bytes]:
    pledge = Path(sys.executable).parent / "pledge"
    env = {**os.environ, "PLEDGE_RETENTION_SWEEP": "off"}
    return subprocess.Popen([str(pledge), "retention", "run", "-c", str(cfg), "--now", NOW.isoformat(),
                             "--format", "json", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def test_sigkill_mid_sweep_then_rerun_equals_uninterrupted(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    create_platform("omni-one", f"sqlite:///{a / 'platform.db'}", users=900, seed=5, progress=False)
    shutil.copy(a / "platform.db", b / "platform.db")
    cfg_a = write_config(a, "omni-one", f"sqlite:///{a / 'platform.db'}")
    cfg_b = write_config(b, "omni-one", f"sqlite:///{b / 'platform.db'}")

    proc = _cli(cfg_a, "--batch-size", "3")
    store = a / "omni-one-store.db"
    deadline = time.monotonic() + 60
    killed = False
    while time.monotonic() < deadline and proc.poll() is None:
        found: list[object] = []
        if store.exists():  # read-only: never create the file under the sweep's feet
            try:
                with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1) as conn:
                    found = conn.execute("SELECT value FROM checkpoints WHERE key LIKE 'retention:all:%' "
                                         "AND key NOT LIKE '%:meta'").fetchall()
            except sqlite3.Error:
                found = []
        if found:
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.01)
    proc.wait(timeout=30)
    assert killed, "the sweep finished before a checkpoint was seen; make the platform bigger"
    again = _cli(cfg_a, "--batch-size", "3")
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err.decode()
    resumed = json.loads(out)
    assert resumed["resumed"] is True and resumed["status"] == "done"

    whole = _cli(cfg_b, "--batch-size", "50")
    out_b, err_b = whole.communicate(timeout=120)
    assert whole.returncode == 0, err_b.decode()
    ea = create_engine(f"sqlite:///{a / 'platform.db'}")
    eb = create_engine(f"sqlite:///{b / 'platform.db'}")
    try:
        assert snapshot(ea) == snapshot(eb)
    finally:
        ea.dispose()
        eb.dispose()


# -- restore + replay ------------------------------------------------------------------------------------
def test_restore_then_replay_brings_no_erased_person_back(tmp_path: Path) -> None:
    db = tmp_path / "platform.db"
    engine = deployment(tmp_path, "omni-one", f"sqlite:///{db}", users=120, now=NOW)
    backup = tmp_path / "backup.db"
    shutil.copy(db, backup)
    eng = engine.platform_engine("main")
    active = rows(eng, "SELECT email FROM users WHERE status = 'active' ORDER BY id LIMIT 2")
    closed_before = {r[0] for r in rows(eng, "SELECT email FROM users WHERE status = 'closed'")}
    for (email,) in active:
        erase(engine, {"email": email})
    swept = sweep.run(engine, NOW)
    assert swept["total_rows"] > 0
    gone = {a[0] for a in active} | (closed_before - {r[0] for r in rows(eng, "SELECT email FROM users")})
    assert len(gone) > 2
    engine.close()

    # the restore: yesterday's copy comes back
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    shutil.copy(backup, db)
    later = NOW + timedelta(hours=2)
    engine = Engine.from_config_file(tmp_path / "omni-one.yaml", Settings(), clock=lambda: later)
    eng = engine.platform_engine("main")
    present = {r[0] for r in rows(eng, "SELECT email FROM users")}
    assert gone <= present, "the restored copy brings them back"

    with pytest.raises(ReplayError, match="backup window"):
        replay(engine, NOW - timedelta(days=45))
    report = replay(engine, NOW - timedelta(days=1))
    assert report["people"] >= len(gone)
    present = {r[0] for r in rows(eng, "SELECT email FROM users")}
    assert not gone & present
    invited = {r[0] for r in rows(eng, "SELECT email FROM invitations")}
    assert not {a[0] for a in active} & invited
    assert engine.audit.entries(action="ledger.replay.done")
    engine.close()


# -- CLI: plan, limits, holds ---------------------------------------------------------------------------
def test_cli_plan_run_limits_and_holds(tmp_path: Path) -> None:
    engine = deployment(tmp_path, "onetagger", f"sqlite:///{tmp_path / 'p.db'}", users=100, now=NOW)
    engine.close()
    cfg = str(tmp_path / "onetagger.yaml")
    now = ["--now", NOW.isoformat()]
    res = runner.invoke(app, ["retention", "plan", "-c", cfg, *now, "--format", "json"])
    assert res.exit_code == 0, res.output
    planned = json.loads(res.output)
    logs = next(t for t in planned["targets"] if t["collection"] == "main.web_logs")
    assert logs["rows"] > 0 and logs["sample_ids"] and logs["oldest"]

    held = str(logs["sample_ids"][0])
    res = runner.invoke(app, ["retention", "hold", "add", "-c", cfg, *now, "--collection", "main.web_logs",
                              "--ids", held, "--reason", "incident 7", "--expires", "2031-01-01"])
    assert res.exit_code == 0, res.output
    bad = runner.invoke(app, ["retention", "hold", "add", "-c", cfg, *now, "--collection", "main.web_logs",
                              "--where", "id = 1; DROP TABLE web_logs", "--reason", "x", "--expires", "2031-01-01"])
    assert bad.exit_code == 2 and "position 6" in bad.output
    res = runner.invoke(app, ["retention", "hold", "list", "-c", cfg, *now, "--format", "json"])
    holds = json.loads(res.output)
    assert [h["ids"] for h in holds] == [[int(held)]]

    res = runner.invoke(app, ["retention", "run", "-c", cfg, *now, "--max-rows", "5", "--batch-size", "5",
                              "--format", "json"])
    part = json.loads(res.output)
    assert part["status"] == "partial" and part["stopped_by"] == "max_rows" and part["total_rows"] == 5
    res = runner.invoke(app, ["retention", "run", "-c", cfg, *now, "--format", "json"])
    rest = json.loads(res.output)
    assert rest["resumed"] is True and rest["status"] == "done"
    eng = create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    assert rows(eng, f"SELECT id FROM web_logs WHERE id = {held}") == [(int(held),)]
    res = runner.invoke(app, ["retention", "hold", "release", "-c", cfg, str(holds[0]["id"])])
    assert res.exit_code == 0
    res = runner.invoke(app, ["retention", "run", "-c", cfg, *now, "--format", "json"])
    assert json.loads(res.output)["total_rows"] >= 1
    assert rows(eng, f"SELECT id FROM web_logs WHERE id = {held}") == []
    eng.dispose()
    assert runner.invoke(app, ["retention", "run", "-c", cfg, "--now", "yesterday"]).exit_code == 2
    out = runner.invoke(app, ["ledger", "replay", "-c", cfg, *now, "--since", "2020-01-01", "--format", "json"])
    assert out.exit_code == 0 and "no backup period" in out.output


# -- POST /v1/activity ------------------------------------------------------------------------------------
def test_activity_restarts_the_inactivity_clock(tmp_path: Path) -> None:
    from pledge.web.app import create_app

    engine = deployment(tmp_path, "onetagger", f"sqlite:///{tmp_path / 'p.db'}", users=60, now=NOW)
    targets = sweep.plan(engine, NOW, sample=1000)["targets"]
    inactive = next(t for t in targets if t["collection"] == "main.accounts")["sample_ids"]
    eng = engine.platform_engine("main")
    account = inactive[0]
    email = rows(eng, f"SELECT email FROM accounts WHERE id = {account}")[0][0]
    key = engine.admins.create_api_key("platform", ["activity:write"])
    with TestClient(create_app(engine), headers={"Authorization": f"Bearer {key}"}) as client:
        assert client.app.state.retention_scheduler is None  # type: ignore[attr-defined]
        res = client.post("/v1/activity", json={"email": email})
        assert res.status_code == 200 and res.json()["recorded"] is True
        assert res.json()["column"] == "main.accounts.last_login_at"
        assert client.post("/v1/activity", json={"email": "nobody@example.invalid"}).status_code == 404
        assert client.post("/v1/activity", json={}).status_code == 422
    after = sweep.plan(engine, NOW, sample=1000)["targets"]
    assert account not in next(t for t in after if t["collection"] == "main.accounts")["sample_ids"]
    engine.close()
