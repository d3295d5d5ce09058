"""Tests written for mutants of ``pledge.retention.sweep`` that no test reached (docs/mutation.md).

A small workspace platform built here on SQLite: ``projects`` (not a table of people) swept with
``action: delete`` and ``cascade: true`` one year after they close, with rows linking to them on
NOT NULL and nullable links: plain tasks, invoices and receipts kept by a tax exemption for five
years, members and watchers (tables of people), notes under a legal hold. The cascade contract
(docs/retention.md, "cascade"; the module docstring of :mod:`pledge.retention.sweep`): a linked row
that is held, sits in a table of people or is inside an exemption's legal period is detached when
its link is nullable; otherwise its root is not deleted (held: left alone; exempt: anonymised
instead). Every expectation is plain SQL on the database, with cutoffs computed here.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Column, DateTime, ForeignKey, Integer, MetaData, String, Table, text
from sqlalchemy.engine import Engine as SAEngine

from pledge.engine import Engine
from pledge.retention import sweep
from pledge.retention.holds import Holds
from tests.erasure_exact_support import make_engine

NOW = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
RULE_CUT = NOW.replace(year=NOW.year - 1, tzinfo=None)  # P1Y after a project closes
TAX_CUT = NOW.replace(year=NOW.year - 5, tzinfo=None)  # P5Y after an invoice is issued
DAY = timedelta(days=1)
CLOSED_LONG_AGO = RULE_CUT - 100 * DAY
INSIDE_TAX = TAX_CUT + 400 * DAY
PAST_TAX = TAX_CUT - 400 * DAY

TAX = {"key": "tax_records", "name": "Tax records", "law": "Art. 86 Polish Tax Ordinance", "period": "P5Y",
       "trigger": "issued_at", "collections": ["main.invoices", "main.receipts"]}


def _policy(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"version": "1", "controller": {"name": "Work Ltd", "country": "PL"}, "exemptions": [TAX],
            "retention": list(rules)}


OLD_PROJECTS = {"key": "old_projects", "name": "Closed projects", "collections": ["main.projects"],
                "trigger": "closed_at", "period": "P1Y", "action": "delete", "cascade": True,
                "exemptions": ["tax_records"]}


def _rows(eng: SAEngine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with eng.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def _ids(eng: SAEngine, table: str) -> set[int]:
    return {r[0] for r in _rows(eng, f"SELECT id FROM {table}")}


def _fill(eng: SAEngine, md: MetaData, rows: dict[str, list[dict[str, Any]]]) -> None:
    with eng.begin() as conn:
        for name, values in rows.items():
            conn.execute(md.tables[name].insert(), values)


def pseudonym(secret: str, value: str, length: int) -> str:
    """The ``hmac`` strategy of :mod:`pledge.dataplane.masking`: ``pz_`` and the hex HMAC-SHA256 of the
    value keyed with the deployment's subject key, cut to fit the column (at most 32 digits)."""
    digest = hmac.new(secret.encode(), b"pledge-pseudonym:" + value.encode(), hashlib.sha256).hexdigest()
    return "pz_" + digest[:max(6, min(32, length - 3))]


# -- the projects platform ------------------------------------------------------------------------
def projects_schema() -> MetaData:
    md = MetaData()
    Table("projects", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("name", String(100)), Column("owner_email", String(120)), Column("closed_at", DateTime))
    Table("tasks", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("project_id", Integer, ForeignKey("projects.id"), nullable=False), Column("title", String(100)))
    Table("invoices", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
          Column("issued_at", DateTime, nullable=False), Column("amount", Integer))
    Table("receipts", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("project_id", Integer, ForeignKey("projects.id"), nullable=True),
          Column("issued_at", DateTime, nullable=False), Column("amount", Integer))
    Table("members", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("project_id", Integer, ForeignKey("projects.id"), nullable=False), Column("email", String(120)))
    Table("watchers", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("project_id", Integer, ForeignKey("projects.id"), nullable=True), Column("email", String(120)))
    Table("notes", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("project_id", Integer, ForeignKey("projects.id"), nullable=True), Column("body", String(200)))
    return md


