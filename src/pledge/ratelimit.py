"""Rate limits on what a stranger can make Pledge do: make requests, send codes, check codes.

Each *action* has rules, and each rule counts in one *scope*: the requester's email, the
client's network address, or the whole deployment (``overall``). The counts are fixed
windows of the :pypi:`limits` library (``FixedWindowRateLimiter``): a window opens at its
first hit and lasts the rule's period; a hit over the amount is refused until it closes.

=========  ==========================  ======================  ===============
action     per email                   per client address      overall
=========  ==========================  ======================  ===============
create     3 an hour, 6 a day          20 an hour              500 an hour
send       5 an hour, 10 a day         20 an hour              500 an hour
check      10 a day                    30 an hour              1000 an hour
banner     —                           60 an hour              20000 an hour
=========  ==========================  ======================  ===============

``send`` is every code emailed (a new request's first code and each resend); ``check`` is
every code entered. On top of these, one code takes ``policy.verification.max_attempts``
wrong tries and one request at most three codes (:mod:`pledge.rights.verify`). The
arithmetic of what that leaves an attacker is in ``docs/security.md``.

Where the counts live: in Redis when ``settings.redis_url`` is set, or when
``settings.broker_url`` is a ``redis://`` URL (the library's own Redis storage, keys
prefixed per deployment); otherwise in Pledge's store, table ``rate_limits``
(:class:`StoreStorage`, one atomic upsert per hit on SQLite, PostgreSQL and MariaDB, its
clock the engine's). Emails are counted by their keyed HMAC, never in clear; an IPv6
client counts by its /64 network (one host usually has the whole /64).

Rules are checked from the most specific scope to the least (client, email, overall) and
stop at the first one exceeded, so a client already refused does not use up the shared
budgets of other people.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerHour
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import case, delete, select
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Engine as SAEngine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from pledge.errors import Throttled
from pledge.store.tables.ratelimit import rate_limits

if TYPE_CHECKING:
    from pledge.context import Clock
    from pledge.settings import Settings
    from pledge.store import Store

__all__ = ["RULES", "RateLimited", "RateLimits", "Rule", "StoreStorage", "client_key", "redis_url_for"]

SCOPES = ("client", "email", "overall")


@dataclass(frozen=True)
class Rule:
    scope: str  # client | email | overall
    limit: RateLimitItem


def _hour(n: int) -> RateLimitItem:
    return RateLimitItemPerHour(n, namespace="pledge")


def _day(n: int) -> RateLimitItem:
    return RateLimitItemPerDay(n, namespace="pledge")


#: action → its rules, most specific scope first (see the table above)
RULES: dict[str, tuple[Rule, ...]] = {
    "create": (Rule("client", _hour(20)), Rule("email", _hour(3)), Rule("email", _day(6)),
               Rule("overall", _hour(500))),
    "send": (Rule("client", _hour(20)), Rule("email", _hour(5)), Rule("email", _day(10)),
             Rule("overall", _hour(500))),
    "check": (Rule("client", _hour(30)), Rule("email", _day(10)), Rule("overall", _hour(1000))),
    # a visitor's cookie-banner choice kept under a receipt (pledge.web.consent_receipts)
    "banner": (Rule("client", _hour(60)), Rule("overall", _hour(20000))),
}

MESSAGES = {
    "create": "too many requests",
    "send": "too many codes sent",
    "check": "too many codes entered",
    "banner": "too many cookie choices",
}
WHOSE = {"client": "from this network address", "email": "for this email address", "overall": "just now"}


class RateLimited(Throttled):
    """An action refused by a rate limit; ``retry_after`` is in whole seconds (at least 1)."""

    def __init__(self, action: str, scope: str, retry_after: int) -> None:
        self.action = action
        self.scope = scope
        self.retry_after = max(1, int(retry_after))
        minutes = max(1, math.ceil(self.retry_after / 60))
        wait = f"{minutes} minute{'s' if minutes != 1 else ''}" if minutes < 120 else \
            f"{math.ceil(minutes / 60)} hours"
        super().__init__(f"{MESSAGES.get(action, 'too many attempts')} {WHOSE.get(scope, '')}; "
                         f"for your security, try again in {wait}")


def client_key(host: str | None) -> str | None:
    """The client address a limit counts: an IPv6 address by its /64, anything else as given."""
    if not host:
        return None
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return host[:100]
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{addr}/64", strict=False))
    return str(addr)


def redis_url_for(redis_url: str | None, broker_url: str | None) -> str | None:
    """Redis backs the limits when it is configured: its own URL, or a Redis broker's."""
    if redis_url:
        return redis_url
    if broker_url and broker_url.startswith(("redis://", "rediss://")):
        return broker_url
    return None


