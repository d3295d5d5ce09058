"""Real services for tests: a fresh database per test on PostgreSQL and MariaDB.

Under CI=true a service that cannot be reached fails the test; on a laptop without
it, the test skips and says why. Nothing here mocks a database.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRES_URL = os.environ.get("PLEDGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("PLEDGE_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("PLEDGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("PLEDGE_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(service: str, host: str, port: int) -> None:
    """Skip (or fail under CI) when a service port does not answer."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return
    except OSError as exc:
        msg = f"{service} is not reachable at {host}:{port} ({exc})"
        if in_ci():
            pytest.fail(f"{msg}; CI needs it (.ci/run starts it)")
        pytest.skip(msg)


@contextmanager
def fresh_database(kind: str) -> Iterator[str]:
    """Create a throwaway database on the real server, yield its URL, drop it."""
    base = make_url(POSTGRES_URL if kind == "postgresql" else MARIADB_URL)
    require(kind, base.host or "127.0.0.1", base.port or (5432 if kind == "postgresql" else 3306))
    name = f"pledge_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            if kind == "postgresql":
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@contextmanager
def database_url(kind: str, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A URL for a fresh, empty database of ``kind``: sqlite, postgresql or mariadb."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / f'platform-{uuid.uuid4().hex[:6]}.db'}"
    else:
        with fresh_database(kind) as url:
            yield url


class DeadRelay:
    """A real TCP server on loopback standing in for a mail relay that is down: it accepts
    every connection and never says a word (``hang``), or hangs up at once. It counts the
    connections (``accepted``) and notes when each came (``times``, monotonic)."""

    def __init__(self, *, hang: bool = True) -> None:
        self.hang = hang
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.held: list[socket.socket] = []
        self.times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def accepted(self) -> int:
        return len(self.times)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.times.append(time.monotonic())
            if self.hang:
                self.held.append(conn)  # and never a byte back
            else:
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()
        for conn in self.held:
            conn.close()
