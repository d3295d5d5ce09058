"""Tests written for mutants of ``pledge.retention.rules`` that survived the suite (docs/mutation.md).

Each one pins a behaviour the older tests left loose: the exact error a bad condition gets
(every message ends with the list of what is allowed, so matching a word like "IS NULL"
anywhere in it proved nothing), numbers in conditions, and the year-end exemption bound on
the first instant of a year; and (2026-12-07, the full run of the module) what ``compile_rules``
makes of a policy: anonymise strategies, triggers, the exemptions that keep rows of the rule's
table or of what its cascade reaches, and each refusal with its reason and data-map line.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, DateTime, Float, ForeignKey, Integer, MetaData, String, Table, text

from pledge.dataplane.selection import Before, Hop
from pledge.engine import Engine
from pledge.policy.model import Exemption
from pledge.retention import sweep
from pledge.retention.rules import (
    ConditionError,
    ExemptClock,
    RuleError,
    Target,
    compile_rules,
    exemption_bound,
    parse_condition,
)
from tests.erasure_exact_support import make_engine


@pytest.fixture
def table() -> Table:
    return Table("people", MetaData(), Column("id", Integer, primary_key=True),
                 Column("status", String(20)), Column("score", Float))


@pytest.mark.parametrize(("cond", "message"), [
    ("status = NULL", "compare with NULL using IS NULL or IS NOT NULL (position 9)"),
    ("status IS 'x'", "IS must be followed by NULL or NOT NULL"),
    ("(status = 'x' status", "a parenthesis is not closed"),
    ("status = 'x' AND", "it ends too early"),
])
def test_a_bad_condition_gets_its_own_message(table: Table, cond: str, message: str) -> None:
    with pytest.raises(ConditionError) as info:
        parse_condition(cond, table)
    head = str(info.value).split("; allowed:")[0]
    assert head == f"condition {cond!r}: {message}"


def test_numbers_keep_their_kind(table: Table) -> None:
    params = parse_condition("score > 2.5 AND id = 3", table).compile().params
    values = sorted(params.values())
    assert values == [2.5, 3]
    assert [type(v) for v in values] == [float, int]


def _tax(year_end: bool) -> Exemption:
    return Exemption(key="tax", name="Tax records", law="a tax law", period="P5Y",
                     trigger="issued_at", year_end=year_end, collections=["main.invoices"])


@pytest.mark.parametrize(("now", "bound"), [
    # the cutoff (now - 5 years) falls inside 2026: everything issued before 2026 is past its period
    (datetime(2031, 6, 15, 12, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)),
    (datetime(2031, 1, 1, 0, 0, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)),
    # the cutoff is exactly 1 January 2026 00:00: 2025's records are still inside their period
    (datetime(2031, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)),
    # a moment with minutes, seconds and microseconds: the bound is still 1 January at midnight
    (datetime(2031, 6, 15, 12, 34, 56, 789, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)),
])
def test_year_end_exemption_bound_on_both_sides_of_new_year(now: datetime, bound: datetime) -> None:
    assert exemption_bound(_tax(True), now) == bound


def test_exemption_without_year_end_counts_from_the_trigger() -> None:
    now = datetime(2031, 6, 15, 12, tzinfo=UTC)
    assert exemption_bound(_tax(False), now) == datetime(2026, 6, 15, 12, tzinfo=UTC)


# -- compiling a policy (compile_rules), on a small SQLite schema --------------------------------
NOW = datetime(2026, 6, 1, tzinfo=UTC)
YEAR_AGO = (NOW - timedelta(days=365)).replace(tzinfo=None)


def _schema() -> MetaData:
    md = MetaData()
    Table("accounts", md, Column("id", Integer, primary_key=True), Column("nickname", String(100)),
          Column("closed_at", DateTime), Column("created_at", DateTime))
    Table("notes", md, Column("id", Integer, primary_key=True), Column("account_id", Integer, ForeignKey("accounts.id")),
          Column("body", String(100)), Column("written_at", DateTime), Column("extra", String(10)))
    Table("invoices", md, Column("id", Integer, primary_key=True), Column("issued_at", DateTime, nullable=False))
    Table("invoice_lines", md, Column("invoice_id", Integer, ForeignKey("invoices.id"), primary_key=True),
          Column("line_no", Integer, primary_key=True, autoincrement=False))
    Table("receipts", md, Column("id", Integer, primary_key=True), Column("paid_at", DateTime))
    Table("archive", md, Column("id", Integer, primary_key=True), Column("filed_at", DateTime))  # not in the data map
    Table("scratch", md, Column("id", Integer, primary_key=True), Column("kept_at", DateTime))   # not in the data map
    Table("orders", md, Column("id", Integer, primary_key=True), Column("issued_at", DateTime),
          Column("placed_at", DateTime))
    Table("visits", md, Column("id", Integer, primary_key=True), Column("account_ref", Integer))  # no SQL foreign key
    Table("comments", md, Column("id", Integer, primary_key=True), Column("note_id", Integer, ForeignKey("notes.id")),
          Column("account_id", Integer, ForeignKey("accounts.id")))
    Table("ledger", md, Column("id", Integer, primary_key=True))
    Table("logbook", md, Column("line", String(100)), Column("written_at", DateTime))             # no primary key
    return md


def _dataset(lines_reference: bool = True, logbook: bool = False) -> dict[str, Any]:
    line_invoice: dict[str, Any] = {"name": "invoice_id", "primary_key": True}
    if lines_reference:
        line_invoice["references"] = [{"field": "invoices.id"}]
    return {"name": "t", "databases": [{"name": "main", "collections": [
        {"name": "accounts", "fields": [{"name": "id", "primary_key": True}, {"name": "nickname", "erasure": "redact"},
                                        {"name": "closed_at"}, {"name": "created_at"}]},
        {"name": "notes", "fields": [{"name": "id", "primary_key": True},
                                     {"name": "account_id", "references": [{"field": "accounts.id"}]},
                                     {"name": "body"}, {"name": "written_at"}]},
        # the data map keeps invoices for the accounting law; a rule's own exemption naming them comes first
        {"name": "invoices", "exemption": "accounts_act", "fields": [{"name": "id", "primary_key": True},
                                                                     {"name": "issued_at"}]},
        {"name": "invoice_lines", "fields": [line_invoice, {"name": "line_no", "primary_key": True}]},
        # kept by an exemption the data map names (no exemption names the table)
        {"name": "comments", "fields": [{"name": "id", "primary_key": True},
                                        {"name": "note_id", "references": [{"field": "notes.id"}]},
                                        {"name": "account_id", "references": [{"field": "accounts.id"}]}]},
        {"name": "ledger", "exemption": "not_in_the_policy", "fields": [{"name": "id", "primary_key": True}]},
        {"name": "receipts", "exemption": "books", "fields": [{"name": "id", "primary_key": True}, {"name": "paid_at"}]},
        {"name": "orders", "fields": [{"name": "id", "primary_key": True}, {"name": "issued_at"}, {"name": "placed_at"}]},
        {"name": "visits", "fields": [{"name": "id", "primary_key": True},
                                      {"name": "account_ref", "references": [{"field": "accounts.id"}]}]},
    ] + ([{"name": "logbook", "fields": [{"name": "line"}, {"name": "written_at"}]}] if logbook else [])}]}


def _exemption(key: str, trigger: str, collections: list[str], period: str = "P5Y") -> dict[str, Any]:
    return {"key": key, "name": key, "law": "a law", "period": period, "trigger": trigger, "collections": collections}


EXEMPTIONS = [
    _exemption("tax", "issued_at", ["main.invoices", "main.invoice_lines"]),
    _exemption("books", "paid_at", []),
    _exemption("accounts_act", "issued_at", [], period="P10Y"),
    # names no tables: applies wherever its trigger can be read
    _exemption("general", "issued_at", []),
    # a table outside the data map: its clock is the trigger's last part, if the table has that column
    _exemption("archived", "main.archive.filed_at", ["main.archive", "main.scratch", "other.archive", "other.orders"]),
]


def _rule(key: str, collection: str, trigger: str, **extra: Any) -> dict[str, Any]:
    return {"key": key, "name": key, "collections": [collection], "trigger": trigger, "period": "P1Y", **extra}


def _engine(tmp_path: Path, rules: list[dict[str, Any]], lines_reference: bool = True, logbook: bool = False) -> Engine:
    policy = {"version": "1", "controller": {"name": "Shop Ltd", "country": "PL"}, "exemptions": EXEMPTIONS,
              "retention": rules}
    engine = make_engine(tmp_path / "cfg", f"sqlite:///{tmp_path / 'p.db'}", _dataset(lines_reference, logbook), policy, NOW)
    _schema().create_all(engine.platform_engine("main"))
    return engine


def _targets(engine: Engine) -> dict[str, Target]:
    return {t.collection: t for t in compile_rules(engine)}


def test_anonymise_fields_take_the_written_strategy_else_the_data_maps_else_null(tmp_path: Path) -> None:
    """Module contract: ``name`` or ``name:strategy``; default the field's own strategy in the
    data map, else null; a foreign key among the fields is detached, not masked."""
    engine = _engine(tmp_path, [
        _rule("notes", "main.notes", "written_at", action="anonymise", fields=["body:hmac", " extra ", "account_id"]),
        _rule("accounts", "main.accounts", "closed_at", action="anonymise", fields=["nickname", "created_at:redact"]),
    ])
    targets = _targets(engine)
    assert targets["main.notes"].fields == {"body": "hmac", "extra": "null"}  # extra: a column the data map omits
    assert targets["main.notes"].detach == ["account_id"]
    assert targets["main.accounts"].fields == {"nickname": "redact", "created_at": "redact"}
    engine.close()


def test_a_coalesce_trigger_reads_each_column_in_turn(tmp_path: Path) -> None:
    engine = _engine(tmp_path, [_rule("acc", "main.accounts", "coalesce(closed_at, created_at)", action="delete")])
    trigger = _targets(engine)["main.accounts"].trigger
    assert (trigger.table, trigger.columns) == ("accounts", ("closed_at", "created_at"))
    engine.close()


def test_an_anonymise_rule_that_only_cuts_a_link_cuts_it_once(tmp_path: Path) -> None:
    """Notes written more than a year ago lose their link to the account; a second sweep finds
    nothing left to do (a row already anonymised is not selected again)."""
    engine = _engine(tmp_path, [_rule("cut", "main.notes", "written_at", action="anonymise", fields=["account_id"])])
    eng = engine.platform_engine("main")
    with eng.begin() as conn:
        conn.execute(text("INSERT INTO accounts (id, nickname) VALUES (1, 'ann')"))
        for i, at in enumerate((YEAR_AGO - timedelta(days=30), YEAR_AGO - timedelta(days=1),
                                YEAR_AGO + timedelta(days=1), NOW.replace(tzinfo=None)), start=1):
            conn.execute(text("INSERT INTO notes (id, account_id, body, written_at) VALUES (:i, 1, 'x', :at)"),
                         {"i": i, "at": at})
    assert sweep.plan(engine, NOW)["total_rows"] == 2
    sweep.run(engine, NOW)
    with eng.connect() as conn:
        linked = dict(conn.execute(text("SELECT id, account_id FROM notes")).all())
    assert linked == {1: None, 2: None, 3: 1, 4: 1}
    assert sweep.plan(engine, NOW)["total_rows"] == 0
    engine.close()


@pytest.mark.parametrize(("rule", "needles"), [
    (_rule("n", "main.notes", "written_at", action="anonymise", fields=["nosuch"]),
     ["rule 'n'", "'nosuch'", "main.notes"]),
    (_rule("n", "main.invoice_lines", "main.invoices.issued_at", action="anonymise", fields=["invoice_id"]),
     ["rule 'n'", "invoice_lines.invoice_id", "NOT NULL foreign key; it cannot be cut from an anonymised row"]),
    (_rule("n", "main.notes", "written_at", action="anonymise", fields=["body:shuffle"]),
     ["rule 'n'", "'body'", "'shuffle'", "null, redact, hmac"]),
    (_rule("n", "main.notes", "written_at", action="anonymise", fields=[]),
     ["rule 'n'", "needs fields"]),
    (_rule("n", "main.notes", "written_at", action="delete", condition="nosuch = 1"),
     ["nosuch"]),
])
def test_a_rule_that_cannot_be_enforced_is_refused_with_its_reason(tmp_path: Path, rule: dict[str, Any],
                                                                   needles: list[str]) -> None:
    engine = _engine(tmp_path, [rule])
    with pytest.raises(RuleError) as info:
        compile_rules(engine)
    for needle in needles:
        assert needle in str(info.value)
    engine.close()


def test_a_cascade_knows_every_table_an_exemption_keeps(tmp_path: Path) -> None:
    """``kept_by``: the tables the rule's exemptions name in this database (those outside the
    data map only if they have the trigger's column), then those the data map marks."""
    engine = _engine(tmp_path, [_rule("old_accounts", "main.accounts", "closed_at", action="delete", cascade=True,
                                      exemptions=["tax", "archived"])])
    kept = _targets(engine)["main.accounts"].kept_by
    assert {name: (c.exemption.key, c.column) for name, c in kept.items()} == {
        "invoices": ("tax", "issued_at"), "invoice_lines": ("tax", "issued_at"),
        "archive": ("archived", "filed_at"), "receipts": ("books", "paid_at")}
    assert kept["invoice_lines"].hops  # dated by its invoice
    engine.close()