class StoreStorage(Storage):
    """A :pypi:`limits` storage in Pledge's store: ``rate_limits(key, hits, window_start, window_end)``.

    ``incr`` is one atomic upsert (``INSERT … ON CONFLICT DO UPDATE`` on SQLite and
    PostgreSQL, ``ON DUPLICATE KEY UPDATE`` on MariaDB/MySQL) that adds to the count of a
    live window or starts a new one, then reads the count back in the same transaction,
    while the row is still locked. Times are epoch milliseconds from ``clock``.
    """

    STORAGE_SCHEME = None
    #: expired rows are swept about once every this many hits
    SWEEP_EVERY = 200

    def __init__(self, engine: SAEngine, clock: Callable[[], datetime]) -> None:
        super().__init__()
        self.sa = engine
        self.clock = clock

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return SQLAlchemyError

    def _now_ms(self) -> int:
        return int(self.clock().timestamp() * 1000)

    def _upsert(self, key: str, now: int, end: int, amount: int) -> Any:
        t = rate_limits
        live = t.c.window_end > now
        hits = case((live, t.c.hits + amount), else_=amount)
        start = case((live, t.c.window_start), else_=now)
        finish = case((live, t.c.window_end), else_=end)
        values = {"key": key, "hits": amount, "window_start": now, "window_end": end}
        name = self.sa.dialect.name
        if name in ("mysql", "mariadb"):
            # assignments run left to right and see the new values: window_end goes last
            return mysql.insert(t).values(values).on_duplicate_key_update(
                [("hits", hits), ("window_start", start), ("window_end", finish)])
        dialect_insert = postgresql.insert if name == "postgresql" else sqlite.insert
        ins = dialect_insert(t).values(values)
        return ins.on_conflict_do_update(index_elements=[t.c.key],
                                         set_={"hits": hits, "window_start": start, "window_end": finish})

    def incr(self, key: str, expiry: int | float, amount: int = 1) -> int:
        now = self._now_ms()
        end = now + int(expiry * 1000)
        for attempt in range(5):
            try:
                with self.sa.begin() as conn:
                    conn.execute(self._upsert(key, now, end, amount))
                    hits = conn.execute(select(rate_limits.c.hits).where(rate_limits.c.key == key)).scalar_one()
                    if random.randrange(self.SWEEP_EVERY) == 0:
                        conn.execute(delete(rate_limits).where(rate_limits.c.window_end < now))
                return int(hits)
            except OperationalError:  # a deadlock or lock wait the server gave up on: nothing was counted
                if attempt == 4:
                    raise
                time.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    def _row(self, key: str) -> tuple[int, int] | None:
        with self.sa.connect() as conn:
            row = conn.execute(select(rate_limits.c.hits, rate_limits.c.window_end)
                               .where(rate_limits.c.key == key, rate_limits.c.window_end > self._now_ms())).first()
        return (int(row.hits), int(row.window_end)) if row is not None else None

    def get(self, key: str) -> int:
        row = self._row(key)
        return row[0] if row else 0

    def get_expiry(self, key: str) -> float:
        row = self._row(key)
        return (row[1] if row else self._now_ms()) / 1000

    def check(self) -> bool:
        try:
            with self.sa.connect() as conn:
                conn.execute(select(1))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with self.sa.begin() as conn:
            return int(conn.execute(delete(rate_limits)).rowcount)

    def clear(self, key: str) -> None:
        with self.sa.begin() as conn:
            conn.execute(delete(rate_limits).where(rate_limits.c.key == key))


