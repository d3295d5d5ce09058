"""Tests written for mutants of ``pledge.retention.sweep`` that survived the suite (docs/mutation.md).

The sweep's own account of what it did: the plan and the report name each rule, table and
action, the report counts rows and batches, the audit log holds the start and the end with
the total, and a sweep of a key range stays inside it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from pledge.engine import Engine
from pledge.platforms import REFERENCE
from pledge.retention import sweep
from pledge.retention.holds import Holds
from pledge.settings import Settings
from tests.retention_checks import NOW, T
from tests.retention_support import deployment, naive, write_config


def test_plan_report_and_audit_say_what_the_sweep_did(tmp_path: Path) -> None:
    engine = deployment(tmp_path, "onetagger", f"sqlite:///{tmp_path / 'p.db'}", users=40, now=REFERENCE,
                        boundary=True)
    planned = sweep.plan(engine, REFERENCE)
    assert planned["dry_run"] is True and planned["total_rows"] > 0
    for t in planned["targets"]:
        assert {"rule", "collection", "action", "erasure"} <= set(t)
        assert t["erasure"] in ("person", t["action"])

    report = sweep.run(engine, REFERENCE)
    assert (report["dry_run"], report["status"], report["resumed"]) == (False, "done", False)
    assert report["total_rows"] == sum(t["rows"] for t in report["targets"]) > 0
    assert isinstance(report["seconds"], float)
    planned_rows = {(t["rule"], t["collection"]): t["rows"] for t in planned["targets"]}
    for t in report["targets"]:
        assert {"rule", "collection", "action", "rows", "batches", "done"} <= set(t)
        assert (t["rule"], t["collection"]) in planned_rows
        assert t["done"] is True
        if t["rows"]:
            assert t["batches"] == 1, t  # a few dozen rows fit one batch

    done = engine.audit.entries(action="retention.sweep.done")
    assert len(done) == 1 and done[0]["actor"] == "retention"
    assert engine.audit.entries(action="retention.sweep.start")
    assert sweep.plan(engine, REFERENCE)["total_rows"] == 0


def test_a_key_range_sweep_leaves_the_rows_after_its_range(tmp_path: Path) -> None:
    engine = deployment(tmp_path, "onetagger", f"sqlite:///{tmp_path / 'p.db'}", users=40, now=REFERENCE,
                        boundary=True)
    before = {(t["rule"], t["collection"]): t for t in sweep.plan(engine, REFERENCE, sample=1000)["targets"]}
    end = 10
    sweep.run(engine, REFERENCE, start_pk=None, end_pk=end)
    after = {(t["rule"], t["collection"]): t for t in sweep.plan(engine, REFERENCE, sample=1000)["targets"]}
    beyond = [i for t in before.values() for i in t["sample_ids"] if isinstance(i, int) and i > end]
    assert beyond, "the generated data has expired rows after the range"
    inside = [i for t in before.values() for i in t["sample_ids"] if isinstance(i, int) and i <= end]
    assert inside, "the generated data has expired rows inside the range"
    for key, t in before.items():
        kept = [i for i in t["sample_ids"] if isinstance(i, int) and i > end]
        assert set(kept) <= set(after[key]["sample_ids"]), key
        swept = [i for i in t["sample_ids"] if isinstance(i, int) and i <= end]
        assert not set(swept) & set(after[key]["sample_ids"]), key


def test_a_hold_on_one_row_of_a_closed_account_keeps_that_row_and_erases_the_others(tmp_path: Path) -> None:
    """omni-one: "Account: All data is permanently deleted within 90 days, except as required by law", and a
    legal hold (OO-46, "To resolve disputes") keeps what it names. A hold on one conversation of an account
    closed more than 90 days ago keeps that conversation and its messages through the sweep that erases the
    account's neighbours; the accounts that hold nothing held are gone. Written from SQL, not from the plan."""
    engine = deployment(tmp_path, "omni-one", f"sqlite:///{tmp_path / 'p.db'}", now=NOW)
    try:
        eng = engine.platform_engine("main")
        cut = T - timedelta(days=90)
        with eng.connect() as conn:
            expired = [r[0] for r in conn.execute(text(
                "SELECT u.id FROM users u WHERE u.status = 'closed' AND u.closed_at < :cut "
                "AND EXISTS (SELECT 1 FROM conversations c WHERE c.user_id = u.id "
                "AND EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id)) ORDER BY u.id"),
                {"cut": cut})]
            assert len(expired) >= 2, "the generator leaves closed accounts with conversations past 90 days"
            owner, others = expired[0], expired[1:]
            conv = conn.execute(text("SELECT MIN(c.id) FROM conversations c WHERE c.user_id = :u AND EXISTS "
                                     "(SELECT 1 FROM messages m WHERE m.conversation_id = c.id)"), {"u": owner}).scalar()
            messages = {r[0] for r in conn.execute(text("SELECT id FROM messages WHERE conversation_id = :c"),
                                                   {"c": conv})}
        Holds(engine).add_records("main.conversations", ids=[conv], reason="dispute 4/2027",
                                  expires_at=NOW + timedelta(days=365))

        report = sweep.run(engine, NOW)
        assert report["status"] == "done"

        with eng.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM conversations WHERE id = :c"), {"c": conv}).scalar() == 1
            left = {r[0] for r in conn.execute(text("SELECT id FROM messages WHERE conversation_id = :c"), {"c": conv})}
            assert left == messages, "the held conversation keeps its messages"
            gone = [u for u in others if conn.execute(text("SELECT COUNT(*) FROM users WHERE id = :u"),
                                                      {"u": u}).scalar() == 0]
            assert gone == others, "accounts with nothing held are erased after 90 days"
        closed = [t for t in report["targets"] if t["rule"] == "closed_accounts"]
        assert closed and sum(t["held"] for t in closed) == 1, "the account with the held row is counted as held"
        # the erasure ledger (replayed after a backup restore) names the people erased, not the held one
        batches = [e["details"] for e in engine.audit.entries(action="retention.sweep.batch")
                   if e["details"]["rule"] == "closed_accounts"]
        assert sum(d["people"] for d in batches) == len(others)
    finally:
        engine.close()


