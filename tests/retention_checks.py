"""Retention correctness after time travel, shared by the in-process and the Celery tests.

Each ``check_<platform>`` sets holds, runs one sweep with ``sweeper`` (``sweep.run`` in
process, ``sweep_fanout`` on workers) and checks with plain SQL, not with the sweep's own
selection, that no row is older than its rule allows, nothing held or exempt was removed
and anonymised rows keep no direct identifiers.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pledge.engine import Engine
from pledge.platforms import REFERENCE
from pledge.policy.duration import Duration
from pledge.retention import sweep
from pledge.retention.holds import Holds
from tests.erasure_support import snapshot
from tests.retention_support import naive, rows

Sweeper = Callable[[Engine, datetime], dict[str, Any]]

NOW = REFERENCE + timedelta(days=200)
HOLD_UNTIL = NOW + timedelta(days=365)


def before(period: str) -> datetime:
    cut = naive(Duration.parse(period).before(NOW))
    assert cut is not None
    return cut


def legal_kept(issued: Any, years: int) -> bool:
    """Inside a tax period counted from the end of the issue year."""
    moment = naive(issued)
    return moment is None or datetime(moment.year + 1, 1, 1) >= before(f"P{years}Y")


def _expired(eng: Any, sql: str, cut: datetime) -> set[Any]:
    return {r[0] for r in rows(eng, sql) if r[1] is not None and naive(r[1]) < cut}


def check_omni_one(engine: Engine, sweeper: Sweeper) -> None:
    eng = engine.platform_engine("main")
    closed = {r[0]: r for r in rows(eng, "SELECT id, closed_at, email FROM users WHERE status = 'closed'")}
    expired_users = sorted(k for k, r in closed.items() if r[1] and naive(r[1]) < before("P90D"))
    assert len(expired_users) >= 2, "the generator should leave closed accounts past 90 days"
    held_user = expired_users[0]
    Holds(engine).add_person({"email": closed[held_user][2]}, reason="court case 12/2027", expires_at=HOLD_UNTIL)
    deleted = _expired(eng, "SELECT id, deleted_at FROM conversations", before("P30D"))
    mine = {r[0] for r in rows(eng, f"SELECT id FROM conversations WHERE user_id = {held_user}")}
    held_conv = min(deleted - mine)
    Holds(engine).add_records("main.conversations", ids=[held_conv], reason="litigation", expires_at=HOLD_UNTIL)
    invoices_kept = {r[0] for r in rows(eng, "SELECT id, issued_at FROM invoices") if legal_kept(r[1], 5)}
    closed_events = {r[0]: r for r in rows(
        eng, "SELECT e.id, e.ip_address, e.session_id FROM analytics_events e JOIN users u ON u.id = e.user_id "
             f"WHERE u.status = 'closed' AND u.id <> {held_user}")}

    first = sweeper(engine, NOW)
    assert first["status"] == "done" and first["total_rows"] > 0

    left = _expired(eng, "SELECT id, deleted_at FROM conversations", before("P30D"))
    assert left <= {held_conv} | mine and held_conv in left
    assert not _expired(eng, "SELECT id, deleted_at FROM projects", before("P30D")) - {
        r[0] for r in rows(eng, f"SELECT id FROM projects WHERE owner_id = {held_user}")}
    still_closed = {r[0] for r in rows(eng, "SELECT id, closed_at FROM users WHERE status = 'closed'")
                    if r[1] and naive(r[1]) < before("P90D")}
    assert still_closed == {held_user}
    assert rows(eng, f"SELECT count(*) FROM messages WHERE conversation_id = {held_conv}")[0][0] >= 0
    assert invoices_kept <= {r[0] for r in rows(eng, "SELECT id FROM invoices")}
    anonymised = 0
    for eid, uid, ip, session in rows(eng, "SELECT id, user_id, ip_address, session_id FROM analytics_events"):
        if eid in closed_events and uid is None:
            # anonymised: no person link, no IP; the session id is only a keyed pseudonym now
            anonymised += 1
            assert ip is None
            assert session is None or (session.startswith("pz_") and session != closed_events[eid][2])
    assert anonymised > 0
    for uid in expired_users[1:]:
        assert not rows(eng, f"SELECT id FROM users WHERE id = {uid}")
        assert not rows(eng, f"SELECT id FROM analytics_events WHERE user_id = {uid}")


def check_onetagger(engine: Engine, sweeper: Sweeper) -> None:
    eng = engine.platform_engine("main")
    accounts = {r[0]: r for r in rows(eng, "SELECT id, coalesce(last_login_at, created_at), email, name, phone "
                                           "FROM accounts")}
    inactive = {k for k, r in accounts.items() if naive(r[1]) < before("P12M")}
    assert inactive
    old_logs = _expired(eng, "SELECT id, created_at FROM web_logs", before("P12M"))
    held_log = min(old_logs)
    Holds(engine).add_records("main.web_logs", ids=[held_log], reason="security incident", expires_at=HOLD_UNTIL)
    payments_kept = {r[0] for r in rows(eng, "SELECT id, issued_at FROM payments") if legal_kept(r[1], 10)}

    sweeper(engine, NOW)

    assert _expired(eng, "SELECT id, created_at FROM web_logs", before("P12M")) == {held_log}
    assert not _expired(eng, "SELECT id, created_at FROM analytics_events", before("P24M"))
    assert not _expired(eng, "SELECT id, last_contact_at FROM newsletter_subscriptions", before("P12M"))
    assert not _expired(eng, "SELECT c.id, coalesce(a.last_login_at, a.created_at) FROM containers c "
                             "JOIN accounts a ON a.id = c.account_id", before("P12M"))
    assert payments_kept <= {r[0] for r in rows(eng, "SELECT id FROM payments")}
    after = {r[0]: r for r in rows(eng, "SELECT id, last_login_at, email, name, phone FROM accounts")}
    for k in inactive:
        _, _, email, name, phone = accounts[k]
        assert k in after, "accounts are anonymised, not deleted (payments point at them)"
        assert after[k][2] != email and after[k][3] != name
        assert after[k][4] is None or after[k][4] != phone


def check_onestepai(engine: Engine, sweeper: Sweeper) -> None:
    eng = engine.platform_engine("main")
    old = _expired(eng, "SELECT id, created_at FROM api_access_log", before("P13M"))
    held = sorted(old)[:2]
    Holds(engine).add_records("main.api_access_log", condition=f"id = {held[0]} OR id = {held[1]}",
                              reason="regulator inquiry", expires_at=HOLD_UNTIL)
    invoices_kept = {r[0] for r in rows(eng, "SELECT id, issued_at FROM invoices") if legal_kept(r[1], 5)}

    sweeper(engine, NOW)

    assert _expired(eng, "SELECT id, created_at FROM api_access_log", before("P13M")) == set(held)
    assert not _expired(eng, "SELECT id, last_contact_at FROM marketing_contacts", before("P24M"))
    assert not _expired(eng, "SELECT id, closed_at FROM users WHERE status = 'closed' "
                             "AND organisation_id IS NULL", before("P6M"))
    for _id, email, name in rows(eng, "SELECT id, email, name FROM users WHERE status = 'closed'"):
        assert email.startswith("[redacted") and name in (None, "[redacted]")
    assert invoices_kept <= {r[0] for r in rows(eng, "SELECT id FROM invoices")}


CHECKS = {"omni-one": check_omni_one, "onetagger": check_onetagger, "onestepai": check_onestepai}


def check_time_travel(engine: Engine, platform: str, sweeper: Sweeper = sweep.run,
                      again_sweeper: Sweeper | None = None) -> None:
    """The platform's checks around one sweep, then a second sweep (``again_sweeper``,
    by default ``sweeper``) that finds nothing."""
    CHECKS[platform](engine, sweeper)
    state = snapshot(engine.platform_engine("main"))
    again = (again_sweeper or sweeper)(engine, NOW)
    assert again["total_rows"] == 0, again
    assert snapshot(engine.platform_engine("main")) == state
    assert sweep.plan(engine, NOW)["total_rows"] == 0
    assert engine.audit.verify() == []
    assert engine.audit.entries(action="retention.sweep.batch")