PROJECTS_DATASET: dict[str, Any] = {"name": "work", "databases": [{"name": "main", "collections": [
    {"name": "projects", "fields": [
        {"name": "id", "primary_key": True},
        {"name": "name", "categories": ["user.name"]},
        {"name": "owner_email", "categories": ["user.contact.email"], "erasure": "hmac"},
        {"name": "closed_at"}]},
    {"name": "tasks", "fields": [{"name": "id", "primary_key": True}, {"name": "project_id"}, {"name": "title"}]},
    {"name": "invoices", "fields": [{"name": "id", "primary_key": True}, {"name": "project_id"},
                                    {"name": "issued_at"}, {"name": "amount"}]},
    {"name": "receipts", "fields": [{"name": "id", "primary_key": True}, {"name": "project_id"},
                                    {"name": "issued_at"}, {"name": "amount"}]},
    {"name": "members", "fields": [{"name": "id", "primary_key": True}, {"name": "project_id"},
                                   {"name": "email", "identity": "email", "categories": ["user.contact.email"]}]},
    {"name": "watchers", "fields": [{"name": "id", "primary_key": True}, {"name": "project_id"},
                                    {"name": "email", "identity": "email", "categories": ["user.contact.email"]}]},
    {"name": "notes", "fields": [{"name": "id", "primary_key": True}, {"name": "project_id"}, {"name": "body"}]},
]}]}


def projects_platform(tmp_path: Path) -> tuple[Engine, SAEngine]:
    engine = make_engine(tmp_path / "cfg", f"sqlite:///{tmp_path / 'p.db'}", PROJECTS_DATASET,
                         _policy(OLD_PROJECTS), NOW)
    md = projects_schema()
    eng = engine.platform_engine("main")
    md.create_all(eng)
    projects = [{"id": i, "name": f"Project {i}", "owner_email": f"owner{i}@example.org",
                 "closed_at": CLOSED_LONG_AGO} for i in range(1, 9)]
    projects[7]["closed_at"] = RULE_CUT + DAY  # project 8 closed less than a year ago
    rows: dict[str, list[dict[str, Any]]] = {
        "projects": projects,
        "tasks": [{"id": 1, "project_id": 1, "title": "plain"}, {"id": 2, "project_id": 2, "title": "plain"}],
        "invoices": [{"id": 1, "project_id": 2, "issued_at": INSIDE_TAX, "amount": 100},
                     {"id": 2, "project_id": 3, "issued_at": PAST_TAX, "amount": 200}],
        "receipts": [{"id": 1, "project_id": 5, "issued_at": INSIDE_TAX, "amount": 10},
                     {"id": 2, "project_id": 5, "issued_at": PAST_TAX, "amount": 20}],
        "members": [{"id": 1, "project_id": 4, "email": "mia@example.org"}],
        "watchers": [{"id": 1, "project_id": 6, "email": "wes@example.org"}],
        "notes": [{"id": 1, "project_id": 7, "body": "plain"}],
    }
    _fill(eng, md, rows)
    return engine, eng