def test_a_sweep_at_a_given_moment_counts_the_tax_period_to_that_moment(tmp_path: Path) -> None:
    """omni-one: "Account: All data is permanently deleted within 90 days, except as required by law" and "tax
    records: 5 years in Poland", counted from the end of the year of issue (Tax Ordinance art. 70 § 1). A
    sweep asked to run at a moment (``run(engine, now)``, ``pledge retention run --now``, or a resumed sweep
    with the clock it started with) counts every period to that moment, even when the engine's own clock
    reads three years later: the invoices of erased accounts that the tax law still keeps at that moment
    stay, and the accounts go. A hold on one of the accounts' rows makes the sweep plan person by person,
    which must count to the same moment."""
    url = f"sqlite:///{tmp_path / 'p.db'}"
    deployment(tmp_path, "omni-one", url, now=NOW, boundary=True).close()
    later = NOW + timedelta(days=3 * 365)
    engine = Engine.from_config_file(write_config(tmp_path, "omni-one", url), Settings(), clock=lambda: later)
    try:
        eng = engine.platform_engine("main")
        cut = T - timedelta(days=90)
        with eng.connect() as conn:
            invoices = [(r[0], naive(r[1])) for r in conn.execute(text(
                "SELECT i.id, i.issued_at FROM invoices i JOIN users u ON u.id = i.user_id "
                "WHERE u.status = 'closed' AND u.closed_at < :cut"), {"cut": cut})]
            doomed = {r[0] for r in conn.execute(text(
                "SELECT id FROM users WHERE status = 'closed' AND closed_at < :cut"), {"cut": cut})}
        # kept at NOW: the period ends as 1 January of (year of issue + 6) begins
        issued_on = {i: issued for i, issued in invoices if issued is not None}
        kept = {i for i, issued in issued_on.items() if datetime(issued.year + 6, 1, 1) > T}
        later_naive = later.replace(tzinfo=None)
        assert any(datetime(issued_on[i].year + 6, 1, 1) <= later_naive for i in kept), (
            "some invoice kept at the sweep's moment would be past its period by the engine's clock")

        # a hold on one conversation of one of those accounts: the sweep then plans person by person
        with eng.connect() as conn:
            first = conn.execute(text(
                "SELECT user_id, MIN(id) FROM conversations WHERE user_id IN (SELECT id FROM users WHERE "
                "status = 'closed' AND closed_at < :cut) GROUP BY user_id ORDER BY user_id"), {"cut": cut}).first()
        assert first is not None, "an account closed more than 90 days ago has a conversation"
        owner, conv = first
        Holds(engine).add_records("main.conversations", ids=[conv], reason="dispute 5/2027",
                                  expires_at=later + timedelta(days=30))

        assert sweep.run(engine, NOW)["status"] == "done"

        with eng.connect() as conn:
            left = {r[0] for r in conn.execute(text("SELECT id FROM invoices"))}
            users_left = {r[0] for r in conn.execute(text("SELECT id FROM users"))}
        assert kept <= left, f"invoices the tax law keeps at the sweep's moment are gone: {sorted(kept - left)[:5]}"
        assert doomed & users_left == {owner}, "the accounts closed more than 90 days before go, but the held one"
    finally:
        engine.close()


