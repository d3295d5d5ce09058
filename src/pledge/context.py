"""What the parts of Pledge see of the built application: a typed interface, not the root.

:mod:`pledge.engine` is the composition root. It alone decides how the application is
built (which store, which keys, which job runner, which clock) and constructs each service
with the collaborators it uses. Everything else depends on this Protocol, never on the
root: ``tests/test_boundaries.py`` checks that no module imports :mod:`pledge.engine`
except the entry points that start a process (the CLI, the ASGI factory, the Celery
worker, the demo).

Services whose needs are small are built with exactly those collaborators
(:class:`pledge.admins.AdminService` gets a store, an audit log, keys and a clock). The
request pipeline, retention and the proofs drive the whole data plane, and take a
``Context``; they read from it and never assign to it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine as SAEngine

    from pledge.admins import AdminService
    from pledge.audit import AuditLog
    from pledge.blobs.opened import BlobStores
    from pledge.breach.register import BreachRegister
    from pledge.connectors.base import Connectors
    from pledge.consent.decisions import Decision, DecisionService
    from pledge.consent.ledger import ConsentLedger
    from pledge.datamap.model import Dataset
    from pledge.devmail import DevMail
    from pledge.keys import Keyring
    from pledge.outbox import Outbox
    from pledge.policy.model import Policy
    from pledge.ratelimit import RateLimits
    from pledge.retention.ledger import ErasureLedger
    from pledge.rights.requests import RequestService
    from pledge.settings import Config, Settings
    from pledge.store import Store
    from pledge.tasks import JobRunner

#: A clock: the wall clock in production, a fixed or moving one under ``--now`` and in tests.
Clock = Callable[[], datetime]


class Context(Protocol):
    """The built application as its parts use it (implemented by :class:`pledge.engine.Engine`)."""

    @property
    def config(self) -> Config: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def devmail(self) -> DevMail | None: ...
    @property
    def auto_upgrade(self) -> bool: ...

    def now(self) -> datetime: ...
    def started(self, part: str) -> bool: ...

    @property
    def keys(self) -> Keyring: ...
    @property
    def state_dir(self) -> Path: ...
    @property
    def policy(self) -> Policy: ...
    @property
    def dataset(self) -> Dataset: ...
    @property
    def store(self) -> Store: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def ledger(self) -> ErasureLedger: ...
    @property
    def consent(self) -> ConsentLedger: ...
    @property
    def decisions(self) -> DecisionService: ...

    def may(self, person: str, purpose: str, gpc: bool | None = None) -> Decision: ...

    @property
    def limits(self) -> RateLimits: ...
    @property
    def requests(self) -> RequestService: ...
    @property
    def admins(self) -> AdminService: ...
    @property
    def breaches(self) -> BreachRegister: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def jobs(self) -> JobRunner: ...

    def database_url(self, name: str) -> str: ...
    def platform_engine(self, name: str) -> SAEngine: ...

    @property
    def connectors(self) -> Connectors: ...
    @property
    def blobs(self) -> BlobStores: ...

    def close(self) -> None: ...