def test_a_kept_child_on_a_not_null_link_anonymises_its_root_and_a_nullable_one_is_detached(
        tmp_path: Path) -> None:
    """docs/retention.md, "cascade" (and the module docstring of pledge.retention.sweep): projects closed more
    than a year ago are deleted with cascade. A linked row inside the tax exemption's legal period or in a table
    of people keeps its root from being deleted when its link is NOT NULL: the project is anonymised instead
    (its personal fields masked with the data map's strategies: ``name`` NULL, ``owner_email`` the keyed
    ``hmac`` pseudonym) and the kept row stays as it was. On a nullable link the kept row is detached (link set
    NULL) and the project deleted. Plain children and rows past the exemption's period go with their project;
    a project closed less than a year ago is not touched."""
    engine, eng = projects_platform(tmp_path)
    try:
        expired = {r[0] for r in _rows(eng, "SELECT id FROM projects WHERE closed_at < :c", c=RULE_CUT)}
        # kept: a NOT NULL invoice inside the tax period, or a NOT NULL member (a table of people)
        anonymised = {r[0] for r in _rows(
            eng, "SELECT p.id FROM projects p WHERE p.closed_at < :c AND (EXISTS (SELECT 1 FROM invoices i "
                 "WHERE i.project_id = p.id AND i.issued_at >= :t) OR EXISTS (SELECT 1 FROM members m "
                 "WHERE m.project_id = p.id))", c=RULE_CUT, t=TAX_CUT)}
        deleted = expired - anonymised
        detached_receipts = {r[0] for r in _rows(
            eng, "SELECT id FROM receipts WHERE project_id IN (SELECT id FROM projects WHERE closed_at < :c) "
                 "AND issued_at >= :t", c=RULE_CUT, t=TAX_CUT)}
        before = {r[0]: r for r in _rows(eng, "SELECT id, name, owner_email, closed_at FROM projects")}
        assert anonymised == {2, 4} and deleted == {1, 3, 5, 6, 7} and detached_receipts == {1}

        report = sweep.run(engine, NOW)

        assert report["status"] == "done"
        assert _ids(eng, "projects") == set(before) - deleted
        secret = engine.keys.subject_secret
        for pid in sorted(anonymised):
            row = _rows(eng, "SELECT name, owner_email, closed_at FROM projects WHERE id = :i", i=pid)[0]
            assert row[0] is None, "a personal field without a strategy of its own is set NULL"
            assert row[1] == pseudonym(secret, before[pid][2], 120), "owner_email: its hmac strategy"
            assert row[2] == before[pid][3], "a field that is not personal is left as it is"
        untouched = set(before) - expired
        assert {r[0]: r for r in _rows(eng, "SELECT id, name, owner_email, closed_at FROM projects")
                if r[0] in untouched} == {i: before[i] for i in untouched}
        # the kept rows stay linked to the anonymised projects; their projects' other rows stay too
        assert _rows(eng, "SELECT id, project_id FROM invoices") == [(1, 2)]
        assert _rows(eng, "SELECT id, project_id, email FROM members") == [(1, 4, "mia@example.org")]
        assert _rows(eng, "SELECT id, project_id FROM tasks") == [(2, 2)]
        # nullable links: the kept row is detached, the rest of the project's rows go with it
        assert _rows(eng, "SELECT id, project_id FROM receipts") == [(i, None) for i in sorted(detached_receipts)]
        assert _rows(eng, "SELECT id, project_id, email FROM watchers") == [(1, None, "wes@example.org")]
        assert _ids(eng, "notes") == set(), "a plain row on a nullable link is deleted, not detached"
        target = report["targets"][0]
        assert (target["rule"], target["rows"], target["anonymised_instead"]) == (
            "old_projects", len(deleted), len(anonymised))
        assert target["cascade"] == {"tasks": 1, "invoices": 1, "receipts": 1, "notes": 1}
    finally:
        engine.close()


# -- a diamond: two links lead to the same row below the swept table --------------------------------
def diamond_schema() -> MetaData:
    md = MetaData()
    Table("projects", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("closed_at", DateTime))
    Table("boards", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("project_id", Integer, ForeignKey("projects.id"), nullable=False))
    Table("cards", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("project_id", Integer, ForeignKey("projects.id"), nullable=True),
          Column("board_id", Integer, ForeignKey("boards.id"), nullable=True))
    Table("comments", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("card_id", Integer, ForeignKey("cards.id"), nullable=False), Column("body", String(200)))
    return md


