"""Tests written for mutants of ``pledge.retention.sweep`` (``Sweep.run_target`` and its helpers) that
survived the suite (docs/mutation.md).

What a sweep owes across its batches and its interruptions (the module docstring of
:mod:`pledge.retention.sweep`, docs/retention.md "Sweeps"): a stopped sweep resumes from its checkpoints
(a finished target is not swept again, an open one carries on after its last batch, its rows counted
across the stop); each key range keeps its own checkpoints and stays inside its range; the report's
counters add up over every batch; every intent is marked done once its batch ran; plain deletes (nothing
cascades into the table) take the key-range road; ``anonymise`` changes the rule's fields only. Every
expectation is plain SQL on the databases, with cutoffs computed here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Column, DateTime, ForeignKey, Integer, MetaData, String, Table, text
from sqlalchemy.engine import Engine as SAEngine

from pledge.engine import Engine
from pledge.retention import sweep
from pledge.retention.holds import Holds
from tests.erasure_exact_support import make_engine
from tests.test_mutants_sweep_gaps import (
    CLOSED_LONG_AGO,
    DAY,
    INSIDE_TAX,
    NOW,
    OLD_PROJECTS,
    PAST_TAX,
    PROJECTS_DATASET,
    RULE_CUT,
    TAX,
    TAX_CUT,
    _fill,
    _ids,
    _policy,
    _rows,
    accounts_platform,
    mixed_keys_platform,
    projects_platform,
    projects_schema,
)


def _store_rows(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    with engine.store.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def _target(report: dict[str, Any], rule: str) -> dict[str, Any]:
    return next(t for t in report["targets"] if t["rule"] == rule)


# -- three targets: two plain deletes around a cascade ---------------------------------------------------
LOG_CUT = NOW.replace(tzinfo=None) - 30 * DAY


def three_schema() -> MetaData:
    md = MetaData()
    Table("logs", md, Column("id", Integer, primary_key=True, autoincrement=False), Column("at", DateTime))
    Table("projects", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("closed_at", DateTime))
    Table("tasks", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("project_id", Integer, ForeignKey("projects.id"), nullable=False))
    Table("events", md, Column("id", Integer, primary_key=True, autoincrement=False), Column("at", DateTime))
    return md


THREE_DATASET: dict[str, Any] = {"name": "work", "databases": [{"name": "main", "collections": [
    {"name": "logs", "fields": [{"name": "id", "primary_key": True}, {"name": "at"}]},
    {"name": "projects", "fields": [{"name": "id", "primary_key": True}, {"name": "closed_at"}]},
    {"name": "tasks", "fields": [{"name": "id", "primary_key": True}, {"name": "project_id"}]},
    {"name": "events", "fields": [{"name": "id", "primary_key": True}, {"name": "at"}]},
]}]}

# ``cascade: true`` on logs: nothing links into it, so it still is a plain delete (docs/retention.md)
THREE_RULES = [
    {"key": "old_logs", "name": "Old logs", "collections": ["main.logs"], "trigger": "at", "period": "P30D",
     "action": "delete", "cascade": True},
    {**OLD_PROJECTS, "exemptions": []},
    {"key": "old_events", "name": "Old events", "collections": ["main.events"], "trigger": "at",
     "period": "P30D", "action": "delete"},
]


def three_platform(tmp_path: Path) -> tuple[Engine, SAEngine]:
    policy = {**_policy(*THREE_RULES), "exemptions": []}
    engine = make_engine(tmp_path / "cfg", f"sqlite:///{tmp_path / 'p.db'}", THREE_DATASET, policy, NOW)
    md = three_schema()
    eng = engine.platform_engine("main")
    md.create_all(eng)
    old, new = LOG_CUT - DAY, LOG_CUT + DAY
    _fill(eng, md, {
        "logs": [{"id": i, "at": old if i <= 3 else new} for i in range(1, 6)],
        "projects": [{"id": i, "closed_at": CLOSED_LONG_AGO if i <= 2 else RULE_CUT + DAY} for i in (1, 2, 3)],
        "tasks": [{"id": 1, "project_id": 1}, {"id": 2, "project_id": 3}],
        "events": [{"id": i, "at": old if i <= 6 else new} for i in range(1, 9)]})
    return engine, eng


def test_a_resumed_sweep_reports_finished_targets_as_done_and_counts_rows_across_the_stop(
        tmp_path: Path) -> None:
    """Module docstring of pledge.retention.sweep and docs/retention.md: ``max_rows`` stops a sweep between
    batches and "the next run carries on"; "a killed sweep resumes from its checkpoints with the clock it
    started with". A target finished before the stop is done: the resumed sweep, even one stopped at once by
    a passed deadline ("a stopped sweep plans nothing new"), reports it done with the rows it deleted and
    does not sweep it again (one ``retention.sweep.target`` summary per plain-delete target). The open target
    carries on inside its range and its rows count those deleted before the stop. Logs have ``cascade: true``
    but nothing links into them: a plain delete, swept by key ranges (``retention.sweep.range``)."""
    engine, eng = three_platform(tmp_path)
    try:
        logs = len(_rows(eng, "SELECT id FROM logs WHERE at < :c", c=LOG_CUT))
        projects = len(_rows(eng, "SELECT id FROM projects WHERE closed_at < :c", c=RULE_CUT))
        cascade = len(_rows(eng, "SELECT t.id FROM tasks t JOIN projects p ON p.id = t.project_id "
                                 "WHERE p.closed_at < :c", c=RULE_CUT))
        events = len(_rows(eng, "SELECT id FROM events WHERE at < :c", c=LOG_CUT))
        assert (logs, projects, cascade, events) == (3, 2, 1, 6)

        first = sweep.run(engine, NOW, max_rows=logs + projects + cascade + 2, batch_size=1)
        assert (first["status"], first["stopped_by"]) == ("partial", "max_rows")
        assert [(t["rule"], t["done"]) for t in first["targets"]] == [
            ("old_logs", True), ("old_projects", True), ("old_events", False)]
        assert len(_rows(eng, "SELECT id FROM events WHERE at < :c", c=LOG_CUT)) == events - 2
        ranges = [e for e in engine.audit.entries(action="retention.sweep.range")
                  if e["details"]["rule"] == "old_logs"]
        assert ranges, "a table nothing links into is swept by key ranges"

        passed = sweep.run(engine, NOW, until=datetime.now(UTC) - timedelta(seconds=1))
        assert (passed["status"], passed["stopped_by"], passed["resumed"]) == ("partial", "until", True)
        assert [(t["rule"], t["done"], t["rows"]) for t in passed["targets"][:2]] == [
            ("old_logs", True, logs), ("old_projects", True, projects)]
        assert len(passed["targets"]) == 3

        rest = sweep.run(engine, NOW)
        assert (rest["status"], rest["resumed"]) == ("done", True)
        assert [(t["rule"], t["done"], t["rows"]) for t in rest["targets"]] == [
            ("old_logs", True, logs), ("old_projects", True, projects), ("old_events", True, events)]
        summaries = [e for e in engine.audit.entries(action="retention.sweep.target")
                     if e["details"]["rule"] == "old_logs"]
        assert len(summaries) == 1, "a finished target is not swept again"
        assert _rows(eng, "SELECT id FROM events WHERE at < :c", c=LOG_CUT) == []
    finally:
        engine.close()


def test_a_resumed_cascade_sweep_carries_on_after_its_last_batch(tmp_path: Path) -> None:
    """docs/retention.md: each batch writes its intent and audit entry, then "a checkpoint in the store's
    checkpoints table"; a stopped sweep resumes from it. With one project per batch, every expired project
    is named by exactly one ``retention.sweep.batch`` entry over the stopped sweep and its resumption (an
    anonymised project, still expired, is not planned again), and the report counts the projects deleted
    before and after the stop."""
    engine, eng = projects_platform(tmp_path)
    try:
        expired = [r[0] for r in _rows(eng, "SELECT id FROM projects WHERE closed_at < :c ORDER BY id",
                                       c=RULE_CUT)]
        kept = {r[0] for r in _rows(
            eng, "SELECT p.id FROM projects p WHERE p.closed_at < :c AND (EXISTS (SELECT 1 FROM invoices i "
                 "WHERE i.project_id = p.id AND i.issued_at >= :t) OR EXISTS (SELECT 1 FROM members m "
                 "WHERE m.project_id = p.id))", c=RULE_CUT, t=TAX_CUT)}
        assert expired == [1, 2, 3, 4, 5, 6, 7] and kept == {2, 4}

        first = sweep.run(engine, NOW, max_rows=3, batch_size=1)
        assert first["status"] == "partial"
        assert 1 not in _ids(eng, "projects") and 4 in _ids(eng, "projects")
        rest = sweep.run(engine, NOW, batch_size=1)
        assert (rest["status"], rest["resumed"]) == ("done", True)

        named = sorted(e["details"]["first_pk"] for e in engine.audit.entries(action="retention.sweep.batch"))
        assert named == expired, "each project is planned in one batch only"
        assert _ids(eng, "projects") == kept | {8}
        assert _target(rest, "old_projects")["rows"] == len(expired) - len(kept)
    finally:
        engine.close()


def test_a_key_range_sweep_keeps_its_own_checkpoints_and_its_lower_bound(tmp_path: Path) -> None:
    """docs/retention.md: ``start_pk``/``end_pk`` "bound the leading column of the row key, so a sweep can be
    split into tasks (each range keeps its own checkpoints)". A full sweep stopped after project 1, then a
    sweep from project 5 on: the ranged sweep leaves projects 2-4 alone (project 3 is plainly deletable) and
    does not touch the full sweep's checkpoints, so the full sweep resumes and finishes its own work."""
    engine, eng = projects_platform(tmp_path)
    try:
        first = sweep.run(engine, NOW, max_rows=1, batch_size=1)
        assert first["status"] == "partial" and 1 not in _ids(eng, "projects")
        before = _rows(eng, "SELECT * FROM projects WHERE id < 5 ORDER BY id")

        ranged = sweep.run(engine, NOW, start_pk=5)
        assert (ranged["status"], ranged["resumed"]) == ("done", False)
        assert _rows(eng, "SELECT * FROM projects WHERE id < 5 ORDER BY id") == before
        assert _ids(eng, "projects") & {5, 6, 7} == set()

        rest = sweep.run(engine, NOW)
        assert (rest["status"], rest["resumed"]) == ("done", True)
        assert _ids(eng, "projects") == {2, 4, 8}, "the resumed full sweep deletes project 3"
    finally:
        engine.close()