def test_a_cascade_over_an_exempt_table_it_cannot_date_is_refused(tmp_path: Path) -> None:
    """The tax exemption names the invoice lines, but the data map gives them no way to their
    invoice's date: the rule is refused, pointing at the lines in the data map."""
    engine = _engine(tmp_path, [_rule("old_invoices", "main.invoices", "issued_at", action="delete", cascade=True,
                                      exemptions=["tax"])], lines_reference=False)
    dataset = tmp_path / "cfg" / "dataset.yaml"
    line = next(n for n, t in enumerate(dataset.read_text().splitlines(), start=1) if "name: invoice_lines" in t)
    with pytest.raises(RuleError) as info:
        compile_rules(engine)
    message = str(info.value)
    assert message.startswith(f"{dataset}:{line}")
    assert ": rule 'old_invoices': " in message and "invoice_lines" in message
    engine.close()


def test_an_exemption_clock_started_before_a_moment_reads_its_own_column_and_path() -> None:
    """``started_before``: rows whose exemption trigger (here, or on the row the hops lead to) is
    before the moment; the proof of retention uses it (pledge.prove.retention)."""
    hops = (Hop(("invoice_id",), "invoices", ("id",)),)
    moment = datetime(2021, 1, 1, tzinfo=UTC)
    clock = ExemptClock(Exemption(key="tax", name="Tax", law="a tax law", period="P5Y", trigger="issued_at"),
                        "issued_at", hops)
    assert clock.started_before(moment) == Before(("issued_at",), moment, hops)


