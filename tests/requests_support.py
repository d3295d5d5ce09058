"""Helpers for the request tests: an example deployment on SQLite, an SMTP sink, a clock."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text

from pledge.devmail import DevMail
from pledge.engine import Engine
from pledge.platforms import create_platform
from pledge.settings import Settings, load_config
from tests.conftest import EXAMPLES

_CACHE: dict[str, Path] = {}


class Clock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def deployment(tmp_path: Path, example: str = "omni-one", users: int = 30, *, files: bool = True) -> Path:
    """A copy of an example with a small generated SQLite platform and (``files``) the files its
    rows describe in the data map's folder stores, as ``pledge platform create -c`` makes them;
    returns pledge.yaml."""
    dest = tmp_path / example
    shutil.copytree(EXAMPLES / example, dest, ignore=shutil.ignore_patterns("*.db", ".pledge", "blobs"))
    cfg = (dest / "pledge.yaml")
    db = dest / "platform.db"
    create_platform(example, f"sqlite:///{db}", users=users, progress=False)
    if files:
        from pledge.blobs.opened import BlobStores
        from pledge.datamap.load import load_dataset
        from pledge.platforms.blobfiles import targets_for, write_blobs

        dataset = load_dataset(dest / "dataset.yaml")
        stores = BlobStores(dataset, dest, env={})  # the folders the example ships with
        write_blobs(example, f"sqlite:///{db}", targets_for(dataset, {n: stores.get(n) for n in stores.names()}))
    return cfg


def make_engine(cfg: Path, clock: Clock, port: int, **settings: Any) -> Engine:
    s = Settings(environment="test", smtp_port=port, smtp_host="127.0.0.1", **settings)
    return Engine(load_config(cfg, s), s, clock=clock)


def some_users(cfg: Path, n: int = 2, where: str = "1=1") -> list[dict[str, Any]]:
    eng = create_engine(f"sqlite:///{cfg.parent / 'platform.db'}")
    with eng.connect() as conn:
        rows = conn.execute(text(f"SELECT id, email FROM users WHERE {where} ORDER BY id LIMIT {n}")).all()
    eng.dispose()
    return [dict(r._mapping) for r in rows]


@contextmanager
def smtp_sink() -> Iterator[DevMail]:
    sink = DevMail(host="127.0.0.1", port=0)
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


def mails_to(sink: DevMail, address: str) -> list[Message]:
    return [message_from_bytes(m.raw) for m in sink.messages() if address.lower() in
            [a.lower() for a in m.recipients]]


def code_from(sink: DevMail, address: str) -> str:
    import re

    for msg in reversed(mails_to(sink, address)):
        body = msg.get_payload(decode=True)
        assert isinstance(body, bytes)
        m = re.search(r"^\s{4}([0-9A-Z]{4}-[0-9A-Z]{4})\s*$", body.decode(), re.M)
        if m:
            return m.group(1)
    raise AssertionError(f"no code mailed to {address}")


START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
__all__ = ["START", "Clock", "code_from", "deployment", "mails_to", "make_engine", "select", "smtp_sink",
           "some_users"]


# -- fixtures the request test modules share (a plugin of tests/conftest.py; each module gives its own ``cfg``)
@pytest.fixture(scope="module")
def sink() -> Iterator[DevMail]:
    """A real SMTP sink for the module."""
    with smtp_sink() as s:
        yield s


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def engine(cfg: Path, sink: DevMail, tmp_path: Path, clock: Clock) -> Iterator[Engine]:
    """An engine on the module's ``cfg`` with a store of its own, mail to ``sink``."""
    eng = make_engine(cfg, clock, sink.port, database_url=f"sqlite:///{tmp_path / 'store.db'}")
    yield eng
    eng.close()


def crash_before_completing(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make a completing transaction fail after the run's steps (its move to a final state
    raises: a crash between the run and its commit); returns the real method, to put back."""
    from pledge.rights.requests import RequestService

    real_move = RequestService._audit_move

    def failing_move(self: RequestService, conn: Any, row: Any, new: str, **kw: Any) -> Any:
        if new in ("completed", "partially_completed"):
            raise RuntimeError("crash between the run and its completion")
        return real_move(self, conn, row, new, **kw)

    monkeypatch.setattr(RequestService, "_audit_move", failing_move)
    return real_move
