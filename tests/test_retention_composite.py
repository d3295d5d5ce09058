"""Retention sweeps on composite keys and exemptions dated through a reference (issue #15).

A shop built here, on SQLite, PostgreSQL and MariaDB:

* ``visits`` keyed by (email, visited_at) — a plain delete, swept by row-key ranges in
  batches of two, so keyset pages cross from one email to the next;
* ``shipments`` keyed by (order_id, seq) with ``shipment_events`` keyed by (order_id, seq,
  ev_no) and a composite foreign key — a cascade whose roots and children are composite,
  with one shipment under a legal hold named by its composite key;
* ``invoices`` and ``invoice_lines`` keyed by (invoice_id, line_no) under a tax exemption
  whose trigger (``issued_at``) only the invoice has: the lines are dated by their invoice
  and expire together with it, on both sides of the cutoff.

Every expectation is an independent SQL query on the database before the sweep, with
cutoffs computed here from the clock (not by the code under test).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    bindparam,
    select,
    text,
)
from sqlalchemy.engine import Engine as SAEngine

from pledge.connectors.base import ConnectorError
from pledge.engine import Engine
from pledge.retention import sweep
from pledge.retention.holds import Holds
from pledge.retention.rules import RuleError
from pledge.store.tables.core import erasure_ledger
from tests.erasure_exact_support import make_engine

NOW = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
VISIT_CUT = (NOW - timedelta(days=90)).replace(tzinfo=None)
SHIP_CUT = (NOW - timedelta(days=365)).replace(tzinfo=None)
TAX_CUT = NOW.replace(year=NOW.year - 5, tzinfo=None)  # P5Y
INVOICE_CUT = NOW.replace(year=NOW.year - 2, tzinfo=None)  # P2Y
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)


def schema() -> MetaData:
    md = MetaData()
    Table("visits", md, Column("email", String(120), primary_key=True),
          Column("visited_at", DateTime, primary_key=True), Column("page", String(100)))
    Table("shipments", md, Column("order_id", Integer, primary_key=True, autoincrement=False),
          Column("seq", Integer, primary_key=True, autoincrement=False), Column("shipped_at", DateTime))
    Table("shipment_events", md, Column("order_id", Integer, primary_key=True, autoincrement=False),
          Column("seq", Integer, primary_key=True, autoincrement=False),
          Column("ev_no", Integer, primary_key=True, autoincrement=False), Column("status", String(40)),
          ForeignKeyConstraint(["order_id", "seq"], ["shipments.order_id", "shipments.seq"]))
    Table("invoices", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("issued_at", DateTime, nullable=False), Column("billing_name", String(100)))
    Table("invoice_lines", md, Column("invoice_id", Integer, ForeignKey("invoices.id"), primary_key=True),
          Column("line_no", Integer, primary_key=True, autoincrement=False), Column("description", String(100)))
    return md


def fill(eng: SAEngine, md: MetaData) -> None:
    visits = []
    for i, who in enumerate(["a@example.org", "b@example.org", "c@example.org"]):
        for at in (VISIT_CUT - 400 * DAY, VISIT_CUT - SECOND, VISIT_CUT, VISIT_CUT + SECOND, VISIT_CUT - 3 * DAY):
            visits.append({"email": who, "visited_at": at, "page": f"/{i}"})
    shipments, events = [], []
    for order in range(1, 5):
        for seq, at in enumerate((SHIP_CUT - 30 * DAY, SHIP_CUT - SECOND, SHIP_CUT, SHIP_CUT + DAY), start=1):
            shipments.append({"order_id": order, "seq": seq, "shipped_at": at})
            events += [{"order_id": order, "seq": seq, "ev_no": n, "status": "moved"} for n in (1, 2)]
    invoices = [{"id": 1, "issued_at": TAX_CUT - DAY, "billing_name": "Ann"},       # tax period over
                {"id": 2, "issued_at": TAX_CUT - SECOND, "billing_name": "Bob"},    # just over
                {"id": 3, "issued_at": TAX_CUT + SECOND, "billing_name": "Cy"},     # just inside it
                {"id": 4, "issued_at": INVOICE_CUT - DAY, "billing_name": "Di"},    # past the rule, taxed
                {"id": 5, "issued_at": INVOICE_CUT + DAY, "billing_name": "Ed"}]    # recent
    lines = [{"invoice_id": inv["id"], "line_no": n, "description": "tea"} for inv in invoices for n in (1, 2, 3)]
    with eng.begin() as conn:
        for name, rows in (("visits", visits), ("shipments", shipments), ("shipment_events", events),
                           ("invoices", invoices), ("invoice_lines", lines)):
            conn.execute(md.tables[name].insert(), rows)


def dataset(lines_reference: bool = True) -> dict[str, Any]:
    invoice_id: dict[str, Any] = {"name": "invoice_id", "primary_key": True}
    if lines_reference:
        invoice_id["references"] = [{"field": "invoices.id"}]
    return {"name": "shop", "databases": [{"name": "main", "collections": [
        {"name": "visits", "fields": [
            {"name": "email", "primary_key": True, "categories": ["user.contact.email"]},
            {"name": "visited_at", "primary_key": True}, {"name": "page"}]},
        {"name": "shipments", "fields": [
            {"name": "order_id", "primary_key": True}, {"name": "seq", "primary_key": True},
            {"name": "shipped_at"}]},
        {"name": "shipment_events", "fields": [
            {"name": "order_id", "primary_key": True}, {"name": "seq", "primary_key": True},
            {"name": "ev_no", "primary_key": True}, {"name": "status"}]},
        {"name": "invoices", "exemption": "tax_records", "fields": [
            {"name": "id", "primary_key": True}, {"name": "issued_at"},
            {"name": "billing_name", "categories": ["user.name"]}]},
        {"name": "invoice_lines", "exemption": "tax_records", "fields": [
            invoice_id, {"name": "line_no", "primary_key": True}, {"name": "description"}]},
    ]}]}


def rule(key: str, collection: str, trigger: str, period: str, **extra: Any) -> dict[str, Any]:
    return {"key": key, "name": key, "collections": [collection], "trigger": trigger, "period": period,
            "action": "delete", **extra}


POLICY: dict[str, Any] = {
    "version": "1", "controller": {"name": "Shop Ltd", "country": "PL"},
    "exemptions": [{"key": "tax_records", "name": "Tax records", "law": "Art. 86 Polish Tax Ordinance",
                    "period": "P5Y", "trigger": "issued_at",
                    "collections": ["main.invoices", "main.invoice_lines"]}],
    "retention": [
        rule("old_visits", "main.visits", "visited_at", "P90D"),
        rule("old_shipments", "main.shipments", "shipped_at", "P365D", cascade=True),
        rule("old_invoices", "main.invoices", "issued_at", "P2Y", cascade=True, exemptions=["tax_records"]),
        # the lines' own rule reads their invoice's date; the exemption keeps them as long as it
        rule("stale_lines", "main.invoice_lines", "main.invoices.issued_at", "P1Y", exemptions=["tax_records"]),
    ],
}


def shop(tmp_path: Path, url: str, **kw: Any) -> Engine:
    engine = make_engine(tmp_path / "cfg", url, dataset(**kw), POLICY, NOW)
    md = schema()
    eng = engine.platform_engine("main")
    md.create_all(eng)
    fill(eng, md)
    return engine


def keys(eng: SAEngine, sql: str, **params: Any) -> set[tuple[Any, ...]]:
    """Rows of an independent query; datetimes bound and read as DateTime on every engine."""
    stmt = text(sql).bindparams(*[bindparam(k, type_=DateTime) for k in params])
    with eng.connect() as conn:
        return {tuple(_naive(v) for v in r) for r in conn.execute(stmt, params)}


def _naive(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == " ":
        value = datetime.fromisoformat(value)  # SQLite hands text() datetimes back as text
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def table_keys(eng: SAEngine, table: str, cols: str) -> set[tuple[Any, ...]]:
    return keys(eng, f"SELECT {cols} FROM {table}")


def test_sweep_composite_keys_exactly_at_the_cutoff(any_db_url: str, tmp_path: Path) -> None:
    engine = shop(tmp_path, any_db_url)
    eng = engine.platform_engine("main")
    # a shipment past its period, held by its composite key: it and its events stay
    Holds(engine).add_records("main.shipments", ids=[[2, 1]], reason="customs dispute",
                              expires_at=NOW + timedelta(days=30))
    held = "(s.order_id = 2 AND s.seq = 1)"
    # what must survive, from plain SQL with cutoffs computed by the test
    want_visits = keys(eng, "SELECT email, visited_at FROM visits WHERE visited_at >= :c", c=VISIT_CUT)
    want_ships = keys(eng, f"SELECT order_id, seq FROM shipments s WHERE s.shipped_at >= :c OR {held}", c=SHIP_CUT)
    want_events = keys(eng, "SELECT e.order_id, e.seq, e.ev_no FROM shipment_events e JOIN shipments s ON "
                            f"s.order_id = e.order_id AND s.seq = e.seq WHERE s.shipped_at >= :c OR {held}",
                       c=SHIP_CUT)
    want_invoices = keys(eng, "SELECT id FROM invoices WHERE issued_at >= :c", c=TAX_CUT)
    want_lines = keys(eng, "SELECT l.invoice_id, l.line_no FROM invoice_lines l JOIN invoices i "
                           "ON i.id = l.invoice_id WHERE i.issued_at >= :c", c=TAX_CUT)
    # boundary on both sides: a second before the cutoff goes, the cutoff itself stays
    assert ("a@example.org", VISIT_CUT - SECOND) not in want_visits and ("a@example.org", VISIT_CUT) in want_visits
    assert (1, 2) not in want_ships and (1, 3) in want_ships and (2, 1) in want_ships
    assert want_invoices == {(3,), (4,), (5,)} and len(want_lines) == 9

    dry = sweep.plan(engine, NOW)
    by_rule = {t["rule"]: t for t in dry["targets"]}
    assert by_rule["old_visits"]["rows"] == 15 - len(want_visits)
    assert all(isinstance(k, list) and len(k) == 2 for k in by_rule["old_visits"]["sample_ids"])
    assert by_rule["stale_lines"]["rows"] == 6, "lines past the rule but inside the tax period are not swept"

    report = sweep.run(engine, NOW, batch_size=2, max_batch=2)
    assert report["status"] == "done"
    assert table_keys(eng, "visits", "email, visited_at") == want_visits
    assert table_keys(eng, "shipments", "order_id, seq") == want_ships
    assert table_keys(eng, "shipment_events", "order_id, seq, ev_no") == want_events
    assert table_keys(eng, "invoices", "id") == want_invoices
    assert table_keys(eng, "invoice_lines", "invoice_id, line_no") == want_lines
    results = {t["rule"]: t for t in report["targets"]}
    assert results["old_visits"]["rows"] == 15 - len(want_visits) and results["old_visits"]["batches"] > 2
    assert results["old_shipments"]["rows"] == 16 - len(want_ships)  # 16 shipments, two events each
    assert results["old_shipments"]["cascade"] == {"shipment_events": 2 * (16 - len(want_ships))}
    assert results["old_invoices"]["anonymised_instead"] == 0, "lines past the tax period do not block their invoice"
    assert results["old_invoices"]["cascade"] == {"invoice_lines": 6}
    # the sweep ledger names composite ranges by their row values
    with engine.store.connect() as conn:
        scopes = [r.scope for r in conn.execute(select(erasure_ledger)) if r.source == "retention"]
    visit_scopes = [s for s in scopes if s["rule"] == "old_visits"]
    assert visit_scopes and all(isinstance(s["first_pk"], list) and len(s["first_pk"]) == 2 for s in visit_scopes)
    # a second sweep finds nothing left to do
    assert sweep.run(engine, NOW)["total_rows"] == 0
    engine.close()


def test_lines_expire_with_their_invoice_a_day_later(tmp_path: Path) -> None:
    """The same invoice and lines, one side of the tax cutoff then the other."""
    clock = [NOW]
    url = f"sqlite:///{tmp_path / 'p.db'}"
    engine = make_engine(tmp_path / "cfg", url, dataset(), POLICY, lambda: clock[0])
    md = schema()
    eng = engine.platform_engine("main")
    md.create_all(eng)
    fill(eng, md)
    sweep.run(engine, NOW)
    assert (3,) in table_keys(eng, "invoices", "id")
    assert {k for k in table_keys(eng, "invoice_lines", "invoice_id, line_no") if k[0] == 3} == {(3, 1), (3, 2), (3, 3)}
    later = NOW + 2 * SECOND  # invoice 3's tax period ends one second after NOW
    sweep.run(engine, later)
    gone = keys(eng, "SELECT id FROM invoices WHERE id = 3") | keys(eng, "SELECT invoice_id FROM invoice_lines "
                                                                       "WHERE invoice_id = 3")
    assert gone == set(), "invoice 3 and its lines expire together"
    assert table_keys(eng, "invoices", "id") == {(4,), (5,)}
    engine.close()


def test_an_exemption_trigger_the_lines_cannot_reach_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    engine = shop(tmp_path, url, lines_reference=False)
    eng = engine.platform_engine("main")
    before = table_keys(eng, "invoice_lines", "invoice_id, line_no")
    with pytest.raises(RuleError, match=r"invoice_lines: exemption 'tax_records' runs from issued_at") as info:
        sweep.run(engine, NOW)
    assert "dataset.yaml:" in str(info.value) and "exemption_via" in str(info.value)
    assert table_keys(eng, "invoice_lines", "invoice_id, line_no") == before
    engine.close()


def test_tables_without_a_primary_key_follow_the_row_key_rule(tmp_path: Path) -> None:
    """A declared UNIQUE NOT NULL key names the rows a sweep deletes; a table with no such key
    is refused before anything runs, with the data map's file:line and the fix."""
    url = f"sqlite:///{tmp_path / 'p.db'}"
    md = MetaData()
    Table("pings", md, Column("device", String(40), nullable=False), Column("at", DateTime, nullable=False),
          UniqueConstraint("device", "at"))
    Table("loose", md, Column("device", String(40)), Column("at", DateTime))
    ds = {"name": "shop", "databases": [{"name": "main", "collections": [
        {"name": "pings", "fields": [{"name": "device", "primary_key": True}, {"name": "at", "primary_key": True}]},
        {"name": "loose", "fields": [{"name": "device"}, {"name": "at"}]}]}]}
    policy = {**POLICY, "exemptions": [], "retention": [rule("old_pings", "main.pings", "at", "P90D")]}
    engine = make_engine(tmp_path / "cfg", url, ds, policy, NOW)
    eng = engine.platform_engine("main")
    md.create_all(eng)
    at = [VISIT_CUT - DAY, VISIT_CUT - SECOND, VISIT_CUT, VISIT_CUT + DAY]
    with eng.begin() as conn:
        conn.execute(md.tables["pings"].insert(), [{"device": d, "at": t} for d in ("x", "y") for t in at])
        conn.execute(md.tables["loose"].insert(), [{"device": "x", "at": at[0]}])
    want = keys(eng, "SELECT device, at FROM pings WHERE at >= :c", c=VISIT_CUT)
    with pytest.raises(ConnectorError, match=r"dataset.yaml:\d+.*'loose' has no primary key") as info:
        sweep.run(engine, NOW)
    assert "ADD PRIMARY KEY" in str(info.value)
    assert len(table_keys(eng, "pings", "device, at")) == 8, "nothing ran"
    engine.close()
    ds["databases"][0]["collections"].pop()  # without the table that cannot be keyed
    engine = make_engine(tmp_path / "cfg2", url, ds, policy, NOW)
    assert sweep.run(engine, NOW, batch_size=1, max_batch=1)["total_rows"] == 4
    assert table_keys(eng, "pings", "device, at") == want
    engine.close()