def test_exemptions_keep_rows_of_the_rules_own_table_only_where_they_apply(tmp_path: Path) -> None:
    """An exemption that names tables keeps rows only of those; one that names none applies
    wherever its trigger can be read (orders have issued_at, accounts do not)."""
    engine = _engine(tmp_path, [
        _rule("old_orders", "main.orders", "placed_at", action="delete", exemptions=["tax", "general"]),
        _rule("old_accounts", "main.accounts", "closed_at", action="delete", exemptions=["tax", "general"]),
    ])
    targets = _targets(engine)
    assert [(c.exemption.key, c.column) for c in targets["main.orders"].own] == [("general", "issued_at")]
    assert [ex.key for ex in targets["main.orders"].exemptions] == ["tax", "general"]  # the rule's, for its proof
    assert targets["main.accounts"].own == []
    engine.close()


def test_an_exemption_on_the_rules_own_table_it_cannot_date_is_refused(tmp_path: Path) -> None:
    engine = _engine(tmp_path, [_rule("stale_lines", "main.invoice_lines", "main.invoices.issued_at",
                                      action="delete", cascade=False, exemptions=["tax"])], lines_reference=False)
    dataset = tmp_path / "cfg" / "dataset.yaml"
    line = next(n for n, t in enumerate(dataset.read_text().splitlines(), start=1) if "name: invoice_lines" in t)
    with pytest.raises(RuleError) as info:
        compile_rules(engine)
    assert str(info.value).startswith(f"{dataset}:{line}")
    assert ": rule 'stale_lines': " in str(info.value)
    engine.close()


