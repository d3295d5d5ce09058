"""Time is an argument: a retention sweep never moves the clock of the engine it runs on.

The web server sweeps on its own engine (the in-process scheduler), so a sweep that held
the engine's clock at its own moment froze time for every request meanwhile: audit
timestamps, sessions, TOTP checks. The test below holds a sweep open inside the web
server's process, on the server's engine, while that sweep runs "as of" five days ago (a
resumed sweep keeps the moment it started with), and meanwhile an admin signs in with a
fresh TOTP code and a person submits a request.

The issue asked for a sweep held open for 90 s. The hook below holds it exactly as long
as the checks take (a few seconds) instead: with the old code the clock was frozen at the
sweep's moment for the whole sweep, from its first instant, so what a 90 s hold showed (a
clock minutes behind, a TOTP step long gone) a sweep five days behind shows at once and
more strongly, without 90 s of suite time. ``PLEDGE_TEST_SWEEP_HOLD=90`` keeps it held at
least that many seconds for a literal run.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from pledge.engine import Engine
from pledge.retention import sweep
from pledge.settings import Settings, load_config
from pledge.store.tables.core import audit_log
from pledge.tasks import InlineJobs
from pledge.web.app import create_app
from tests.web_support import PASSWORD, csrf_of, mail_sink, make_platform, people


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_platform(tmp_path_factory.mktemp("clock") / "omni-one", users=40)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Hold:
    """Once ``armed``, the next sweep target to start sets ``entered`` and waits for ``release``."""

    def __init__(self) -> None:
        self.armed, self.entered, self.release = threading.Event(), threading.Event(), threading.Event()


@pytest.fixture
def held_sweep(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hold]:
    hold = Hold()
    original = sweep.Sweep.run_target

    def run_target(self: sweep.Sweep, *args: Any, **kwargs: Any) -> Any:
        if hold.armed.is_set() and not hold.entered.is_set():
            hold.entered.set()
            hold.release.wait(300)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(sweep.Sweep, "run_target", run_target)
    yield hold
    hold.release.set()


def _audit_since(engine: Engine, first_id: int) -> list[Any]:
    with engine.store.connect() as conn:
        return list(conn.execute(select(audit_log).where(audit_log.c.id > first_id).order_by(audit_log.c.id)))


def test_a_sweep_held_open_in_the_web_server_leaves_its_clock_alone(
        template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        held_sweep: Hold) -> None:
    import shutil

    shutil.copytree(template.parent, tmp_path / "site", ignore=shutil.ignore_patterns(".pledge"))
    cfg = tmp_path / "site" / "pledge.yaml"
    entered, release = held_sweep.entered, held_sweep.release
    monkeypatch.setenv("PLEDGE_RETENTION_SWEEP", "3600")  # the in-process scheduler sweeps at start
    with mail_sink() as sink:
        settings = Settings(environment="test", smtp_host="127.0.0.1", smtp_port=sink.port)  # type: ignore[arg-type]
        engine = Engine(load_config(cfg, settings), settings)  # the wall clock
        try:
            # a sweep five days ago was interrupted: the next one resumes it "as of" then
            days_back = datetime.now(UTC) - timedelta(days=5)
            paused = sweep.run(engine, days_back, until=datetime.now(UTC) - timedelta(seconds=1))
            assert paused["status"] == "partial"
            _, uri = engine.admins.create_user("owner@pledge.test", "owner", password=PASSWORD)
            totp = pyotp.TOTP(pyotp.parse_uri(uri).secret)
            with engine.store.connect() as conn:
                mark = int(conn.execute(select(audit_log.c.id).order_by(audit_log.c.id.desc()).limit(1)).scalar() or 0)
            assert isinstance(engine.jobs, InlineJobs)
            held_sweep.armed.set()
            with TestClient(create_app(engine), base_url="http://testserver") as client:
                assert entered.wait(60), "the scheduler's sweep did not start"
                held_from = time.monotonic()
                before = datetime.now(UTC)
                # an admin signs in with a code fresh from the authenticator app
                page = client.get("/admin/login")
                signed_in = client.post("/admin/login", follow_redirects=False, data={
                    "csrf": csrf_of(page.text), "email": "owner@pledge.test", "password": PASSWORD,
                    "code": totp.now()})
                assert signed_in.status_code == 303, signed_in.text[-500:]
                assert client.get("/admin").status_code == 200  # and the session holds
                # a person submits a request through the privacy centre
                form = client.get("/privacy")
                made = client.post("/privacy/requests", follow_redirects=False, data={
                    "csrf": csrf_of(form.text), "kind": "access", "email": people(cfg, 1)[0]})
                assert made.status_code == 303, made.text[-500:]
                after = datetime.now(UTC)
                assert not release.is_set()  # all of it while the sweep was held open
                written = {r.action: _aware(r.at) for r in _audit_since(engine, mark)}
                for action in ("admin.login", "request.received"):
                    assert before - timedelta(seconds=1) <= written[action] <= after + timedelta(seconds=1), (
                        action, written[action])
                time.sleep(max(0.0, float(os.environ.get("PLEDGE_TEST_SWEEP_HOLD", "0"))
                               - (time.monotonic() - held_from)))
                release.set()
                scheduler = client.app.state.retention_scheduler  # type: ignore[attr-defined]
                deadline = time.monotonic() + 120
                while scheduler.runs < 1:
                    assert time.monotonic() < deadline, "the held sweep did not finish"
                    time.sleep(0.1)
            rows = _audit_since(engine, mark)
            resumed = [r for r in rows if r.action == "retention.sweep.resume"]
            assert resumed and resumed[0].details["now"] == days_back.isoformat()  # it swept "as of" then
            assert any(r.action == "retention.sweep.done" for r in rows)
            # and its own entries carry the time they were written, not the moment it swept as of
            assert all(_aware(r.at) >= before - timedelta(seconds=1) for r in rows if r.id > resumed[0].id)
        finally:
            engine.close()
