"""Pledge's own state: requests, consent, holds, the erasure ledger, audit, admin users.

The store is a SQLAlchemy engine plus Alembic migrations, one branch per feature off
``0001_core``. Migrations run once, under a lock that one process holds at a time
(:meth:`Store.upgrade`): ``pg_advisory_lock`` on PostgreSQL, ``GET_LOCK`` on MariaDB and a
lock file next to the database on SQLite. ``Store(url)`` upgrades on construction (the
library, the demo, tests); ``Store(url, auto_upgrade=False)`` leaves the schema alone, and
:meth:`Store.check_current` says when it is behind (the Engine does that in production, so
servers and workers refuse to start on an old schema; ``pledge db upgrade`` upgrades it).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, exc, text
from sqlalchemy.engine import Engine as SAEngine

from pledge.autocommit import reading, single_statement
from pledge.direct import Direct
from pledge.errors import Unavailable
from pledge.extras import create_engine

MIGRATIONS = Path(__file__).parent / "migrations"
#: For the ``alembic`` command line: ``alembic -c <this> -x url=URL upgrade heads``.
ALEMBIC_INI = MIGRATIONS / "alembic.ini"

#: The PostgreSQL advisory-lock key that serialises migrations ("PLDG" in ASCII); advisory
#: locks are per database, so deployments sharing a server do not wait for each other.
PG_LOCK_KEY = 0x504C4447
#: The MariaDB/MySQL named lock; the database name is appended (named locks are server-wide).
MARIADB_LOCK = "pledge_migrate"
#: How long an upgrade waits for another process's migration before giving up.
LOCK_TIMEOUT_S = 600.0
UPGRADE_COMMAND = "pledge db upgrade -c CONFIG"

#: A pooled connection idle longer than this is pinged before use; one used more recently
#: is known to have worked a moment ago. (Pinging every checkout cost a round trip each,
#: about 20 per data-subject request.)
PING_AFTER_IDLE_S = 5.0
#: Pooled connections are replaced after this long, ahead of server or firewall timeouts.
RECYCLE_S = 1800

log = logging.getLogger(__name__)


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
        path = _sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        eng = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(eng, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            _use_wal(cur)
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return eng
    eng = create_engine(url, pool_recycle=RECYCLE_S)
    _ping_when_idle(eng)
    return eng


#: How long a new connection keeps trying to turn a fresh SQLite file to WAL.
WAL_SWITCH_S = 30.0


def _use_wal(cur: Any) -> None:
    """Put the SQLite file in WAL mode, waiting for other processes that hold it.

    WAL is a property of the file, so once one connection has switched it there is nothing
    to do. The switch needs the file to itself and SQLite does not run the busy handler for
    it: processes opening a fresh store together got "database is locked" at once. So the
    mode is read first, and the switch is retried until it holds or :data:`WAL_SWITCH_S` passes."""
    deadline = time.monotonic() + WAL_SWITCH_S
    delay = 0.01
    while True:
        if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
            return
        try:
            mode = cur.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            mode = None
        if mode is not None:
            return  # switched, or a mode the file keeps (an in-memory database has no WAL)
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


def _sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL; None for an in-memory database."""
    path = url.split("///", 1)[-1] if "///" in url else ""
    path = path.split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def alembic_config(connection: Connection | None = None, url: str | None = None) -> AlembicConfig:
    """Alembic's config for Pledge's migrations: on a connection, or (offline) for a URL."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    if url is not None:
        cfg.attributes["url"] = url
    return cfg


@lru_cache(maxsize=1)
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def schema_heads() -> tuple[str, ...]:
    """The revisions a current store is at: the head of every feature branch."""
    return tuple(sorted(_script().get_heads()))


def known_revisions() -> frozenset[str]:
    return frozenset(s.revision for s in _script().walk_revisions())


class SchemaOutOfDate(Unavailable):
    """The store's schema is not the one this Pledge needs (behind, or from a newer Pledge)."""

    def __init__(self, current: tuple[str, ...], needed: tuple[str, ...]) -> None:
        self.current = current
        self.needed = needed
        self.missing = tuple(r for r in needed if r not in current)
        self.unknown = tuple(r for r in current if r not in known_revisions())
        super().__init__(self.explain())

    def explain(self, upgrade_command: str = UPGRADE_COMMAND) -> str:
        if not self.current:
            return (f"the store's schema is empty (no Pledge tables yet), this Pledge needs "
                    f"{len(self.needed)} feature heads ({', '.join(self.needed)}): run `{upgrade_command}`")
        at = ", ".join(self.current)
        if self.unknown:
            return (f"the store's schema is at {at}, which includes revisions this Pledge does not know "
                    f"({', '.join(self.unknown)}): a newer Pledge upgraded it; run that version")
        return (f"the store's schema is at {at}, this Pledge needs {', '.join(self.missing)}: "
                f"run `{upgrade_command}`")