DIAMOND_DATASET: dict[str, Any] = {"name": "work", "databases": [{"name": "main", "collections": [
    {"name": "projects", "fields": [{"name": "id", "primary_key": True}, {"name": "closed_at"}]},
    {"name": "boards", "fields": [{"name": "id", "primary_key": True}, {"name": "project_id"}]},
    {"name": "cards", "fields": [{"name": "id", "primary_key": True}, {"name": "project_id"},
                                 {"name": "board_id"}]},
    {"name": "comments", "fields": [{"name": "id", "primary_key": True}, {"name": "card_id"},
                                    {"name": "body"}]},
]}]}


def diamond_platform(tmp_path: Path) -> tuple[Engine, SAEngine]:
    policy = {**_policy({**OLD_PROJECTS, "exemptions": []}), "exemptions": []}
    engine = make_engine(tmp_path / "cfg", f"sqlite:///{tmp_path / 'p.db'}", DIAMOND_DATASET, policy, NOW)
    md = diamond_schema()
    eng = engine.platform_engine("main")
    md.create_all(eng)
    rows: dict[str, list[dict[str, Any]]] = {
            "projects": [{"id": i, "closed_at": CLOSED_LONG_AGO} for i in (1, 2, 3, 4)]
            + [{"id": 5, "closed_at": RULE_CUT + DAY}],
            # card 1 hangs off project 1 and off project 2's board; card 2 only off that board
            "boards": [{"id": 1, "project_id": 2}, {"id": 2, "project_id": 4}, {"id": 3, "project_id": 5}],
            "cards": [{"id": 1, "project_id": 1, "board_id": 1}, {"id": 2, "project_id": None, "board_id": 1},
                      {"id": 3, "project_id": 3, "board_id": 2}, {"id": 4, "project_id": 5, "board_id": 3}],
            "comments": [{"id": 1, "card_id": 3, "body": "held"}, {"id": 2, "card_id": 2, "body": "plain"},
                         {"id": 3, "card_id": 1, "body": "plain"}]}
    _fill(eng, md, rows)
    return engine, eng


def test_rows_reached_twice_below_the_swept_table_go_with_their_projects_and_holds_keep_every_root(
        tmp_path: Path) -> None:
    """docs/retention.md: a deleted row takes the rows linking to it along ("rows linking to a deleted row go
    first", recursively), and a sweep leaves alone "any root whose cascade would reach a held row". Card 1
    links to project 1 and to a board of project 2; card 2 only to that board: both expired projects go with
    the board, both cards and their comments, whichever link reaches a card first. Card 3 links to project 3
    and to a held board of project 4, and a comment on it is held: projects 3 and 4 stay with all those
    rows. Project 5 closed less than a year ago and stays."""
    engine, eng = diamond_platform(tmp_path)
    try:
        Holds(engine).add_records("main.comments", ids=[1], reason="dispute 1", expires_at=NOW + 30 * DAY)
        Holds(engine).add_records("main.boards", ids=[2], reason="dispute 2", expires_at=NOW + 30 * DAY)
        expired = {r[0] for r in _rows(eng, "SELECT id FROM projects WHERE closed_at < :c", c=RULE_CUT)}
        assert expired == {1, 2, 3, 4}
        # what each expired project reaches, from SQL: its boards, the cards on it or on those boards, comments
        reach = {p: {r[0] for r in _rows(eng, "SELECT c.id FROM cards c LEFT JOIN boards b ON b.id = c.board_id "
                                             "WHERE c.project_id = :p OR b.project_id = :p", p=p)}
                 for p in expired}
        assert reach == {1: {1}, 2: {1, 2}, 3: {3}, 4: {3}}, "card 1 and card 3 are reached twice"

        report = sweep.run(engine, NOW)

        assert report["status"] == "done"
        assert _ids(eng, "projects") == {3, 4, 5}
        assert _ids(eng, "boards") == {2, 3}
        assert _ids(eng, "cards") == {3, 4}
        assert _ids(eng, "comments") == {1}
        target = report["targets"][0]
        assert (target["rows"], target["held"]) == (2, 2)
        assert target["cascade"] == {"boards": 1, "cards": 2, "comments": 2}
    finally:
        engine.close()


