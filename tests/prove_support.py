"""Helpers for the proof tests: ground truth by plain SQL, planted violations, cleaning up.

Everything here reads and writes the platform with plain SQL (SQLAlchemy Core on the
generator's own schema), never through ``pledge.prove``: the tests compare what
``prove`` reports with what these helpers know to be true.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, insert, select

from pledge.engine import Engine
from pledge.platforms import REFERENCE, schema
from pledge.policy.duration import Duration
from pledge.prove import pseudonym
from pledge.retention.holds import Holds
from pledge.rights.erasure import erase
from tests.retention_support import naive, rows

#: the moment of the sweeps and proofs: 200 days after the generator's reference time
NOW = REFERENCE + timedelta(days=200)
HOLD_UNTIL = NOW + timedelta(days=365)
TODAY = NOW.date()
#: a table with rows past their limit before the sweep, and the rule that covers it
HELD = {"omni-one": ("main.conversations", "deleted_at", "P30D", "deleted_conversations"),
        "onetagger": ("main.web_logs", "created_at", "P12M", "dzienniki"),
        "onestepai": ("main.api_access_log", "created_at", "P13M", "tracking_data")}


def before(period: str) -> datetime:
    """NOW moved back by ``period``, as the platform stores times (naive UTC)."""
    cut = naive(Duration.parse(period).before(NOW))
    assert cut is not None
    return cut


def age_on(born: Any, day: date = TODAY) -> int:
    b = born if isinstance(born, date) else date.fromisoformat(str(born)[:10])
    return day.year - b.year - ((day.month, day.day) < (b.month, b.day))


def years_ago(years: int, days: int = 0) -> date:
    return TODAY.replace(year=TODAY.year - years) - timedelta(days=days)


def key(engine: Engine, value: Any) -> str:
    """The keyed pseudonym ``prove`` gives a user id (the subject key's HMAC)."""
    return pseudonym(engine.keys.subject_secret, "user_id", value)


def table(platform: str, name: str) -> Table:
    return schema(platform).tables[name]


def clone(engine: Engine, platform: str, name: str, source_id: Any, **changes: Any) -> Any:
    """Insert a copy of one row with ``changes`` (plain SQL); returns the new primary key."""
    t = table(platform, name)
    eng = engine.platform_engine("main")
    with eng.begin() as conn:
        row = dict(conn.execute(select(t).where(t.c.id == source_id)).one()._mapping)
        new_id = int(conn.execute(select(func.max(t.c.id))).scalar() or 0) + 1
        row.update(changes, id=new_id)
        conn.execute(insert(t).values(**row))
    return new_id


def hold_one_expired(engine: Engine, platform: str) -> int:
    """Put a legal hold on one row that is past its limit; returns its id."""
    collection, clock, period, _rule = HELD[platform]
    name = collection.split(".")[1]
    eng = engine.platform_engine("main")
    cut = before(period)
    past = sorted(r[0] for r in rows(eng, f"SELECT id, {clock} FROM {name}") if r[1] and naive(r[1]) < cut)
    assert past, f"the generator should leave {collection} rows past {period}"
    held = past[len(past) // 2]
    Holds(engine).add_records(collection, ids=[held], reason="court case 7/2027", expires_at=HOLD_UNTIL)
    return held


def children(engine: Engine, minimum: int) -> list[tuple[int, str]]:
    """(id, email) of everybody under ``minimum`` on NOW's date, by id."""
    eng = engine.platform_engine("main")
    return sorted((r[0], r[2]) for r in rows(eng, "SELECT id, birth_date, email FROM users WHERE birth_date IS NOT NULL")
                  if age_on(r[1]) < minimum)


def minors_without_consent(engine: Engine) -> list[tuple[int, str]]:
    """onestepai: open accounts aged 13-17 whose parental_consent column is not true."""
    eng = engine.platform_engine("main")
    return sorted((r[0], r[3]) for r in rows(
        eng, "SELECT id, birth_date, parental_consent, email, status, closed_at FROM users "
             "WHERE birth_date IS NOT NULL")
        if 13 <= age_on(r[1]) < 18 and not r[2] and r[4] != "closed" and r[5] is None)


def resolve_children(engine: Engine, platform: str) -> None:
    """What the officer does after a proof shows the generator's children: erase those under
    the minimum age; record a parent's consent for the minors who need one."""
    age = engine.policy.age
    if age is None:
        return
    for _id, email in children(engine, age.minimum):
        erase(engine, {"email": email}, actor="dpo")
    if platform == "onestepai":
        for _id, email in minors_without_consent(engine):
            engine.consent.record(email, "parental_consent", "given", method="paper_form", channel="post",
                                  actor="dpo")


def adult(engine: Engine) -> int:
    """An open adult account to copy from."""
    eng = engine.platform_engine("main")
    return min(r[0] for r in rows(eng, "SELECT id, birth_date, status FROM users")
               if r[2] == "active" and r[1] is not None and age_on(r[1]) >= 25)


@dataclass
class Planted:
    """What a test planted: finding id -> the keys ``prove`` must report (and only those)."""

    broken: dict[str, list[str]] = field(default_factory=dict)

    def add(self, finding: str, *keys: str) -> None:
        self.broken.setdefault(finding, []).extend(keys)


def plant(engine: Engine, platform: str) -> Planted:
    """One or more violations of each checkable kind the platform's policy has."""
    out = Planted()
    eng = engine.platform_engine("main")
    if platform == "omni-one":
        who = adult(engine)
        conv = min(r[0] for r in rows(eng, f"SELECT id FROM conversations WHERE user_id = {who} "
                                           "AND deleted_at IS NULL"))
        gone = clone(engine, platform, "conversations", conv, project_id=None,
                     deleted_at=NOW - timedelta(days=31))  # "Permanently deleted … within 30 days"
        out.add("retention:deleted_conversations:main.conversations", str(gone))
        child = clone(engine, platform, "users", who, email="planted-17@example.test",
                      birth_date=years_ago(17), stripe_customer_id=None, last_login_at=NOW - timedelta(days=2))
        out.add("age:main.users", key(engine, child))
    elif platform == "onetagger":
        event = min(r[0] for r in rows(eng, "SELECT id FROM analytics_events"))
        old = clone(engine, platform, "analytics_events", event, account_id=None,
                    created_at=NOW - timedelta(days=2 * 365 + 30))  # 24 months and a month
        out.add("retention:analityka:main.analytics_events", str(old))
        sub = min(r[0] for r in rows(eng, "SELECT id FROM newsletter_subscriptions"))
        stale = clone(engine, platform, "newsletter_subscriptions", sub, account_id=None,
                      email="planted-newsletter@example.test", last_contact_at=NOW - timedelta(days=400))
        out.add("retention:marketing:main.newsletter_subscriptions", str(stale))
        acct = min(r[0] for r in rows(eng, "SELECT id, status FROM accounts WHERE status = 'active'"))
        idle = clone(engine, platform, "accounts", acct, email="planted-idle@example.test",
                     last_login_at=NOW - timedelta(days=380), created_at=NOW - timedelta(days=900))
        out.add("retention:konto_nieaktywne:main.accounts", key(engine, idle))
    else:  # onestepai
        who = adult(engine)
        child = clone(engine, platform, "users", who, email="planted-12@example.test",
                      birth_date=years_ago(12), organisation_id=None, phone=None)
        out.add("age:main.users", key(engine, child))
        minor = clone(engine, platform, "users", who, email="planted-15@example.test",
                      birth_date=years_ago(15), parental_consent=False, organisation_id=None, phone=None)
        out.add("parental_consent:main.users", key(engine, minor))
        # a 16-year-old whose parent's consent is in Pledge's consent ledger: no violation
        clone(engine, platform, "users", who, email="planted-16@example.test", birth_date=years_ago(16),
              parental_consent=None, organisation_id=None, phone=None)
        engine.consent.record("planted-16@example.test", "parental_consent", "given", actor="dpo")
        closed = clone(engine, platform, "users", who, email="planted-closed@example.test", status="closed",
                       closed_at=NOW - timedelta(days=7 * 31), organisation_id=None, phone=None)
        out.add("retention:closed_accounts:main.users", key(engine, closed))
        log = min(r[0] for r in rows(eng, "SELECT id FROM api_access_log"))
        old = clone(engine, platform, "api_access_log", log, created_at=NOW - timedelta(days=14 * 31))
        out.add("retention:tracking_data:main.api_access_log", str(old))
    # an open request whose deadline passed: made at the engine's start (REFERENCE), 200 days ago
    late = engine.requests.create("access", {"email": "planted-late@example.test"}, notify=False)
    out.add("requests:deadlines", late.id)
    return out
