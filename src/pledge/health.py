"""Readiness: can this process do its work now? Store, platform databases, broker, schema.

:class:`Readiness` runs its checks side by side, each on its own thread with a time limit
(``timeout``, 2 s; daemon threads, so a hung driver never holds the exit): a database that hangs makes its check fail as ``timeout`` instead of
holding the probe. A check still hanging from an earlier probe is not started again (it
fails as ``timeout`` until it returns), so a dead server never piles up threads. The
outcome is kept for ``cache`` seconds (1 s), so probes from several balancers cost one
round of checks.

Checks, each named in the answer:

- ``store``: Pledge's store answers, and its schema is the one this Pledge needs (one
  query: the Alembic heads);
- ``database:<name>``: each database of the data map answers ``SELECT 1``;
- ``broker``: with ``PLEDGE_BROKER_URL``, a connection to the broker opens.

A failure is named by the check and the kind of error (``OperationalError``,
``timeout``, ``schema behind``), never by its message: messages can carry host names and
URLs. The pooled connections heal by themselves: a connection the server dropped fails
its query, SQLAlchemy discards the pool's connections of that age, and the next probe
opens new ones.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from pledge.context import Context

__all__ = ["Check", "Readiness", "ReadinessReport", "broker_connection", "queue_depth"]

log = logging.getLogger("pledge.health")
TIMEOUT_S = 2.0
CACHE_S = 1.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    #: "ok", or what failed: an error's class name, "timeout", "schema behind"
    detail: str
    seconds: float


@dataclass(frozen=True)
class ReadinessReport:
    ready: bool
    checks: tuple[Check, ...]

    @property
    def failing(self) -> list[str]:
        return [c.name for c in self.checks if not c.ok]

    def as_dict(self) -> dict[str, Any]:
        return {"status": "ready" if self.ready else "unready",
                "checks": {c.name: c.detail for c in self.checks},
                **({"failing": self.failing} if not self.ready else {})}


def broker_connection(url: str, timeout: float = TIMEOUT_S) -> Any:
    """An open kombu connection to the broker (close it), or the error of opening one."""
    from pledge.extras import missing_extra

    try:
        kombu: Any = importlib.import_module("kombu")
    except ModuleNotFoundError as exc:
        raise (missing_extra(exc, "the broker check (PLEDGE_BROKER_URL)") or exc) from exc
    conn = kombu.Connection(url, connect_timeout=timeout)
    try:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
    except BaseException:
        conn.release()
        raise
    return conn


def queue_depth(url: str, queue: str, timeout: float = TIMEOUT_S) -> int:
    """Messages waiting in a broker queue (Redis or RabbitMQ); 0 when it does not exist yet."""
    conn = broker_connection(url, timeout)
    try:
        try:
            declared = conn.default_channel.queue_declare(queue=queue, passive=True)
        except Exception as exc:  # kombu: ChannelError/NotFound (404) for a queue never declared
            if "404" in str(exc) or "NOT_FOUND" in str(exc):
                return 0
            raise
        return int(declared.message_count)
    finally:
        conn.release()


class Readiness:
    """The readiness checks of one engine, cached for ``cache`` seconds."""

    def __init__(self, engine: Context, *, timeout: float = TIMEOUT_S, cache: float = CACHE_S) -> None:
        self.engine = engine
        self.timeout = timeout
        self.cache = cache
        self._lock = threading.Lock()
        self._last: tuple[float, ReadinessReport] | None = None
        self._running: dict[str, _Attempt] = {}

    # -- the checks -------------------------------------------------------------------------
    def checks(self) -> dict[str, Callable[[], None]]:
        """Check name → a function that raises when the part is not ready."""
        out: dict[str, Callable[[], None]] = {"store": self._store}
        try:
            names = [d.name for d in self.engine.dataset.databases]
        except Exception:  # the data map itself cannot be read: say so as a check
            names = []
            out["datamap"] = self._datamap
        for name in names:
            out[f"database:{name}"] = self._database(name)
        url = self.engine.settings.broker_url
        if url:
            out["broker"] = lambda: broker_connection(url, self.timeout).release()
        return out

    def _store(self) -> None:
        try:
            current = self.engine.store.is_current()  # one query: the store answers, at which heads
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            current = self.engine.store.is_current()  # a pooled connection the server had dropped
        if not current:
            raise _NotReady("schema behind")

    def _datamap(self) -> None:
        self.engine.dataset  # noqa: B018 - raises what is wrong with it

    def _database(self, name: str) -> Callable[[], None]:
        def check() -> None:
            self.engine.connectors.get(name).ping()
        return check

    # -- running them ---------------------------------------------------------------------------
    def report(self) -> ReadinessReport:
        """The checks' outcome: cached when younger than ``cache`` seconds."""
        with self._lock:
            now = time.monotonic()
            if self._last is not None and now - self._last[0] < self.cache:
                return self._last[1]
            report = self._run()
            self._last = (time.monotonic(), report)
        if not report.ready:
            log.warning("not ready: %s", ", ".join(f"{c.name} ({c.detail})" for c in report.checks if not c.ok),
                        extra={"event": "readiness.failed", "failing": report.failing})
        return report

    def _run(self) -> ReadinessReport:
        deadline = time.monotonic() + self.timeout
        started: dict[str, _Attempt | None] = {}
        for name, fn in self.checks().items():
            running = self._running.get(name)
            if running is not None and running.thread.is_alive():
                started[name] = None  # still stuck from an earlier probe: not started twice
                continue
            self._running[name] = started[name] = _Attempt(fn, name)
        results = []
        for name, attempt in started.items():
            if attempt is None:
                results.append(Check(name, False, "timeout", 0.0))
                continue
            attempt.thread.join(max(0.0, deadline - time.monotonic()))
            results.append(attempt.outcome())
        return ReadinessReport(all(c.ok for c in results), tuple(results))


class _Attempt:
    """One check running on its own daemon thread (a hung driver never blocks the exit)."""

    def __init__(self, fn: Callable[[], None], name: str) -> None:
        self.name = name
        self.began = time.monotonic()
        self.error: BaseException | None = None
        self.ended: float | None = None
        self.thread = threading.Thread(target=self._run, args=(fn,), name=f"pledge-ready-{name}", daemon=True)
        self.thread.start()

    def _run(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except BaseException as exc:
            self.error = exc
        finally:
            self.ended = time.monotonic()

    def outcome(self) -> Check:
        if self.ended is None:
            return Check(self.name, False, "timeout", round(time.monotonic() - self.began, 4))
        took = round(self.ended - self.began, 4)
        if self.error is None:
            return Check(self.name, True, "ok", took)
        detail = str(self.error) if isinstance(self.error, _NotReady) else type(self.error).__name__
        return Check(self.name, False, detail, took)


class _NotReady(Exception):
    """A check that ran and found the part not ready (its message is safe to show)."""
