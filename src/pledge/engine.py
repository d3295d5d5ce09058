"""The Engine: built once from settings and a config, passed to every interface.

It holds the policy, the data map, connections to the platform's databases, and
Pledge's own store. Nothing here is a module-level global; tests build as many
engines as they like.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

from sqlalchemy.engine import Engine as SAEngine

from pledge.audit import AuditLog
from pledge.datamap.load import load_dataset
from pledge.datamap.model import Dataset
from pledge.policy.load import load_policy
from pledge.policy.model import Policy
from pledge.retention.ledger import ErasureLedger
from pledge.settings import Config, Settings, absolute_sqlite_url, load_config
from pledge.store import Store, make_sa_engine


def utcnow() -> datetime:
    return datetime.now(UTC)


class Engine:
    def __init__(self, config: Config, settings: Settings | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.config = config
        self.settings = settings or Settings()
        self.settings.check_secrets()
        self._clock = clock or utcnow
        self._platform_engines: dict[str, SAEngine] = {}

    @classmethod
    def from_config_file(cls, path: str | Path, settings: Settings | None = None,
                         clock: Callable[[], datetime] | None = None) -> Engine:
        settings = settings or Settings()
        return cls(load_config(path, settings), settings, clock)

    # -- time ---------------------------------------------------------------------------
    def now(self) -> datetime:
        """The engine's clock (``--now`` and tests move it)."""
        return self._clock()

    def set_clock(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock

    # -- the promises and the map ---------------------------------------------------------
    @cached_property
    def policy(self) -> Policy:
        return load_policy(self.config.policy)

    @cached_property
    def dataset(self) -> Dataset:
        return load_dataset(self.config.dataset)

    # -- Pledge's own state -------------------------------------------------------------
    @cached_property
    def store(self) -> Store:
        return Store(self.config.store_url)

    @cached_property
    def audit(self) -> AuditLog:
        return AuditLog(self.store, self.now)

    @cached_property
    def ledger(self) -> ErasureLedger:
        return ErasureLedger(self.store, self.settings.secret_key, self.now)

    # -- the platform's databases -------------------------------------------------------
    def database_url(self, name: str) -> str:
        """A dataset database's URL: its own (``$env:VAR`` allowed) or the config's."""
        url = self.dataset.database(name).url
        if url is None:
            return self.config.platform_url
        if url.startswith("$env:"):
            var = url[5:]
            value = os.environ.get(var)
            if not value:
                raise RuntimeError(f"database {name!r}: environment variable {var} is not set")
            url = value
        return absolute_sqlite_url(url, self.config.base_dir)

    def platform_engine(self, name: str) -> SAEngine:
        """SQLAlchemy engine for one platform database (FKs enforced on SQLite)."""
        if name not in self._platform_engines:
            self._platform_engines[name] = make_sa_engine(self.database_url(name))
        return self._platform_engines[name]

    def close(self) -> None:
        for eng in self._platform_engines.values():
            eng.dispose()
        self._platform_engines.clear()
        if "store" in self.__dict__:
            self.store.dispose()
