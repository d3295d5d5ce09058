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
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine as SAEngine

from pledge.audit import AuditLog
from pledge.connectors.base import Connectors
from pledge.connectors.sql import SqlConnector
from pledge.datamap.load import load_dataset
from pledge.datamap.model import Dataset
from pledge.keys import Keyring, load_keyring
from pledge.policy.load import load_policy
from pledge.policy.model import Policy
from pledge.retention.ledger import ErasureLedger
from pledge.settings import Config, Settings, absolute_sqlite_url, load_config
from pledge.store import SchemaOutOfDate, Store, make_sa_engine

if TYPE_CHECKING:
    from pledge.admins import AdminService
    from pledge.blobs.opened import BlobStores
    from pledge.breach.register import BreachRegister
    from pledge.consent.decisions import Decision, DecisionService
    from pledge.consent.ledger import ConsentLedger
    from pledge.devmail import DevMail
    from pledge.outbox import Outbox
    from pledge.ratelimit import RateLimits
    from pledge.rights.requests import RequestService
    from pledge.tasks import JobRunner


def utcnow() -> datetime:
    return datetime.now(UTC)


#: Builds an engine's job runner (``pledge.jobs.runner_for`` for Celery with a broker).
JobsFactory = Callable[["Engine"], "JobRunner"]


