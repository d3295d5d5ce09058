"""Unverified requests expire on schedule, and their identities are destroyed.

A request holds the requester's identities sealed (``payload_enc``) and a keyed lookup
key (``identity_key``). One never verified within 30 days of receipt becomes ``expired``
and keeps neither: the SQL below reads the rows themselves.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from pledge.cli import app
from pledge.devmail import DevMail
from pledge.engine import Engine
from pledge.retention.scheduler import Scheduler
from pledge.store.tables.core import audit_log
from pledge.store.tables.requests import requests as requests_table
from tests.requests_support import (
    START,
    Clock,
    deployment,
    some_users,
)

runner = CliRunner()


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return deployment(tmp_path_factory.mktemp("expiry"), "omni-one", users=20)


def _rows(engine: Engine) -> dict[str, tuple[str, str, bytes]]:
    with engine.store.connect() as conn:
        return {r.public_id: (r.state, r.identity_key, bytes(r.payload_enc)) for r in conn.execute(
            select(requests_table.c.public_id, requests_table.c.state, requests_table.c.identity_key,
                   requests_table.c.payload_enc))}


def _stale_and_fresh(engine: Engine, cfg: Path, clock: Clock) -> tuple[list[str], list[str]]:
    users = some_users(cfg, 4)
    svc = engine.requests
    received = svc.create("access", {"email": users[0]["email"]}, notify=False)
    verifying = svc.create("erasure", {"email": users[1]["email"]})
    svc.start_verification(verifying.id)
    officer = svc.open_on_initiative("erasure", {"email": users[2]["email"]}, ground="legal_order", actor="dpo")
    clock.advance(days=25)
    fresh = svc.create("access", {"email": users[3]["email"]}, notify=False)
    clock.advance(days=6)  # 31 days after the first three were received, 6 after the last
    return [received.id, verifying.id], [officer.id, fresh.id]


def test_unverified_requests_expire_and_their_identities_are_destroyed(engine: Engine, cfg: Path,
                                                                        clock: Clock) -> None:
    stale, kept = _stale_and_fresh(engine, cfg, clock)
    before = _rows(engine)
    assert sorted(engine.requests.expire_stale()) == sorted(stale)
    after = _rows(engine)
    empty = engine.requests.vault.seal({"identities": {}, "params": {}})
    for rid in stale:
        state, identity_key, payload = after[rid]
        assert (state, identity_key) == ("expired", "")
        assert payload != before[rid][2]  # the sealed identities are gone from the row
        assert engine.requests.vault.open(payload) == {"identities": {}, "params": {}}
        assert len(payload) == len(empty)  # an empty payload, not the old one re-sealed
        assert engine.requests.identities(rid) == {}
    for rid in kept:
        assert after[rid] == before[rid] and after[rid][1] != ""
    assert engine.requests.find(email=some_users(cfg, 1)[0]["email"]) == []  # nobody finds them by email
    with engine.store.connect() as conn:
        audited = conn.execute(select(audit_log.c.target, audit_log.c.details)
                               .where(audit_log.c.action == "request.expired")).all()
    assert sorted(t for t, _ in audited) == sorted(f"request:{rid}" for rid in stale)
    assert all(d["identities"] == "destroyed" for _, d in audited)
    assert engine.requests.expire_stale() == []  # a second run has nothing to do


def test_requests_expired_before_lose_their_identities_too(engine: Engine, cfg: Path) -> None:
    r = engine.requests.create("access", {"email": some_users(cfg, 1)[0]["email"]}, notify=False)
    engine.requests.transition(r.id, "expired", actor="test")  # as the old code left them
    assert _rows(engine)[r.id][1] != ""
    assert engine.requests.expire_stale() == []
    assert _rows(engine)[r.id][1] == "" and engine.requests.identities(r.id) == {}


def test_the_cli_expires_them(engine: Engine, cfg: Path, sink: DevMail, tmp_path: Path, clock: Clock,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    stale, _kept = _stale_and_fresh(engine, cfg, clock)
    monkeypatch.setenv("PLEDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("PLEDGE_SMTP_PORT", str(sink.port))
    early = runner.invoke(app, ["requests", "expire", "-c", str(cfg), "--format", "json",
                                "--now", (START + timedelta(days=29)).isoformat()])
    assert early.exit_code == 0, early.output
    assert json.loads(early.stdout) == {"expired": []}
    done = runner.invoke(app, ["requests", "expire", "-c", str(cfg), "--format", "json",
                               "--now", clock.now.isoformat()])
    assert done.exit_code == 0, done.output
    assert sorted(json.loads(done.stdout)["expired"]) == sorted(stale)
    assert all(_rows(engine)[rid][1] == "" for rid in stale)


def test_the_daily_scheduler_expires_them(engine: Engine, cfg: Path, clock: Clock) -> None:
    stale, _kept = _stale_and_fresh(engine, cfg, clock)
    scheduler = Scheduler(engine, every=3600)
    scheduler.start()
    try:
        deadline = time.monotonic() + 180
        while scheduler.runs < 1:
            assert time.monotonic() < deadline, "the scheduler's first tick did not end"
            time.sleep(0.1)
    finally:
        scheduler.close()
    assert all(_rows(engine)[rid][:2] == ("expired", "") for rid in stale)
