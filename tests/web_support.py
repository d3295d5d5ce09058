"""Helpers for the privacy-centre and admin-console tests.

A small generated omni-one platform is made once per test module and copied for each
test (so every test has its own platform and store). Mail goes to a real local SMTP
sink (:class:`pledge.devmail.DevMail`); the engine's clock is moved by hand.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from pledge.devmail import DevMail
from pledge.engine import Engine
from pledge.platforms import create_platform
from pledge.settings import Settings, load_config
from pledge.web.app import create_app
from tests.conftest import EXAMPLES

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PASSWORD = "a long enough test password"
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


class Clock:
    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def make_platform(folder: Path, users: int = 40, example: str = "omni-one") -> Path:
    """A copy of an example with a generated SQLite platform in ``folder``; returns pledge.yaml."""
    shutil.copytree(EXAMPLES / example, folder, ignore=shutil.ignore_patterns("*.db", ".pledge"))
    create_platform(example, f"sqlite:///{folder / 'platform.db'}", users=users, progress=False)
    return folder / "pledge.yaml"


def copy_platform(template: Path, folder: Path) -> Path:
    shutil.copytree(template.parent, folder, ignore=shutil.ignore_patterns(".pledge"))
    return folder / "pledge.yaml"


def people(cfg: Path, n: int = 2) -> list[str]:
    """Emails of ``n`` active platform users."""
    eng = create_engine(f"sqlite:///{cfg.parent / 'platform.db'}")
    with eng.connect() as conn:
        rows = conn.execute(text("SELECT email FROM users WHERE status = 'active' ORDER BY id LIMIT :n"),
                            {"n": n}).scalars().all()
    eng.dispose()
    return [str(r) for r in rows]


@contextmanager
def mail_sink() -> Iterator[DevMail]:
    sink = DevMail("127.0.0.1", 0)
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


def code_for(sink: DevMail, address: str, wait: float = 10.0) -> str:
    """The newest verification code (``ABCD-EFGH``) mailed to ``address``. Mail leaves through
    the outbox's background sender, after the page has answered: wait up to ``wait`` seconds
    for it to reach the sink."""
    deadline = time.monotonic() + wait
    while True:
        for m in reversed(sink.messages()):
            if address.lower() in (r.lower() for r in m.recipients):
                msg = message_from_bytes(m.raw)
                body = msg.get_payload(decode=True)
                text_body = body.decode() if isinstance(body, bytes) else m.body
                found = re.search(r"^\s*([0-9A-Z]{4}-[0-9A-Z]{4})\s*$", text_body, re.M)
                if found:
                    return found.group(1)
        if time.monotonic() >= deadline:
            raise AssertionError(f"no code was mailed to {address}")
        time.sleep(0.05)


def csrf_of(html: str) -> str:
    found = CSRF_RE.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


@dataclass
class Site:
    cfg: Path
    engine: Engine
    sink: DevMail
    clock: Clock
    client: TestClient
    secrets: dict[str, str] = field(default_factory=dict)

    def new_client(self) -> TestClient:
        return TestClient(self.client.app, base_url="http://testserver")

    # -- people --------------------------------------------------------------------------
    def submit(self, client: TestClient, email: str, kind: str = "access", **extra: str) -> str:
        """Submit through the form; returns the request id from the redirect."""
        page = client.get("/privacy")
        res = client.post("/privacy/requests", data={"csrf": csrf_of(page.text), "kind": kind, "email": email,
                                                     **extra}, follow_redirects=False)
        assert res.status_code == 303, res.text
        return res.headers["location"].split("/")[3]

    def verify(self, client: TestClient, rid: str, email: str) -> Any:
        page = client.get(f"/privacy/requests/{rid}/verify")
        return client.post(f"/privacy/requests/{rid}/verify",
                           data={"csrf": csrf_of(page.text), "code": code_for(self.sink, email)},
                           follow_redirects=False)

    # -- admins --------------------------------------------------------------------------
    def admin(self, role: str) -> str:
        email = f"{role}@pledge.test"
        if email not in self.secrets:
            _, uri = self.engine.admins.create_user(email, role, password=PASSWORD)
            self.secrets[email] = pyotp.parse_uri(uri).secret
        return email

    def totp(self, email: str, at: datetime | None = None) -> str:
        return str(pyotp.TOTP(self.secrets[email]).at(at or self.clock.now))

    def login(self, client: TestClient, role: str, code: str | None = None) -> Any:
        email = self.admin(role)
        page = client.get("/admin/login")
        return client.post("/admin/login", data={"csrf": csrf_of(page.text), "email": email, "password": PASSWORD,
                                                 "code": code or self.totp(email)}, follow_redirects=False)


@contextmanager
def site(template: Path, folder: Path, environment: str = "test") -> Iterator[Site]:
    cfg = copy_platform(template, folder)
    clock = Clock()
    with mail_sink() as sink:
        settings = Settings(environment=environment, smtp_host="127.0.0.1", smtp_port=sink.port)  # type: ignore[arg-type]
        engine = Engine(load_config(cfg, settings), settings, clock=clock, devmail=sink)
        client = TestClient(create_app(engine), base_url="http://testserver")
        try:
            yield Site(cfg, engine, sink, clock, client)
        finally:
            client.close()
            engine.close()