# -- closed accounts: a table of people erased person by person -----------------------------------
def test_a_held_row_reached_from_two_roots_keeps_both_roots(tmp_path: Path) -> None:
    """docs/retention.md, "Legal holds": a sweep leaves alone "any root whose cascade would reach a held
    row". Card 3 links to project 3 and to board 2 of project 4, and only a comment on card 3 is held
    (not the board, unlike the test above): both projects reach it, so both stay, with board 2 and card 3;
    deleting project 4 would leave card 3 pointing at a deleted board. Projects 1 and 2 share card 1 and
    nothing held: they go. (Found by this file's author: the sweep used to give each shared row to the first
    root that reached it and stopped with a foreign-key error.)"""
    engine, eng = diamond_platform(tmp_path)
    try:
        Holds(engine).add_records("main.comments", ids=[1], reason="dispute", expires_at=NOW + 30 * DAY)
        report = sweep.run(engine, NOW)
        assert report["status"] == "done"
        assert _ids(eng, "projects") == {3, 4, 5}
        assert _ids(eng, "boards") == {2, 3} and _ids(eng, "cards") == {3, 4} and _ids(eng, "comments") == {1}
    finally:
        engine.close()


def test_a_held_root_keeps_its_nullable_children_linked_while_the_others_are_detached(tmp_path: Path) -> None:
    """docs/retention.md, "Legal holds" and "cascade": a root whose cascade reaches a held row is left
    alone "with everything below it", and a row of a table of people on a nullable link is detached
    only from a root that is deleted. Projects 6 and 7 expire in one batch; each has a watcher (a row
    of people, nullable link); project 7's note is held. Project 6 goes and its watcher is detached;
    project 7, its note and its watcher's link stay as they were. (The sweep used to cut the held
    root's watcher too: it queued the detach before it knew the root was held.)"""
    engine, eng = projects_platform(tmp_path)
    try:
        with eng.begin() as conn:
            conn.execute(text("INSERT INTO watchers (id, project_id, email) VALUES (2, 7, 'wyn@example.org')"))
        Holds(engine).add_records("main.notes", ids=[1], reason="dispute", expires_at=NOW + 30 * DAY)
        report = sweep.run(engine, NOW)
        assert report["status"] == "done"
        assert 6 not in _ids(eng, "projects") and 7 in _ids(eng, "projects")
        assert _rows(eng, "SELECT id, project_id FROM watchers ORDER BY id") == [(1, None), (2, 7)]
        assert _rows(eng, "SELECT id, project_id FROM notes") == [(1, 7)]
    finally:
        engine.close()


def accounts_schema() -> MetaData:
    md = MetaData()
    Table("users", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("email", String(120), nullable=False), Column("name", String(100)),
          Column("closed_at", DateTime))
    Table("invoices", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
          Column("issued_at", DateTime, nullable=False), Column("amount", Integer))
    Table("conversations", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("user_id", Integer, ForeignKey("users.id"), nullable=False), Column("title", String(100)))
    return md


ACCOUNTS_DATASET: dict[str, Any] = {"name": "work", "databases": [{"name": "main", "collections": [
    {"name": "invoices", "exemption": "tax_records", "fields": [
        {"name": "id", "primary_key": True},
        {"name": "user_id", "references": [{"field": "main.users.id", "direction": "from"}]},
        {"name": "issued_at"}, {"name": "amount"}]},
    {"name": "users", "erasure": "delete", "fields": [
        {"name": "id", "primary_key": True, "identity": "user_id", "categories": ["user.unique_id"]},
        {"name": "email", "identity": "email", "categories": ["user.contact.email"], "erasure": "hmac"},
        {"name": "name", "categories": ["user.name"]}, {"name": "closed_at"}]},
    {"name": "conversations", "erasure": "delete", "fields": [
        {"name": "id", "primary_key": True},
        {"name": "user_id", "references": [{"field": "main.users.id", "direction": "from"}]},
        {"name": "title", "categories": ["user.content"]}]},
]}]}