def test_a_sweep_stops_at_its_row_limit_and_its_deadline_and_the_next_run_finishes(tmp_path: Path) -> None:
    """``max_rows`` and ``until`` (a wall-clock deadline) stop a sweep between batches with a partial report;
    the next run carries on from the checkpoint until nothing is left (docs/retention.md)."""
    engine = deployment(tmp_path, "onetagger", f"sqlite:///{tmp_path / 'p.db'}", users=40, now=REFERENCE,
                        boundary=True)
    try:
        total = sweep.plan(engine, REFERENCE)["total_rows"]
        assert total > 12
        first = sweep.run(engine, REFERENCE, max_rows=5, batch_size=5)
        assert (first["status"], first["stopped_by"]) == ("partial", "max_rows")
        assert 0 < first["total_rows"] <= 5
        assert engine.audit.entries(action="retention.sweep.paused")
        passed = sweep.run(engine, REFERENCE, until=datetime.now(UTC) - timedelta(seconds=1))
        assert (passed["status"], passed["stopped_by"], passed["total_rows"]) == ("partial", "until", 0)
        assert passed["resumed"] is True, "a stopped sweep is resumed, not started again"
        rest = sweep.run(engine, REFERENCE, until=datetime.now(UTC) + timedelta(hours=1))
        assert (rest["status"], rest["stopped_by"], rest["resumed"]) == ("done", None, True)
        assert sweep.plan(engine, REFERENCE)["total_rows"] == 0
    finally:
        engine.close()


def test_progress_reports_each_targets_rows_against_what_the_plan_counted(tmp_path: Path) -> None:
    """``progress(target, rows done, rows expected)`` after each batch: the expected rows of a target are
    counted when it starts (for the first target, what a plan at the same moment counts), and a finished
    target has done them all."""
    engine = deployment(tmp_path, "onetagger", f"sqlite:///{tmp_path / 'p.db'}", users=40, now=REFERENCE,
                        boundary=True)
    try:
        planned = {f"{t['rule']}:{t['collection']}": t["rows"] for t in sweep.plan(engine, REFERENCE)["targets"]}
        calls: dict[str, list[tuple[int, int]]] = {}
        sweep.run(engine, REFERENCE, progress=lambda key, done, expected: calls.setdefault(key, []).append(
            (done, expected)))
        assert calls and set(calls) <= set(planned)
        for key, seen in calls.items():
            # counted when the target starts: earlier rules of the same sweep may have taken some rows
            assert len({e for _, e in seen}) == 1 and 0 < seen[0][1] <= planned[key], (key, seen)
            assert seen[-1][0] == seen[-1][1], f"{key}: a finished target has done what it expected"
        first = next(k for k, n in planned.items() if n)
        assert calls[first][0][1] == planned[first], "nothing ran before the first target: the plan's count"
    finally:
        engine.close()


