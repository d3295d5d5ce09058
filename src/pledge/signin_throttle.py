"""Throttling of admin sign-ins: growing delays and a lockout, per account and per address.

Every sign-in attempt is counted *before* its password is checked, as a failure, by one
atomic upsert per counter (``INSERT … ON CONFLICT DO UPDATE SET failures = failures + 1``
on SQLite and PostgreSQL, ``… ON DUPLICATE KEY UPDATE`` on MariaDB); a sign-in that
succeeds takes its count back. So parallel attempts are all counted, and no burst of
them gets more password checks than the limits allow.

Two counters: the account (the email as typed, lower-cased, whether or not such a user
exists, so the answer tells nothing about which accounts exist) and the client address.

- After ``free`` failures the next attempt waits ``base × 2^(failures − free)``, at most
  ``max_delay``; an attempt inside that wait is refused without checking anything.
- At ``lock_at`` failures the counter locks for ``lock_for`` (``admin.locked`` in the
  audit log); an owner can lift it early (``pledge admin unlock``).
- A counter with no failure for ``forget_after`` starts again from nothing.
- A successful sign-in clears its account's counter and takes one failure off the
  address's (its wait is lifted).

Time is always passed in (``engine.now()``); nothing here reads a clock.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, and_, delete, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from pledge.store.tables.signin import signin_failures

if TYPE_CHECKING:
    from pledge.audit import AuditLog
    from pledge.store import Store

__all__ = ["ACCOUNT", "ADDRESS", "Attempt", "Limits", "Refusal", "SigninThrottle", "address_key"]

T = TypeVar("T")
NAME_MAX = 320
#: driver error codes that mean "the transaction lost a lock race; run it again"
RETRY_CODES = {"40P01", "40001", 1213, 1205}


@dataclass(frozen=True)
class Limits:
    """How many failures a counter allows, and what follows."""

    free: int
    lock_at: int
    base: timedelta = timedelta(minutes=1)
    max_delay: timedelta = timedelta(hours=1)
    lock_for: timedelta = timedelta(hours=24)
    forget_after: timedelta = timedelta(hours=24)

    def blocked_until(self, failures: int, at: datetime) -> datetime | None:
        """When an attempt may be checked again after ``failures`` failures, the last at ``at``."""
        if failures >= self.lock_at:
            return at + self.lock_for
        if failures >= self.free:
            wait: timedelta = min(self.base * (2 ** (failures - self.free)), self.max_delay)
            return at + wait
        return None

    def locked(self, failures: int) -> bool:
        return failures >= self.lock_at


#: per account: 3 free failures, then 1, 2, 4, 8, 16, 32, 60 minutes; the 10th locks for 24 h
ACCOUNT = Limits(free=3, lock_at=10)
#: per client address: 10 free failures, then 1, 2, 4 … 60 minutes; the 30th locks for 24 h
ADDRESS = Limits(free=10, lock_at=30)


@dataclass(frozen=True)
class Refusal:
    """An attempt refused unchecked: which counter, until when, and whether it is a lockout."""

    scope: str
    until: datetime
    locked: bool

    def seconds(self, now: datetime) -> int:
        return max(1, math.ceil((self.until - now).total_seconds()))

    def minutes(self, now: datetime) -> int:
        return max(1, math.ceil(self.seconds(now) / 60))


@dataclass(frozen=True)
class Attempt:
    """An attempt counted (as a failure until it succeeds), with the counts after it."""

    email: str
    address: str
    failures: dict[str, int] = field(default_factory=dict)


class _Refused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.scope)
        self.refusal = refusal


def address_key(address: str | None) -> str:
    """What an address counts as: itself, or for IPv6 its /64 (one host usually holds the whole /64)."""
    text = (address or "").strip()
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text[:NAME_MAX] or "unknown"
    if ip.version == 6 and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip.ipv4_mapped or ip) if ip.version == 6 else str(ip)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _should_retry(exc: DBAPIError) -> bool:
    orig: Any = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code is None and getattr(orig, "args", None):
        code = orig.args[0]
    return code in RETRY_CODES


class SigninThrottle:
    def __init__(self, store: Store, audit: AuditLog, *, account: Limits = ACCOUNT,
                 address: Limits = ADDRESS) -> None:
        self.store = store
        self.audit = audit
        self.limits = {"account": account, "address": address}

    @staticmethod
    def keys(email: str, address: str) -> list[tuple[str, str]]:
        """The counters an attempt touches, always in this order (so locks never cross)."""
        return [("account", email.strip().lower()[:NAME_MAX]), ("address", address_key(address))]

    # -- before the password is checked ------------------------------------------------------
    def refusal(self, email: str, address: str, now: datetime) -> Refusal | None:
        """A cheap read: is either counter still waiting? (Nothing is written.)"""
        with self.store.connect() as conn:
            return self._blocked(conn, self.keys(email, address), now, lock=False)

    def start(self, email: str, address: str, now: datetime) -> Attempt | Refusal:
        """Count an attempt as failed unless a counter is still waiting; then the password may be checked."""
        found = self.refusal(email, address, now)
        if found is not None:
            return found
        keys = self.keys(email, address)
        try:
            counts = self._retrying(lambda: self._count(keys, now))
        except _Refused as refused:
            return refused.refusal
        return Attempt(keys[0][1], keys[1][1], counts)

    def _count(self, keys: list[tuple[str, str]], now: datetime) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self.store.begin() as conn:
            for scope, name in keys:
                self._increment(conn, scope, name)
            blocked = self._blocked(conn, keys, now, lock=True)
            if blocked is not None:
                raise _Refused(blocked)  # rolls the increments back
            for scope, name in keys:
                row = self._row(conn, scope, name, lock=True)
                limits = self.limits[scope]
                last = _aware(row.last_failed_at) if row is not None else None
                failures = row.failures if row is not None else 1
                if last is not None and now - last >= limits.forget_after:
                    failures = 1
                conn.execute(update(signin_failures).where(self._is(scope, name)).values(
                    failures=failures, last_failed_at=now, blocked_until=limits.blocked_until(failures, now)))
                counts[scope] = failures
        return counts

    # -- after it -------------------------------------------------------------------------------
    def failed(self, attempt: Attempt, *, reason: str = "credentials") -> None:
        """Record the failure in the audit log (the count was taken in :meth:`start`)."""
        def write() -> None:
            with self.store.begin() as conn:
                # a write first: on SQLite it takes the write lock before the audit chain is read
                conn.execute(update(signin_failures).where(self._is("account", attempt.email))
                             .values(failures=signin_failures.c.failures))
                rows = {scope: self._row(conn, scope, name, lock=True)
                        for scope, name in self.keys(attempt.email, attempt.address)}
                self.audit.record("admin.signin_failed", actor=f"address:{attempt.address}",
                                  target=f"signin:{attempt.email}",
                                  details={"reason": reason, "address": attempt.address,
                                           "account_failures": attempt.failures.get("account"),
                                           "address_failures": attempt.failures.get("address")}, conn=conn)
                for scope, name in self.keys(attempt.email, attempt.address):
                    failures = attempt.failures.get(scope, 0)
                    row = rows[scope]
                    if self.limits[scope].locked(failures) and row is not None:
                        until = _aware(row.blocked_until)
                        self.audit.record("admin.locked", actor="system", target=f"{scope}:{name}",
                                          details={"scope": scope, "failures": failures,
                                                   "until": until.isoformat() if until else None}, conn=conn)
        self._retrying(write)

    def succeeded(self, attempt: Attempt) -> None:
        """Clear the account's counter; take this attempt back from the address's."""
        def write() -> None:
            with self.store.begin() as conn:
                conn.execute(delete(signin_failures).where(self._is("account", attempt.email)))
                conn.execute(update(signin_failures).where(
                    self._is("address", attempt.address), signin_failures.c.failures > 0)
                    .values(failures=signin_failures.c.failures - 1, blocked_until=None))
        self._retrying(write)

    def unlock(self, *, email: str | None = None, address: str | None = None, actor: str = "cli") -> int:
        """Forget the failures of an account and/or an address; returns how many counters were cleared."""
        cleared = 0
        with self.store.begin() as conn:
            for scope, name in (("account", email), ("address", address)):
                if not name:
                    continue
                key = name.strip().lower()[:NAME_MAX] if scope == "account" else address_key(name)
                res = conn.execute(delete(signin_failures).where(self._is(scope, key)))
                if res.rowcount:
                    cleared += res.rowcount
                    self.audit.record("admin.unlocked", actor=actor, target=f"{scope}:{key}",
                                      details={"scope": scope}, conn=conn)
        return cleared

    def counters(self) -> Iterator[dict[str, Any]]:
        """Every counter, for ``pledge admin`` and tests."""
        with self.store.connect() as conn:
            for row in conn.execute(select(signin_failures).order_by(signin_failures.c.scope,
                                                                     signin_failures.c.name)):
                yield dict(row._mapping)

    # -- helpers --------------------------------------------------------------------------------
    @staticmethod
    def _is(scope: str, name: str) -> Any:
        return and_(signin_failures.c.scope == scope, signin_failures.c.name == name)

    def _row(self, conn: Connection, scope: str, name: str, *, lock: bool) -> Any:
        query = select(signin_failures).where(self._is(scope, name))
        return conn.execute(query.with_for_update() if lock else query).first()

    def _blocked(self, conn: Connection, keys: list[tuple[str, str]], now: datetime, *,
                 lock: bool) -> Refusal | None:
        refusals = []
        for scope, name in keys:
            row = self._row(conn, scope, name, lock=lock)
            until = _aware(row.blocked_until) if row is not None else None
            if until is not None and until > now:
                # the count is still the one that set the wait (an attempt being counted adds one)
                failures = row.failures - (1 if lock else 0)
                refusals.append(Refusal(scope, until, self.limits[scope].locked(failures)))
        return max(refusals, key=lambda r: r.until) if refusals else None

    @staticmethod
    def _increment(conn: Connection, scope: str, name: str) -> None:
        """``failures = failures + 1`` in one statement, inserting the row when it is new."""
        values = {"scope": scope, "name": name, "failures": 1}
        plus_one = signin_failures.c.failures + 1
        dialect = conn.dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            pg = pg_insert(signin_failures).values(**values)
            conn.execute(pg.on_conflict_do_update(index_elements=["scope", "name"], set_={"failures": plus_one}))
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as lite_insert

            lite = lite_insert(signin_failures).values(**values)
            conn.execute(lite.on_conflict_do_update(index_elements=["scope", "name"], set_={"failures": plus_one}))
        elif dialect in ("mysql", "mariadb"):
            from sqlalchemy.dialects.mysql import insert as my_insert

            conn.execute(my_insert(signin_failures).values(**values).on_duplicate_key_update(failures=plus_one))
        else:  # another engine: UPDATE first, INSERT when there was nothing to update
            res = conn.execute(update(signin_failures).where(SigninThrottle._is(scope, name))
                               .values(failures=plus_one))
            if not res.rowcount:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(signin_failures).values(**values))
                except IntegrityError:
                    conn.execute(update(signin_failures).where(SigninThrottle._is(scope, name))
                                 .values(failures=plus_one))

    @staticmethod
    def _retrying(work: Callable[[], T], attempts: int = 5) -> T:
        for tries in range(1, attempts + 1):
            try:
                return work()
            except DBAPIError as exc:
                if tries == attempts or not _should_retry(exc):
                    raise
        raise AssertionError("unreachable")