# -- an exemption whose trigger date is empty keeps nothing (as erasure rules) -------------------------
ORDER_CUT = NOW.replace(year=NOW.year - 1, tzinfo=None)  # the rule: P1Y from closed_at


def test_an_exemption_with_an_empty_trigger_date_does_not_keep_the_row(any_db_url: str, tmp_path: Path) -> None:
    """No trigger date, no proof of the obligation: the sweep deletes a row (and the lines
    dated through it) whose exemption trigger is empty, exactly as erasure does
    (``erasure_rows.clock_starts`` gives None, the row is erased normally); a row whose
    trigger lies inside the exemption's period is kept. Expectations from plain SQL."""
    md = MetaData()
    Table("orders", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("closed_at", DateTime, nullable=False), Column("invoiced_at", DateTime, nullable=True),
          Column("buyer", String(100)))
    Table("order_lines", md, Column("order_id", Integer, ForeignKey("orders.id"), primary_key=True),
          Column("line_no", Integer, primary_key=True, autoincrement=False), Column("item", String(100)))
    ds = {"name": "shop", "databases": [{"name": "main", "collections": [
        {"name": "orders", "exemption": "tax_records", "fields": [
            {"name": "id", "primary_key": True}, {"name": "closed_at"}, {"name": "invoiced_at"},
            {"name": "buyer", "categories": ["user.name"]}]},
        {"name": "order_lines", "exemption": "tax_records", "fields": [
            {"name": "order_id", "primary_key": True, "references": [{"field": "orders.id"}]},
            {"name": "line_no", "primary_key": True}, {"name": "item"}]}]}]}
    policy = {**POLICY,
              "exemptions": [{**POLICY["exemptions"][0], "trigger": "invoiced_at",
                              "collections": ["main.orders", "main.order_lines"]}],
              "retention": [rule("old_orders", "main.orders", "closed_at", "P1Y", cascade=True,
                                 exemptions=["tax_records"]),
                            rule("old_lines", "main.order_lines", "main.orders.closed_at", "P1Y",
                                 exemptions=["tax_records"])]}
    engine = make_engine(tmp_path / "cfg", any_db_url, ds, policy, NOW)
    eng = engine.platform_engine("main")
    md.create_all(eng)
    old = ORDER_CUT - 30 * DAY
    orders = [{"id": 1, "closed_at": old, "invoiced_at": None, "buyer": "Ann"},             # no date: not kept
              {"id": 2, "closed_at": old, "invoiced_at": TAX_CUT + DAY, "buyer": "Bob"},    # inside: kept
              {"id": 3, "closed_at": old, "invoiced_at": TAX_CUT - DAY, "buyer": "Cy"},     # period over
              {"id": 4, "closed_at": ORDER_CUT + DAY, "invoiced_at": None, "buyer": "Di"},  # rule not due
              {"id": 5, "closed_at": old, "invoiced_at": TAX_CUT + SECOND, "buyer": "Ed"}]  # just inside
    with eng.begin() as conn:
        conn.execute(md.tables["orders"].insert(), orders)
        conn.execute(md.tables["order_lines"].insert(),
                     [{"order_id": o["id"], "line_no": n, "item": "tea"} for o in orders for n in (1, 2)])
    # what must survive, from plain SQL: the rule is not due, or the exemption's date is set and inside
    keep = "o.closed_at >= :r OR (o.invoiced_at IS NOT NULL AND o.invoiced_at >= :t)"
    want_orders = keys(eng, f"SELECT o.id FROM orders o WHERE {keep}", r=ORDER_CUT, t=TAX_CUT)
    want_lines = keys(eng, f"SELECT l.order_id, l.line_no FROM order_lines l JOIN orders o ON o.id = l.order_id "
                           f"WHERE {keep}", r=ORDER_CUT, t=TAX_CUT)
    # both ways: the empty date goes, the dates inside the period stay
    assert (1,) not in want_orders and {(2,), (5,)} <= want_orders and want_orders == {(2,), (4,), (5,)}
    assert (1, 1) not in want_lines and (2, 1) in want_lines and len(want_lines) == 6

    report = sweep.run(engine, NOW)
    assert report["status"] == "done"
    assert table_keys(eng, "orders", "id") == want_orders
    assert table_keys(eng, "order_lines", "order_id, line_no") == want_lines
    assert sweep.run(engine, NOW)["total_rows"] == 0
    engine.close()