class RateLimits:
    """The limits of one deployment. ``engine.limits``; :meth:`hit` counts and refuses."""

    def __init__(self, storage: Storage, clock: Callable[[], float], email_key: Callable[[str], str],
                 rules: dict[str, tuple[Rule, ...]] | None = None) -> None:
        self.storage = storage
        self.strategy = FixedWindowRateLimiter(storage)
        self.clock = clock  # seconds since the epoch, as the storage counts them
        self.email_key = email_key
        self.rules = dict(rules or RULES)

    @classmethod
    def for_deployment(cls, settings: Settings, *, store_url: str, store: Callable[[], Store],
                       subject_secret: str, clock: Clock) -> RateLimits:
        """Redis when the settings name one (shared by every process), else the store
        (``store`` is called only then)."""
        from pledge.retention.ledger import subject_key

        def email_key(email: str) -> str:
            return subject_key(subject_secret, "ratelimit-email", email)

        url = redis_url_for(settings.redis_url, settings.broker_url)
        if url:
            from pledge.extras import require

            require("redis", "rate limits in Redis (PLEDGE_REDIS_URL, or a redis:// PLEDGE_BROKER_URL)")
            prefix = "pledge-limits:" + hashlib.sha256(store_url.encode()).hexdigest()[:16]
            storage = storage_from_string(url, key_prefix=prefix)
            assert isinstance(storage, Storage)  # a synchronous storage (not async+redis://)
            return cls(storage, time.time, email_key)
        return cls(StoreStorage(store().engine, clock), lambda: clock().timestamp(), email_key)

    @property
    def backend(self) -> str:
        return "store" if isinstance(self.storage, StoreStorage) else "redis"

    def _identity(self, scope: str, email: str | None, client: str | None) -> str | None:
        if scope == "overall":
            return "all"
        if scope == "email":
            return self.email_key(email) if email else None
        return client_key(client)

    def hit(self, action: str, *, email: str | None = None, client: str | None = None) -> None:
        """Count one ``action``; raise :class:`RateLimited` when a rule is over its amount.

        A scope without a value (no client address, as in the CLI; no email) is not counted."""
        for rule in self.rules[action]:
            ident = self._identity(rule.scope, email, client)
            if ident is None:
                continue
            if not self.strategy.hit(rule.limit, action, rule.scope, ident):
                reset = self.strategy.get_window_stats(rule.limit, action, rule.scope, ident).reset_time
                raise RateLimited(action, rule.scope, math.ceil(reset - self.clock()))

    def refund(self, action: str, *, email: str | None = None, client: str | None = None) -> None:
        """Give back one counted ``action`` that was refused for another reason and did nothing."""
        for rule in self.rules[action]:
            ident = self._identity(rule.scope, email, client)
            if ident is not None:
                self.storage.incr(rule.limit.key_for(action, rule.scope, ident), rule.limit.get_expiry(), amount=-1)

    @contextmanager
    def counting(self, action: str, *, email: str | None = None, client: str | None = None,
                 refund: type[BaseException] | tuple[type[BaseException], ...] = (),
                 when: bool = True) -> Iterator[None]:
        """Count one ``action`` for the block (as :meth:`hit`, before it runs); when the block
        raises ``refund`` (bad input: nothing was done), the count is given back. ``when``
        False counts nothing."""
        if not when:
            yield
            return
        self.hit(action, email=email, client=client)
        try:
            yield
        except refund:
            self.refund(action, email=email, client=client)
            raise