def test_a_trigger_in_a_table_linked_only_by_the_data_map_is_read_through_that_link(tmp_path: Path) -> None:
    engine = _engine(tmp_path, [_rule("old_visits", "main.visits", "main.accounts.closed_at", action="delete")])
    trigger = _targets(engine)["main.visits"].trigger
    assert (trigger.text, trigger.table, trigger.columns) == ("main.accounts.closed_at", "accounts", ("closed_at",))
    assert trigger.via is not None and (trigger.via.columns, trigger.via.parent) == (("account_ref",), "accounts")
    engine.close()


def test_a_trigger_in_a_linked_table_is_read_through_the_link_to_that_table(tmp_path: Path) -> None:
    """Comments link to a note and to an account: the account's closing date is read through
    the comment's own link to the account."""
    engine = _engine(tmp_path, [_rule("old_comments", "main.comments", "main.accounts.closed_at", action="delete")])
    via = _targets(engine)["main.comments"].trigger.via
    assert via is not None and (via.child, via.columns, via.parent) == ("comments", ("account_id",), "accounts")
    engine.close()


@pytest.mark.parametrize(("trigger", "collection", "needles"), [
    ("other.accounts.closed_at", "main.accounts", ["rule 'n'", "must name a column"]),
    ("coalesce(closed_at, main.notes.written_at)", "main.accounts", ["rule 'n'", "mixes tables"]),
    ("main.no_such_table.closed_at", "main.notes", ["rule 'n'", "main.no_such_table", "does not exist"]),
    ("closed", "main.accounts", ["rule 'n'", "'closed'", "(columns: id, nickname, closed_at, created_at)"]),
    ("main.accounts.closed_at", "main.orders", ["rule 'n'", "main.orders has no foreign key to accounts"]),
])
def test_a_trigger_that_cannot_be_read_is_refused_with_its_reason(tmp_path: Path, trigger: str, collection: str,
                                                                  needles: list[str]) -> None:
    engine = _engine(tmp_path, [_rule("n", collection, trigger, action="delete")])
    with pytest.raises(RuleError) as info:
        compile_rules(engine)
    for needle in needles:
        assert needle in str(info.value)
    engine.close()


