"""Pledge's own state: requests, consent, holds, the erasure ledger, audit, admin users.

The store is a SQLAlchemy engine plus Alembic migrations, applied on start.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, create_engine, event, exc
from sqlalchemy.engine import Engine as SAEngine

MIGRATIONS = Path(__file__).parent / "migrations"

#: A pooled connection idle longer than this is pinged before use; one used more recently
#: is known to have worked a moment ago. (Pinging every checkout cost a round trip each,
#: about 20 per data-subject request.)
PING_AFTER_IDLE_S = 5.0
#: Pooled connections are replaced after this long, ahead of server or firewall timeouts.
RECYCLE_S = 1800


def _ping_when_idle(eng: SAEngine) -> None:
    """Pessimistic disconnect handling, only for connections that sat idle in the pool.

    A failed ping raises ``DisconnectionError``: the pool discards that connection and
    checks out (or opens) another, as ``pool_pre_ping`` would.
    """

    @event.listens_for(eng, "checkin")
    def _idle_from(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info["pledge_idle_since"] = time.monotonic()

    @event.listens_for(eng, "checkout")
    def _ping(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("pledge_idle_since", None)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return  # freshly opened, or returned to the pool a moment ago
        try:
            eng.dialect.do_ping(dbapi_conn)
        except eng.dialect.loaded_dbapi.Error as err:
            raise exc.DisconnectionError(f"pooled connection failed its ping: {err}") from err


def make_sa_engine(url: str) -> SAEngine:
    """A SQLAlchemy engine with the settings Pledge wants on each backend."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        eng = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(eng, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return eng
    eng = create_engine(url, pool_recycle=RECYCLE_S)
    _ping_when_idle(eng)
    return eng


def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


class Store:
    """Pledge's own database. Built once per Engine."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine = make_sa_engine(url)
        if migrate:
            self.migrate()

    def migrate(self) -> None:
        """Bring the schema to the newest revision of every feature branch."""
        with self.engine.begin() as conn:
            command.upgrade(alembic_config(conn), "heads")

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def connect(self) -> Connection:
        return self.engine.connect()

    def dispose(self) -> None:
        self.engine.dispose()