def test_the_report_adds_up_every_batch_and_every_intent_is_marked_done(tmp_path: Path) -> None:
    """docs/retention.md: a sweep leaves alone "any root whose cascade would reach a held row", with
    everything below it (a watcher of a held project keeps its link); projects whose tax invoices or members
    are kept are anonymised instead. One project per batch: the report counts every batch, every held and
    every anonymised project, and as rows the projects deleted; each batch's ledger intent is "done" once it
    ran (erasure_ledger.status: intent | done)."""
    engine, eng = projects_platform(tmp_path)
    try:
        with eng.begin() as conn:
            conn.execute(text("INSERT INTO notes (id, project_id, body) VALUES (2, 6, 'disputed')"))
        Holds(engine).add_records("main.tasks", ids=[1], reason="dispute 1", expires_at=NOW + 30 * DAY)
        Holds(engine).add_records("main.notes", ids=[2], reason="dispute 2", expires_at=NOW + 30 * DAY)
        held = {r[0] for r in _rows(eng, "SELECT project_id FROM tasks WHERE id = 1 UNION "
                                         "SELECT project_id FROM notes WHERE id = 2")}
        assert held == {1, 6}

        report = sweep.run(engine, NOW, batch_size=1)

        target = _target(report, "old_projects")
        assert (target["batches"], target["held"], target["anonymised_instead"], target["rows"]) == (7, 2, 2, 3)
        assert _ids(eng, "projects") == {1, 2, 4, 6, 8}
        assert _rows(eng, "SELECT id, project_id FROM watchers") == [(1, 6)], "a held project's rows stay linked"
        statuses = _store_rows(engine, "SELECT status FROM erasure_ledger WHERE source = 'retention'")
        assert len(statuses) == 7 and {s for (s,) in statuses} == {"done"}
    finally:
        engine.close()


