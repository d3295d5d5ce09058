"""The three example platforms: their schemas, generators and login paths.

``create_platform(name, url, users)`` builds one on SQLite, PostgreSQL or MariaDB from
nothing: it creates the schema in an empty database and fills it with deterministic,
seeded fake data whose timestamps spread over the six years before ``reference``. With
``boundary=now`` it adds a small deterministic set of rows just inside and just outside
every retention clock of the example's seed, for a sweep at ``now``
(``<platform>.boundary_rows``; retention tests sweep at that moment).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from sqlalchemy import Connection, MetaData

from pledge.platforms import omni_one, onestepai, onetagger
from pledge.platforms.bulk import Loader, PlatformError, Run, open_engine

REFERENCE = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Platform:
    name: str
    description: str
    module: ModuleType
    #: The table of people who sign in (it has ``last_login_at``) ...
    users_table: str
    #: ... and the table each sign-in writes a row to (user column, time column).
    sessions_table: str
    session_user_column: str

    @property
    def metadata(self) -> MetaData:
        meta: MetaData = self.module.metadata
        return meta

    @property
    def generate(self) -> Callable[[Loader, int, int, Run], None]:
        fn: Callable[[Loader, int, int, Run], None] = self.module.generate
        return fn

    @property
    def boundary_rows(self) -> Callable[[Loader, datetime], None]:
        fn: Callable[[Loader, datetime], None] = self.module.boundary_rows
        return fn

    def record_login(self, conn: Connection, user_id: int, at: datetime, **kw: Any) -> None:
        """Sign a user in: move ``last_login_at`` and write a session or log row."""
        self.module.record_login(conn, user_id, at, **kw)


PLATFORMS: dict[str, Platform] = {
    "omni-one": Platform("omni-one", "AI chat with team workspaces, projects, personas and files",
                         omni_one, "users", "login_sessions", "user_id"),
    "onetagger": Platform("onetagger", "hosted server-side tagging: accounts, billing, support, newsletter",
                          onetagger, "accounts", "web_logs", "account_id"),
    "onestepai": Platform("onestepai", "image and face recognition with organisations, an API and face tags",
                          onestepai, "users", "api_access_log", "user_id"),
}

__all__ = ["PLATFORMS", "REFERENCE", "Platform", "PlatformError", "create_platform", "get_platform",
           "record_login", "schema"]


def get_platform(name: str) -> Platform:
    key = name.strip().lower().replace("_", "-")
    if key not in PLATFORMS:
        raise PlatformError(f"unknown platform {name!r}; choose one of: {', '.join(PLATFORMS)}")
    return PLATFORMS[key]


def schema(name: str) -> MetaData:
    """The SQLAlchemy Core schema of a platform."""
    return get_platform(name).metadata


def record_login(name: str, conn: Connection, user_id: int, at: datetime, **kw: Any) -> None:
    get_platform(name).record_login(conn, user_id, at, **kw)


def create_platform(name: str, url: str, users: int, *, seed: int = 0, reference: datetime = REFERENCE,
                    progress: bool = True, boundary: datetime | None = None) -> dict[str, int]:
    """Create ``name``'s schema in the empty database at ``url`` and fill it.

    ``boundary``: also add the platform's boundary rows for a retention sweep at that
    moment (rows a day and an hour either side of every cutoff; the bulk rows are the
    same with or without them). Returns the number of rows written to each table. Raises :class:`PlatformError` for
    an unknown platform, a bad user count, or a database that already has tables.
    """
    platform = get_platform(name)
    if users < 1:
        raise PlatformError(f"--users must be at least 1, not {users}")
    if reference.tzinfo is None:
        reference = reference.replace(tzinfo=UTC)
    engine = open_engine(url)
    try:
        loader = Loader(engine, platform.metadata, reference)
        loader.ensure_empty()
        with Run(users, progress) as run, loader.session():
            platform.generate(loader, users, seed, run)
            if boundary is not None:
                platform.boundary_rows(loader, boundary if boundary.tzinfo else boundary.replace(tzinfo=UTC))
        run.report(platform.name, loader.counts)
        return dict(loader.counts)
    finally:
        engine.dispose()