def test_only_a_cascading_delete_looks_for_exempt_tables(tmp_path: Path) -> None:
    """``kept_by`` is what a cascade may reach; a rule that does not cascade reaches nothing."""
    engine = _engine(tmp_path, [
        _rule("plain", "main.accounts", "closed_at", action="delete", cascade=False, exemptions=["tax", "archived"]),
        _rule("masked", "main.notes", "written_at", action="anonymise", fields=["body"], cascade=True,
              exemptions=["tax", "archived"]),
    ])
    assert {c: t.kept_by for c, t in _targets(engine).items()} == {"main.accounts": {}, "main.notes": {}}
    engine.close()


@pytest.mark.parametrize(("rule", "needles"), [
    ({"key": "n", "name": "n", "collections": ["main.notes"], "trigger": "written_at", "action": "delete"},
     ["rule 'n'", "no period"]),
    (_rule("n", "main.notes", "written_at", action="delete", exemptions=["no_such_law"]),
     ["rule 'n'", "'no_such_law'"]),
    (_rule("n", "main.no_such_table", "written_at", action="delete"),
     ["rule 'n'", "'main.no_such_table'"]),
])
def test_a_rule_naming_what_is_not_there_is_refused(tmp_path: Path, rule: dict[str, Any], needles: list[str]) -> None:
    engine = _engine(tmp_path, [rule])
    with pytest.raises(RuleError) as info:
        compile_rules(engine)
    for needle in needles:
        assert needle in str(info.value)
    engine.close()


def test_a_rule_on_a_table_without_a_primary_key_is_refused_pointing_at_the_data_map(tmp_path: Path) -> None:
    engine = _engine(tmp_path, [_rule("old_log", "main.logbook", "written_at", action="delete")], logbook=True)
    dataset = tmp_path / "cfg" / "dataset.yaml"
    line = next(n for n, t in enumerate(dataset.read_text().splitlines(), start=1) if "name: logbook" in t)
    with pytest.raises(RuleError) as info:
        compile_rules(engine)
    assert str(info.value) == (f"{dataset}:{line}: rule 'old_log': main.logbook has no primary key, so its rows "
                               "cannot be named; add one, or a UNIQUE key of NOT NULL columns marked primary_key: true "
                               "in the data map")
    engine.close()