def test_closed_accounts_are_erased_in_batches_and_the_report_adds_them_up(tmp_path: Path) -> None:
    """docs/retention.md: ``--batch-size`` sets the batches of targets other than plain deletes; a table
    of people is erased person by person's rows. One person per batch: three batches, one held person (their
    conversation is held) and two rows of people changed (user 2 pseudonymised, user 3 deleted)."""
    engine, eng = accounts_platform(tmp_path)
    try:
        Holds(engine).add_records("main.conversations", ids=[1], reason="dispute", expires_at=NOW + 30 * DAY)
        report = sweep.run(engine, NOW, batch_size=1)
        target = _target(report, "closed_accounts")
        assert (target["batches"], target["held"], target["rows"]) == (3, 1, 2)
        assert _ids(eng, "users") == {1, 2}
    finally:
        engine.close()


def test_expired_rows_whose_keys_mix_numbers_and_text_are_deleted_together(tmp_path: Path) -> None:
    """docs/retention.md: "Rows are named by their row key", whatever it holds; on SQLite a key column
    without a type keeps each value's type. Two expired projects named 2 and 'p-4', with nothing kept below
    them, go in one cascade batch."""
    engine, eng = mixed_keys_platform(tmp_path, {
        "projects": [{"id": 2, "name": "A", "closed_at": CLOSED_LONG_AGO},
                     {"id": "p-4", "name": "B", "closed_at": CLOSED_LONG_AGO},
                     {"id": 5, "name": "C", "closed_at": RULE_CUT + DAY}],
        "invoices": [{"id": 1, "project_id": 2, "issued_at": PAST_TAX},
                     {"id": "i-2", "project_id": "p-4", "issued_at": PAST_TAX}]})
    try:
        report = sweep.run(engine, NOW)
        assert report["status"] == "done"
        assert _rows(eng, "SELECT id FROM projects") == [(5,)]
        assert _rows(eng, "SELECT id FROM invoices") == []
    finally:
        engine.close()