class Engine:
    """``clock`` and ``jobs`` are fixed when the engine is built and never swapped while it
    runs: other threads (the web server's requests) share it. Work that must run "as of"
    another moment takes that moment as an argument (``sweep.run(engine, now)``)."""

    def __init__(self, config: Config, settings: Settings | None = None,
                 clock: Callable[[], datetime] | None = None, jobs: JobsFactory | None = None, *,
                 devmail: DevMail | None = None, auto_upgrade: bool | None = None,
                 send_mail_in_background: bool = False) -> None:
        self.config = config
        self.settings = settings or Settings()
        self._clock = clock or utcnow
        self._jobs_factory = jobs
        self._jobs: JobRunner | None = None
        self._platform_engines: dict[str, SAEngine] = {}
        #: the demo's local SMTP sink (pledge.devmail), shown at /dev/mail; None otherwise
        self.devmail = devmail
        #: Upgrade the store on first use (under the migration lock), or only check it? Outside
        #: production Pledge upgrades its own store; in production `pledge db upgrade` does,
        #: and an engine on an old schema raises SchemaOutOfDate (the demo passes True).
        self.auto_upgrade = self.settings.environment != "production" if auto_upgrade is None else auto_upgrade
        #: a worker's outbox starts its sender thread on the first queued message
        self.send_mail_in_background = send_mail_in_background

    @classmethod
    def from_config_file(cls, path: str | Path, settings: Settings | None = None,
                         clock: Callable[[], datetime] | None = None, jobs: JobsFactory | None = None,
                         **options: Any) -> Engine:
        settings = settings or Settings()
        return cls(load_config(path, settings), settings, clock, jobs, **options)

    # -- time ---------------------------------------------------------------------------
    def now(self) -> datetime:
        """The engine's clock: the wall clock, or the one it was built with (``--now``, tests)."""
        return self._clock()

    def started(self, part: str) -> bool:
        """Whether a part built on first use (``outbox``, ``store``…) has been built yet."""
        return part in self.__dict__

    # -- keys (pledge.keys): from the environment or the deployment's key file ------------
    @cached_property
    def keys(self) -> Keyring:
        """Raises :class:`pledge.keys.KeysMissing` (with how to make them) when there are none."""
        return load_keyring(self.settings, self.state_dir)

    @property
    def state_dir(self) -> Path:
        """The deployment's own folder for Pledge state: ``<config dir>/.pledge``."""
        return self.config.base_dir / ".pledge"

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
        """Pledge's store, current: upgraded now when ``auto_upgrade``, else checked
        (:class:`pledge.store.SchemaOutOfDate` says what to run when it is behind)."""
        store = Store(self.config.store_url, auto_upgrade=self.auto_upgrade)
        if not self.auto_upgrade:
            try:
                store.check_current()
            except SchemaOutOfDate:
                store.dispose()
                raise
        return store

    @cached_property
    def audit(self) -> AuditLog:
        return AuditLog(self.store, self.now, keys=self.keys.audit)

    @cached_property
    def ledger(self) -> ErasureLedger:
        return ErasureLedger(self.store, self.keys.subject_secret, self.now, previous=self.keys.subject[1:])

    # -- consent ------------------------------------------------------------------------
    @cached_property
    def consent(self) -> ConsentLedger:
        from pledge.consent.ledger import ConsentLedger

        return ConsentLedger(self.store, self.policy, self.ledger, self.audit,
                             subject_secret=self.keys.subject_secret, clock=self.now,
                             on_change=lambda key: self.decisions.invalidate(key))

    @cached_property
    def decisions(self) -> DecisionService:
        from pledge.consent.decisions import DecisionService
        from pledge.consent.facts import PlatformFacts

        return DecisionService(self.consent, self.store, self.policy, subject_secrets=len(self.ledger.secrets),
                               facts=PlatformFacts(self), clock=self.now)

    def may(self, person: str, purpose: str, gpc: bool | None = None) -> Decision:
        """May ``purpose`` be carried out for this person (by email) now? With the reason."""
        return self.decisions.may(person, purpose, gpc)

    # -- rate limits on what strangers can do (pledge.ratelimit): Redis or the store -------
    @cached_property
    def limits(self) -> RateLimits:
        from pledge.ratelimit import RateLimits

        return RateLimits.for_deployment(self.settings, store_url=self.config.store_url, store=lambda: self.store,
                                         subject_secret=self.keys.subject_secret, clock=self.now)

    # -- data-subject requests and the people who handle them --------------------------------
    @cached_property
    def requests(self) -> RequestService:
        from pledge.rights.requests import RequestService

        return RequestService(self)

    @cached_property
    def admins(self) -> AdminService:
        from pledge.admins import AdminService

        return AdminService(self.store, self.audit, self.keys, self.now, issuer=self.config.name)

    # -- breaches -----------------------------------------------------------------------
    @cached_property
    def breaches(self) -> BreachRegister:
        from functools import partial

        from pledge.breach.affected import find_affected
        from pledge.breach.register import BreachRegister

        return BreachRegister(self.store, self.audit, self.policy, self.dataset, clock=self.now,
                              affected=partial(find_affected, self))

    # -- mail: queued in the store's outbox, sent by a background sender (pledge.outbox) --------
    @cached_property
    def outbox(self) -> Outbox:
        from pledge.outbox import Outbox

        return Outbox(self.store, self.settings, lambda: self.keys, autostart=self.send_mail_in_background)

    # -- work split into tasks (pledge.tasks): in-process unless the engine was built otherwise --
    @property
    def jobs(self) -> JobRunner:
        """Runs task lists: built once, on first use, by the ``jobs`` factory the engine was
        built with (the interfaces pass ``pledge.jobs.runner_for`` when a broker is set), else
        in-process. It cannot be replaced; work that needs another runner takes it as an
        argument (``sweep_fanout(engine, jobs=…)``)."""
        if self._jobs is None:
            from pledge.tasks import InlineJobs

            self._jobs = (self._jobs_factory or InlineJobs)(self)
        return self._jobs

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

    @cached_property
    def connectors(self) -> Connectors:
        """One SQL connector per dataset database (tables reflected once, cached)."""
        return Connectors(lambda name: SqlConnector(self.platform_engine(name), name))

    # -- the platform's files (the data map's ``stores:``) ----------------------------------
    @cached_property
    def blobs(self) -> BlobStores:
        """The data map's blob stores, each opened on first use by the plugin for its URL
        (relative folders beside the data map; ``PLEDGE_BLOBS_<NAME>`` moves one)."""
        from pledge.blobs.opened import BlobStores
        from pledge.datamap.blobs import base_dir_of

        return BlobStores(self.dataset, base_dir_of(self.config.dataset))

    def close(self) -> None:
        if "outbox" in self.__dict__:
            self.outbox.close()  # its sender thread, if one runs
        for eng in self._platform_engines.values():
            eng.dispose()
        self._platform_engines.clear()
        if "store" in self.__dict__:
            self.store.dispose()