class MigrationLockTimeout(Unavailable):
    """Another process held the migration lock for longer than the timeout."""


@contextmanager
def migration_lock(conn: Connection, timeout: float = LOCK_TIMEOUT_S,
                   on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the store's migration lock on ``conn`` (one process per database at a time).

    Session locks, so they survive the commits (and MariaDB's implicit DDL commits) of the
    migrations run on the same connection. ``on_wait`` is called once if the lock is busy."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        with _file_lock(conn, timeout, on_wait):
            yield
        return
    if dialect == "postgresql":
        take = text("SELECT pg_try_advisory_lock(:key)").bindparams(key=PG_LOCK_KEY)
        give = text("SELECT pg_advisory_unlock(:key)").bindparams(key=PG_LOCK_KEY)
        _poll(conn, take, timeout, on_wait)
    elif dialect in ("mysql", "mariadb"):
        name = f"LEFT(CONCAT('{MARIADB_LOCK}.', DATABASE()), 64)"
        if not conn.execute(text(f"SELECT GET_LOCK({name}, 0)")).scalar():
            if on_wait is not None:
                on_wait()
            if conn.execute(text(f"SELECT GET_LOCK({name}, :t)"), {"t": max(1, int(timeout))}).scalar() != 1:
                conn.rollback()
                raise MigrationLockTimeout(f"another process held the migration lock ({MARIADB_LOCK}) "
                                           f"for more than {timeout:.0f} s")
        give = text(f"SELECT RELEASE_LOCK({name})")
    else:  # pragma: no cover - Pledge supports the three above
        raise RuntimeError(f"no migration lock for the {dialect} dialect")
    conn.commit()  # end the lock query's transaction; the session lock stays
    try:
        yield
    finally:
        try:
            if conn.in_transaction():
                conn.rollback()
            conn.execute(give)
            conn.commit()
        except exc.DBAPIError:  # a broken connection: closing its session releases the lock
            conn.invalidate()


def _poll(conn: Connection, take: Any, timeout: float, on_wait: Callable[[], None] | None) -> None:
    deadline = time.monotonic() + timeout
    waited = False
    while not conn.execute(take).scalar():
        conn.rollback()
        if not waited and on_wait is not None:
            on_wait()
        waited = True
        if time.monotonic() > deadline:
            raise MigrationLockTimeout(f"another process held the migration lock for more than {timeout:.0f} s")
        time.sleep(0.1)


@contextmanager
def _file_lock(conn: Connection, timeout: float, on_wait: Callable[[], None] | None) -> Iterator[None]:
    path = _sqlite_path(str(conn.engine.url))
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: SQLite's own locking must do
        path = None
    if path is None:
        yield
        return
    with open(path.with_name(path.name + ".migrate-lock"), "a+b") as fh:
        deadline = time.monotonic() + timeout
        waited = False
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited and on_wait is not None:
                    on_wait()
                waited = True
                if time.monotonic() > deadline:
                    raise MigrationLockTimeout(f"another process held {fh.name} for more than {timeout:.0f} s") \
                        from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _current(conn: Connection) -> tuple[str, ...]:
    return tuple(sorted(MigrationContext.configure(conn).get_current_heads()))


class Store:
    """Pledge's own database. Built once per Engine.

    With ``auto_upgrade`` (the default) a store that is behind is upgraded now, under the
    migration lock; without it, nothing touches the schema until :meth:`upgrade`."""

    def __init__(self, url: str, *, auto_upgrade: bool = True) -> None:
        self.url = url
        self.engine = make_sa_engine(url)
        self._direct = Direct(self.engine.dialect)
        if auto_upgrade:
            self.ensure_current()

    # -- the schema -----------------------------------------------------------------------
    def current_heads(self) -> tuple[str, ...]:
        """The revisions in the store's ``alembic_version`` table (none for an empty store)."""
        with self.engine.connect() as conn:
            return _current(conn)

    @staticmethod
    def heads() -> tuple[str, ...]:
        """The revisions this Pledge needs: the head of every feature branch."""
        return schema_heads()

    def is_current(self) -> bool:
        return self.current_heads() == schema_heads()

    def check_current(self) -> None:
        """Raise :class:`SchemaOutOfDate`, saying what to run, unless the schema is current."""
        current = self.current_heads()
        if current != schema_heads():
            raise SchemaOutOfDate(current, schema_heads())

    def upgrade(self, *, timeout: float = LOCK_TIMEOUT_S,
                on_wait: Callable[[], None] | None = None) -> list[str]:
        """Bring the schema to the newest revision of every feature branch, once.

        Holds the migration lock while it looks and migrates, so processes starting together
        run the migrations exactly once: one migrates, the others wait and find nothing to
        do. Returns the revisions this call applied (``[]`` when the store was current)."""
        applied: list[str] = []
        with self.engine.connect() as conn, migration_lock(conn, timeout, on_wait), conn.begin():
            current = _current(conn)
            if current == schema_heads():
                return []
            unknown = [r for r in current if r not in known_revisions()]
            if unknown:
                raise SchemaOutOfDate(current, schema_heads())
            cfg = alembic_config(conn)
            cfg.attributes["applied"] = applied
            command.upgrade(cfg, "heads")
        if applied:
            log.info("store %s: applied %s", self.engine.url.render_as_string(hide_password=True),
                     ", ".join(applied))
        return applied

    def ensure_current(self) -> list[str]:
        """Upgrade only when behind (one quick look when current, no lock taken)."""
        return [] if self.is_current() else self.upgrade()

    def migrate(self) -> None:
        """Same as :meth:`upgrade` (the name older code calls)."""
        self.upgrade()

    # -- connections ----------------------------------------------------------------------
    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def connect(self) -> Connection:
        return self.engine.connect()

    def read(self) -> AbstractContextManager[Connection]:
        """A connection for reads only, outside any transaction where that changes nothing
        they see (:func:`pledge.autocommit.reading`). Never write through it."""
        return reading(self.engine)

    def single(self) -> AbstractContextManager[Connection]:
        """A connection for one write statement that is its own transaction
        (:func:`pledge.autocommit.single_statement`)."""
        return single_statement(self.engine)

    def run(self, conn: Connection, stmt: Any, params: dict[str, Any] | None = None) -> Any:
        """``conn.execute(stmt, params)`` for a statement built once (a module constant, or one
        a cached builder keeps): on PostgreSQL through psycopg directly, without SQLAlchemy's
        per-execution work (:mod:`pledge.direct`, #19); the result has the methods callers use."""
        return self._direct.execute(conn, stmt, params)

    def dispose(self) -> None:
        self.engine.dispose()


def offline_sql(url: str, out: Any = None) -> None:
    """Write the SQL of every migration, from an empty database, for ``url``'s dialect,
    without connecting (Alembic's offline mode): for a DBA to review and run."""
    cfg = alembic_config(url=url)
    if out is not None:
        cfg.output_buffer = out
    command.upgrade(cfg, "heads", sql=True)