def test_the_plan_says_per_rule_what_a_sweep_at_its_moment_would_do(tmp_path: Path) -> None:
    """``pledge retention plan``: for "Individual conversations: Permanently deleted from our servers within 30
    days" the dry run names the rule's clock and period, the cutoff 30 days before the moment asked for (not
    the engine's clock, which reads a year later), the rows past it and the oldest of them (counted here in
    SQL), five sample keys among them, and that a closed account is erased as a person."""
    url = f"sqlite:///{tmp_path / 'p.db'}"
    deployment(tmp_path, "omni-one", url, now=NOW, boundary=True).close()
    engine = Engine.from_config_file(write_config(tmp_path, "omni-one", url), Settings(),
                                     clock=lambda: NOW + timedelta(days=365))
    try:
        eng = engine.platform_engine("main")
        cut = T - timedelta(days=30)
        with eng.connect() as conn:
            expired = {r[0]: naive(r[1]) for r in conn.execute(text(
                "SELECT id, deleted_at FROM conversations WHERE deleted_at < :cut"), {"cut": cut})}
            held = conn.execute(text("SELECT MIN(id) FROM conversations WHERE deleted_at IS NULL")).scalar()
        assert len(expired) > 5
        Holds(engine).add_records("main.conversations", ids=[held], reason="dispute 9",  # a live one: no change
                                  expires_at=NOW + timedelta(days=400))

        plan = sweep.plan(engine, NOW)
        assert (plan["now"], plan["dry_run"], plan["holds"]) == (NOW.isoformat(), True, 1)
        conv = next(t for t in plan["targets"] if t["rule"] == "deleted_conversations")
        assert (conv["collection"], conv["action"], conv["trigger"], conv["period"], conv["cascade"],
                conv["erasure"]) == ("main.conversations", "delete", "deleted_at", "P30D", True, "delete")
        assert datetime.fromisoformat(conv["cutoff"]) == NOW - timedelta(days=30)
        assert conv["rows"] == len(expired)
        assert isinstance(conv["oldest"], str), "the plan is JSON: times as ISO text"
        assert naive(conv["oldest"]) == min(v for v in expired.values() if v is not None)
        assert len(conv["sample_ids"]) == 5 and set(conv["sample_ids"]) <= set(expired)
        closed = next(t for t in plan["targets"] if t["rule"] == "closed_accounts")
        assert (closed["action"], closed["erasure"]) == ("delete", "person")
        assert plan["total_rows"] == sum(t["rows"] for t in plan["targets"])
    finally:
        engine.close()


