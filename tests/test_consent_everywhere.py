"""Consent changes count at once in every process.

Two real ``pledge serve`` processes (uvicorn) share one PostgreSQL store. Each caches
decisions; a withdrawal recorded through one is seen by the very next decision on the
other, and so is a restriction recorded by a third process (this one). A cached decision
is served only while the person's version counter in the store is the one it was made
under (pledge.consent.versions).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from pledge.engine import Engine
from pledge.rights.restrict import lift_restriction, restrict
from pledge.settings import Settings
from pledge.store.tables.consent import consent_versions
from tests.consent_env import add_user, make_deployment
from tests.services import fresh_database

PLEDGE = str(Path(sys.executable).with_name("pledge"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(cfg: Path, store_url: str, log: Path) -> Iterator[str]:
    """``pledge serve`` in its own process (and session, killed by its id at the end)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PLEDGE_BROKER_URL", "PLEDGE_REDIS_URL")}
    env.update({"PLEDGE_DATABASE_URL": store_url, "PLEDGE_ENVIRONMENT": "test", "PLEDGE_RETENTION_SWEEP": "off"})
    with log.open("wb") as out:
        proc = subprocess.Popen([PLEDGE, "serve", "-c", str(cfg), "--port", str(port)], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/v1/consent/config", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the server did not start: " + log.read_text()[-3000:]
            time.sleep(0.2)
        yield base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def test_a_withdrawal_through_one_server_is_seen_by_another_at_once(tmp_path: Path) -> None:
    with ExitStack() as stack:
        store_url = stack.enter_context(fresh_database("postgresql"))
        cfg = make_deployment(tmp_path)
        engine = Engine.from_config_file(cfg, Settings(environment="test", database_url=store_url))
        stack.callback(engine.close)
        email = add_user(engine, birth=date(1990, 5, 5))
        engine.consent.record(email, "marketing_email", "given")
        key = engine.admins.create_api_key("crm", ["consent:write", "decisions:read"], actor="test")
        a = stack.enter_context(server(cfg, store_url, tmp_path / "a.log"))
        b = stack.enter_context(server(cfg, store_url, tmp_path / "b.log"))
        http = stack.enter_context(httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=30))

        def decide(base: str) -> dict[str, Any]:
            r = http.get(f"{base}/v1/decisions", params={"subject": email, "purpose": "marketing_email"})
            assert r.status_code == 200, r.text
            return dict(r.json())

        def batch(base: str) -> dict[str, Any]:
            r = http.post(f"{base}/v1/decisions/batch",
                          json={"items": [{"subject": email, "purpose": "marketing_email"}]})
            assert r.status_code == 200, r.text
            return dict(r.json()["results"][0])

        for _ in range(3):  # both servers have the answer cached
            assert decide(a)["allowed"] and decide(b)["allowed"] and batch(b)["allowed"]
        withdrawn = http.post(f"{a}/v1/consent", json={"subject": email, "purpose": "marketing_email",
                                                       "state": "withdrawn"})
        assert withdrawn.status_code == 200, withdrawn.text
        seen = decide(b)  # the very next decision on the other server
        assert (seen["allowed"], seen["code"]) == (False, "consent_withdrawn")
        assert batch(b)["code"] == "consent_withdrawn" and decide(a)["code"] == "consent_withdrawn"
        # given again through the other server, and seen by the first
        assert http.post(f"{b}/v1/consent", json={"subject": email, "purpose": "marketing_email",
                                                  "state": "given"}).status_code == 200
        assert decide(a)["allowed"] is True
        # a restriction recorded by a third process (this one) stops both servers at once
        restrict(engine, email, None, reason="disputed accuracy", actor="test")
        assert decide(a)["code"] == decide(b)["code"] == "restricted"
        lift_restriction(engine, email, None, actor="test")
        assert decide(b)["allowed"] is True
        with engine.store.connect() as conn:  # one counter row for the person, moved by each change
            counters = conn.execute(select(consent_versions.c.version)).scalars().all()
        assert counters == [5]


def test_cached_decisions_follow_the_counter_in_process(tmp_path: Path) -> None:
    """Two engines on one store stand for two processes; every kind of write counts at once."""
    from pledge.rights.restrict import object_to, withdraw_objection

    cfg = make_deployment(tmp_path)
    settings = Settings(environment="test", database_url=f"sqlite:///{tmp_path / 'store.db'}")
    one, two = Engine.from_config_file(cfg, settings), Engine.from_config_file(cfg, settings)
    try:
        email = add_user(one, birth=date(1990, 5, 5))
        one.consent.record(email, "marketing_email", "given")
        assert two.may(email, "marketing_email").allowed and two.may(email, "security").allowed
        object_to(one, email, "security", reason="test")
        assert two.may(email, "security").code == "objected"
        withdraw_objection(one, email, "security")
        assert two.may(email, "security").allowed
        one.consent.record(email, "marketing_email", "withdrawn")
        assert two.decisions.many([(email, "marketing_email"), (email, "security")])[0].code == "consent_withdrawn"
        one.decisions.forget(email)  # the platform changed the person: every process decides again
        assert two.may(email, "marketing_email").code == "consent_withdrawn"
    finally:
        one.close()
        two.close()


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLEDGE_BROKER_URL", raising=False)


def test_every_write_to_what_decisions_read_moves_the_counter() -> None:
    """Each function in src/pledge that inserts, updates or deletes consent, restriction or
    objection rows also calls ``versions.bump`` (in the same transaction, by the code's own
    shape): a new writer that forgets it fails here, not in another process's cache."""
    import ast

    watched = {"consent_records", "consent_current", "restrictions", "objections"}
    src = Path(__file__).resolve().parents[1] / "src" / "pledge"
    writers: dict[str, bool] = {}
    for path in sorted(src.rglob("*.py")):
        for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(fn, ast.FunctionDef):
                continue
            writes = bumps = False
            for node in ast.walk(fn):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute):
                    name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
                    if name in ("insert", "update", "delete") and node.args and \
                            isinstance(node.args[0], ast.Name) and node.args[0].id in watched:
                        writes = True
                    if name == "bump":
                        bumps = True
            if writes:
                writers[f"{path.relative_to(src)}:{fn.name}"] = bumps
    assert len(writers) >= 5  # the ledger and the four restriction/objection writers
    assert {w for w, bumps in writers.items() if not bumps} == set()