CLOSED_ACCOUNTS = {"key": "closed_accounts", "name": "Closed accounts", "collections": ["main.users"],
                   "trigger": "closed_at", "period": "P1Y", "action": "delete", "cascade": True,
                   "exemptions": ["tax_records"]}


def accounts_platform(tmp_path: Path) -> tuple[Engine, SAEngine]:
    tax = {**TAX, "collections": ["main.invoices"]}
    policy = {**_policy(CLOSED_ACCOUNTS), "exemptions": [tax]}
    engine = make_engine(tmp_path / "cfg", f"sqlite:///{tmp_path / 'p.db'}", ACCOUNTS_DATASET, policy, NOW)
    md = accounts_schema()
    eng = engine.platform_engine("main")
    md.create_all(eng)
    users = [{"id": i, "email": f"user{i}@example.org", "name": f"User {i}", "closed_at": CLOSED_LONG_AGO}
             for i in (1, 2, 3)]
    rows: dict[str, list[dict[str, Any]]] = {
            "users": users,
            "invoices": [{"id": 1, "user_id": 1, "issued_at": INSIDE_TAX, "amount": 100},
                         {"id": 2, "user_id": 2, "issued_at": INSIDE_TAX, "amount": 200}],
            "conversations": [{"id": 1, "user_id": 1, "title": "held"}, {"id": 2, "user_id": 2, "title": "t"},
                              {"id": 3, "user_id": 3, "title": "t"}]}
    _fill(eng, md, rows)
    return engine, eng


def test_closed_accounts_a_held_conversation_keeps_its_person_and_the_others_are_pseudonymised(
        tmp_path: Path) -> None:
    """docs/retention.md: a table of people deleted with cascade is erased with the rights erasure planner,
    "tax records stay for their period"; a sweep leaves a person alone when any row of theirs is held ("Legal
    holds"), even when their plan keeps some rows unchanged before it reaches the held one (user 1's invoice
    is retained, their conversation is held). User 2's invoice keeps their row (NOT NULL link), so the row is
    anonymised: ``email`` becomes its ``hmac`` pseudonym (``pz_`` and HMAC-SHA256 keyed with the subject key,
    pledge.dataplane.masking), ``name`` NULL; their conversation goes. User 3 has no invoice: gone with it."""
    engine, eng = accounts_platform(tmp_path)
    try:
        Holds(engine).add_records("main.conversations", ids=[1], reason="dispute", expires_at=NOW + 30 * DAY)
        before = {r[0]: r for r in _rows(eng, "SELECT id, email, name, closed_at FROM users")}
        invoices = _rows(eng, "SELECT * FROM invoices ORDER BY id")
        kept = {r[0] for r in _rows(eng, "SELECT DISTINCT u.id FROM users u JOIN invoices i ON i.user_id = u.id "
                                         "WHERE i.issued_at >= :t", t=TAX_CUT)}
        assert kept == {1, 2}

        report = sweep.run(engine, NOW)

        assert report["status"] == "done"
        after = {r[0]: r for r in _rows(eng, "SELECT id, email, name, closed_at FROM users")}
        assert set(after) == {1, 2}
        assert after[1] == before[1], "the held person's row is not touched"
        assert after[2] == (2, pseudonym(engine.keys.subject_secret, before[2][1], 120), None, before[2][3])
        assert _rows(eng, "SELECT * FROM invoices ORDER BY id") == invoices, "tax records stay for their period"
        assert _ids(eng, "conversations") == {1}
        target = report["targets"][0]
        assert (target["rule"], target["action"], target["held"]) == ("closed_accounts", "erase", 1)
    finally:
        engine.close()