def test_an_anonymise_rule_with_cascade_changes_only_its_fields(tmp_path: Path) -> None:
    """pledge.retention.rules: "anonymise: the rule's fields" are masked; the cascade (rows linking to a
    deleted row) belongs to deletes, so an anonymised project keeps every row linked to it as it was: its
    watcher (a table of people, nullable link) keeps its link, its held note stays."""
    rule = {**OLD_PROJECTS, "key": "anon_projects", "action": "anonymise", "fields": ["name"]}
    engine = make_engine(tmp_path / "cfg", f"sqlite:///{tmp_path / 'p.db'}",
                         PROJECTS_DATASET, _policy(rule), NOW)
    eng = engine.platform_engine("main")
    try:
        md = projects_schema()
        md.create_all(eng)
        _fill(eng, md, {"projects": [{"id": 1, "name": "P1", "owner_email": "o1@example.org",
                                      "closed_at": CLOSED_LONG_AGO},
                                     {"id": 2, "name": "P2", "owner_email": "o2@example.org",
                                      "closed_at": CLOSED_LONG_AGO}],
                        "watchers": [{"id": 1, "project_id": 1, "email": "wes@example.org"}],
                        "notes": [{"id": 1, "project_id": 2, "body": "held"}]})
        Holds(engine).add_records("main.notes", ids=[1], reason="dispute", expires_at=NOW + 30 * DAY)
        report = sweep.run(engine, NOW)
        assert report["status"] == "done"
        assert _rows(eng, "SELECT id, name FROM projects ORDER BY id") == [(1, None), (2, None)]
        assert _rows(eng, "SELECT id, project_id, email FROM watchers") == [(1, 1, "wes@example.org")]
        assert _rows(eng, "SELECT id, project_id FROM notes") == [(1, 2)]
    finally:
        engine.close()


# -- two roots sharing a row: one held, one kept ----------------------------------------------------------
def shared_schema() -> MetaData:
    md = MetaData()
    Table("projects", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("name", String(100)), Column("closed_at", DateTime))
    Table("invoices", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
          Column("issued_at", DateTime, nullable=False))
    Table("links", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("a_project_id", Integer, ForeignKey("projects.id"), nullable=False),
          Column("b_project_id", Integer, ForeignKey("projects.id"), nullable=True))
    return md


SHARED_DATASET: dict[str, Any] = {"name": "work", "databases": [{"name": "main", "collections": [
    {"name": "projects", "fields": [{"name": "id", "primary_key": True},
                                    {"name": "name", "categories": ["user.name"]}, {"name": "closed_at"}]},
    {"name": "invoices", "fields": [{"name": "id", "primary_key": True}, {"name": "project_id"},
                                    {"name": "issued_at"}]},
    {"name": "links", "fields": [{"name": "id", "primary_key": True}, {"name": "a_project_id"},
                                 {"name": "b_project_id"}]},
]}]}