def test_the_report_and_the_audit_count_what_each_rule_did(tmp_path: Path) -> None:
    """omni-one at its sweep moment: "Account: All data is permanently deleted within 90 days" and the analytics
    of closed accounts "kept only anonymised". Counted in SQL before the sweep: the accounts closed more than 90
    days ago, and the analytics events of accounts closed that long ago. The report gives each rule's rows,
    batches and linked rows; each batch's audit entry names the rule, table, action, cutoff, first and last
    key, the rows, the rows per table and the people erased, before anything changes."""
    engine = deployment(tmp_path, "omni-one", f"sqlite:///{tmp_path / 'p.db'}", now=NOW)
    try:
        eng = engine.platform_engine("main")
        cut = T - timedelta(days=90)
        with eng.connect() as conn:
            doomed = sorted(r[0] for r in conn.execute(text(
                "SELECT id FROM users WHERE status = 'closed' AND closed_at < :cut"), {"cut": cut}))
            events = conn.execute(text(
                "SELECT COUNT(*) FROM analytics_events WHERE user_id IN "
                "(SELECT id FROM users WHERE closed_at < :cut)"), {"cut": cut}).scalar()
        assert doomed and events

        report = sweep.run(engine, NOW)
        targets = {t["rule"]: t for t in report["targets"]}
        closed, aggregates = targets["closed_accounts"], targets["closed_account_aggregates"]
        assert (closed["collection"], closed["action"], closed["rows"], closed["held"], closed["batches"],
                closed["done"], closed["anonymised_instead"]) == ("main.users", "erase", len(doomed), 0, 1, True, 0)
        assert closed["cascade"].get("conversations", 0) > 0 and "users" not in closed["cascade"]
        assert (aggregates["action"], aggregates["rows"], aggregates["cascade"]) == ("anonymise", events, {})
        assert report["total_rows"] == sum(t["rows"] + sum(t["cascade"].values()) for t in report["targets"])

        batches = {e["details"]["rule"]: e for e in engine.audit.entries(action="retention.sweep.batch")}
        erased = batches["closed_accounts"]
        d = erased["details"]
        assert erased["actor"] == "retention"
        assert erased["target"].startswith(f"retention:closed_accounts:main.users:{doomed[0]}-{doomed[-1]}:")
        assert (d["collection"], d["action"], d["first_pk"], d["last_pk"], d["rows"], d["people"]) == (
            "main.users", "delete", doomed[0], doomed[-1], len(doomed), len(doomed))
        assert datetime.fromisoformat(d["cutoff"]) == NOW - timedelta(days=90)
        assert d["tables"] == {**closed["cascade"], "users": len(doomed)}
        a = batches["closed_account_aggregates"]["details"]
        assert (a["action"], a["rows"], a["tables"], a["detached"], a["people"]) == (
            "anonymise", events, {"analytics_events": events}, 0, 0)
    finally:
        engine.close()


def test_a_held_message_keeps_its_expired_conversation_from_the_sweep(tmp_path: Path) -> None:
    """omni-one: "Individual conversations: Permanently deleted from our servers within 30 days", and a legal
    hold keeps what it names (OO-46). A hold on one message of a conversation deleted more than 30 days ago:
    the message is still there after the sweep (a message cannot outlive its conversation, so that
    conversation stays too), and the other expired conversations are gone."""
    engine = deployment(tmp_path, "omni-one", f"sqlite:///{tmp_path / 'p.db'}", now=NOW)
    try:
        eng = engine.platform_engine("main")
        cut = T - timedelta(days=30)
        with eng.connect() as conn:
            expired = [r[0] for r in conn.execute(text(
                "SELECT c.id FROM conversations c JOIN users u ON u.id = c.user_id WHERE c.deleted_at < :cut "
                "AND u.status <> 'closed' AND EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id) "
                "ORDER BY c.id"), {"cut": cut})]
            assert len(expired) >= 2
            message = conn.execute(text("SELECT MIN(id) FROM messages WHERE conversation_id = :c"),
                                   {"c": expired[0]}).scalar()
        Holds(engine).add_records("main.messages", ids=[message], reason="dispute 6/2027",
                                  expires_at=NOW + timedelta(days=365))

        report = sweep.run(engine, NOW)

        with eng.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM messages WHERE id = :m"), {"m": message}).scalar() == 1
            left = {r[0] for r in conn.execute(text("SELECT id FROM conversations"))}
        assert expired[0] in left and not set(expired[1:]) & left
        conv = next(t for t in report["targets"] if t["rule"] == "deleted_conversations")
        assert conv["held"] == 1
    finally:
        engine.close()