# -- keys of mixed types ----------------------------------------------------------------------------
MIXED_DATASET: dict[str, Any] = {"name": "work", "databases": [{"name": "main", "collections": [
    {"name": "projects", "fields": [{"name": "id", "primary_key": True},
                                    {"name": "name", "categories": ["user.name"]}, {"name": "closed_at"}]},
    {"name": "invoices", "fields": [{"name": "id", "primary_key": True}, {"name": "project_id"},
                                    {"name": "issued_at"}]},
    {"name": "receipts", "fields": [{"name": "id", "primary_key": True}, {"name": "project_id"},
                                    {"name": "issued_at"}]},
]}]}


def mixed_keys_platform(tmp_path: Path, rows: dict[str, list[dict[str, Any]]]) -> tuple[Engine, SAEngine]:
    """Projects, invoices and receipts whose key columns have no declared type (SQLite keeps each
    value's own type, so one table can name rows by 2 and by 'p-4'), filled with ``rows``."""
    engine = make_engine(tmp_path / "cfg", f"sqlite:///{tmp_path / 'p.db'}", MIXED_DATASET,
                         _policy(OLD_PROJECTS), NOW)
    eng = engine.platform_engine("main")
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE projects (id PRIMARY KEY NOT NULL, name VARCHAR(100), closed_at DATETIME)"))
        conn.execute(text("CREATE TABLE invoices (id PRIMARY KEY NOT NULL, project_id NOT NULL "
                          "REFERENCES projects (id), issued_at DATETIME NOT NULL)"))
        conn.execute(text("CREATE TABLE receipts (id PRIMARY KEY NOT NULL, project_id "
                          "REFERENCES projects (id), issued_at DATETIME NOT NULL)"))
    md = MetaData()
    md.reflect(eng)
    _fill(eng, md, rows)
    return engine, eng


def test_keys_that_mix_numbers_and_text_are_anonymised_and_detached_like_any_other(tmp_path: Path) -> None:
    """docs/retention.md: "Rows are named by their row key", whatever it holds. On SQLite a key column
    declared without a type keeps each value's own type, so one table can name rows by 2 and by 'p-4'.
    The cascade contract holds for them as for any key: the projects whose NOT NULL invoices are inside
    the tax period are anonymised instead of deleted (both of them), and the receipts inside it on a
    nullable link are detached (both of them) from the project that goes."""
    engine, eng = mixed_keys_platform(tmp_path, {
            "projects": [{"id": 2, "name": "A", "closed_at": CLOSED_LONG_AGO},
                         {"id": "p-4", "name": "B", "closed_at": CLOSED_LONG_AGO},
                         {"id": 5, "name": "C", "closed_at": CLOSED_LONG_AGO}],
            "invoices": [{"id": 1, "project_id": 2, "issued_at": INSIDE_TAX},
                         {"id": "i-2", "project_id": "p-4", "issued_at": INSIDE_TAX}],
            "receipts": [{"id": 1, "project_id": 5, "issued_at": INSIDE_TAX},
                         {"id": "r-2", "project_id": 5, "issued_at": INSIDE_TAX}]})
    try:
        assert _rows(eng, "SELECT typeof(id) FROM projects ORDER BY typeof(id)") == [
            ("integer",), ("integer",), ("text",)]
        anonymised = {r[0] for r in _rows(eng, "SELECT DISTINCT project_id FROM invoices WHERE issued_at >= :t",
                                          t=TAX_CUT)}
        assert anonymised == {2, "p-4"}

        report = sweep.run(engine, NOW)

        assert report["status"] == "done"
        assert set(_rows(eng, "SELECT id, name FROM projects")) == {(2, None), ("p-4", None)}
        assert set(_rows(eng, "SELECT id, project_id FROM invoices")) == {(1, 2), ("i-2", "p-4")}
        assert set(_rows(eng, "SELECT id, project_id FROM receipts")) == {(1, None), ("r-2", None)}
        assert report["targets"][0]["anonymised_instead"] == len(anonymised)
    finally:
        engine.close()