def test_roots_sharing_a_row_stay_held_when_one_is_held_and_the_other_kept(tmp_path: Path) -> None:
    """Module docstring of pledge.retention.sweep: "Roots whose cascades share a row stay or go together";
    _SharedRoots.spread: a group is "held when any root of the group is held (nothing of it changes), else
    kept (anonymised)". Project 1's invoice is held, project 2's invoice is inside the tax period, and a
    link row ties both projects: both stay exactly as they were, neither is anonymised."""
    tax = {**TAX, "collections": ["main.invoices"]}
    policy = {**_policy(OLD_PROJECTS), "exemptions": [tax]}
    engine = make_engine(tmp_path / "cfg", f"sqlite:///{tmp_path / 'p.db'}", SHARED_DATASET, policy, NOW)
    eng = engine.platform_engine("main")
    try:
        md = shared_schema()
        md.create_all(eng)
        _fill(eng, md, {"projects": [{"id": 1, "name": "P1", "closed_at": CLOSED_LONG_AGO},
                                     {"id": 2, "name": "P2", "closed_at": CLOSED_LONG_AGO}],
                        "invoices": [{"id": 1, "project_id": 1, "issued_at": PAST_TAX},
                                     {"id": 2, "project_id": 2, "issued_at": INSIDE_TAX}],
                        "links": [{"id": 1, "a_project_id": 1, "b_project_id": 2}]})
        Holds(engine).add_records("main.invoices", ids=[1], reason="dispute", expires_at=NOW + 30 * DAY)
        before = _rows(eng, "SELECT * FROM projects ORDER BY id")
        report = sweep.run(engine, NOW)
        assert report["status"] == "done"
        assert _rows(eng, "SELECT * FROM projects ORDER BY id") == before
        target = _target(report, "old_projects")
        assert (target["held"], target["anonymised_instead"]) == (2, 0)
    finally:
        engine.close()


def test_the_moment_of_a_plan_is_kept_and_a_naive_one_is_utc(tmp_path: Path) -> None:
    """pledge.retention.sweep.plan: "what a sweep at ``now`` would do"; the report's ``now`` is that moment.
    An aware moment in another zone is the same instant; a naive one is read as UTC (the engine's clock and
    every stored time are UTC)."""
    engine, _eng = projects_platform(tmp_path)
    try:
        elsewhere = NOW.astimezone(timezone(timedelta(hours=5)))
        assert datetime.fromisoformat(sweep.plan(engine, elsewhere)["now"]) == NOW
        naive = sweep.plan(engine, NOW.replace(tzinfo=None))["now"]
        assert datetime.fromisoformat(naive) == NOW
    finally:
        engine.close()


def test_a_declared_reference_cascades_like_a_foreign_key(tmp_path: Path) -> None:
    """Module docstring of pledge.retention.sweep: the cascade follows "live and declared foreign keys".
    Comments name their project by a reference declared in the data map only (no FOREIGN KEY in the
    database): an expired project's comments go with it, a recent project's stay."""
    dataset: dict[str, Any] = {"name": "work", "databases": [{"name": "main", "collections": [
        {"name": "projects", "fields": [{"name": "id", "primary_key": True}, {"name": "closed_at"}]},
        {"name": "comments", "fields": [
            {"name": "id", "primary_key": True},
            {"name": "project_id", "references": [{"field": "main.projects.id", "direction": "from"}]},
            {"name": "body"}]},
    ]}]}
    policy = {**_policy({**OLD_PROJECTS, "exemptions": []}), "exemptions": []}
    engine = make_engine(tmp_path / "cfg", f"sqlite:///{tmp_path / 'p.db'}", dataset, policy, NOW)
    eng = engine.platform_engine("main")
    try:
        md = MetaData()
        Table("projects", md, Column("id", Integer, primary_key=True, autoincrement=False),
              Column("closed_at", DateTime))
        Table("comments", md, Column("id", Integer, primary_key=True, autoincrement=False),
              Column("project_id", Integer, nullable=False), Column("body", String(100)))
        md.create_all(eng)
        _fill(eng, md, {"projects": [{"id": 1, "closed_at": CLOSED_LONG_AGO}, {"id": 2, "closed_at": RULE_CUT + DAY}],
                        "comments": [{"id": 1, "project_id": 1, "body": "a"}, {"id": 2, "project_id": 2, "body": "b"}]})
        gone = {r[0] for r in _rows(eng, "SELECT c.id FROM comments c JOIN projects p ON p.id = c.project_id "
                                         "WHERE p.closed_at < :c", c=RULE_CUT)}
        assert gone == {1}
        report = sweep.run(engine, NOW)
        assert report["status"] == "done"
        assert _ids(eng, "projects") == {2} and _ids(eng, "comments") == {2}
        assert _target(report, "old_projects")["cascade"] == {"comments": 1}
    finally:
        engine.close()
