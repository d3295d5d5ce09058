"""Exact erasure on a shop built here, on SQLite, PostgreSQL and MariaDB (issue #15).

Composite and declared keys, a report that equals the database diff field by field, an
exemption dated through a reference (invoice lines by their invoice) kept or removed as
one record set, no collateral erasure (an employee's erasure leaves the customers' data
in the requests they handled; an address two customers share stays), and a ledger that
brings erasures and rectifications back after a backup restore, even when the person's
email changed after the backup.
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
    Numeric,
    String,
    Table,
    UniqueConstraint,
    event,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine as SAEngine

from pledge.connectors.base import ConnectorError
from pledge.engine import Engine
from pledge.retention.ledger import subject_key
from pledge.retention.replay import replay
from pledge.rights.erasure import erase
from pledge.rights.erasure_plan import ErasurePlanError
from pledge.rights.rectify import rectify
from pledge.store.tables.core import erasure_ledger
from tests.erasure_exact_support import assert_report_is_diff, holds_value, make_engine, restore, snap

NOW = datetime(2026, 11, 1, tzinfo=UTC)
DECLARED = {"notes": ["customer_id", "note_no"]}
ANN = "Ann.Smith@Example.org"  # stored mixed-case; requests name her in lower case


def schema() -> MetaData:
    md = MetaData()
    Table("addresses", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("line", String(200), nullable=False))
    Table("customers", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("email", String(120), nullable=False, unique=True), Column("name", String(100), nullable=False),
          Column("address_id", Integer, ForeignKey("addresses.id"), nullable=True))
    Table("employees", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("email", String(120), nullable=False), Column("name", String(100)))
    Table("service_requests", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("customer_email", String(120), nullable=False),
          Column("handled_by", Integer, ForeignKey("employees.id"), nullable=True),
          Column("body", String(400)))
    Table("invoices", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
          Column("issued_at", DateTime, nullable=False), Column("total", Numeric(10, 2), nullable=False),
          Column("billing_name", String(100)), Column("billing_email", String(120)))
    Table("invoice_lines", md, Column("invoice_id", Integer, ForeignKey("invoices.id"), primary_key=True),
          Column("line_no", Integer, primary_key=True, autoincrement=False),
          Column("price", Numeric(10, 2), nullable=False), Column("description", String(200)))
    Table("line_notes", md, Column("invoice_id", Integer, primary_key=True, autoincrement=False),
          Column("line_no", Integer, primary_key=True, autoincrement=False),
          Column("note_no", Integer, primary_key=True, autoincrement=False), Column("text", String(200)),
          ForeignKeyConstraint(["invoice_id", "line_no"], ["invoice_lines.invoice_id", "invoice_lines.line_no"]))
    Table("notes", md, Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
          Column("note_no", Integer, nullable=False), Column("text", String(200), nullable=False),
          UniqueConstraint("customer_id", "note_no"))  # no primary key: the declared key names rows
    return md


def fill(eng: SAEngine, md: MetaData) -> None:
    old, recent = (NOW - timedelta(days=7 * 365)).replace(tzinfo=None), (NOW - timedelta(days=100)).replace(tzinfo=None)
    rows: dict[str, list[dict[str, Any]]] = {
        "addresses": [{"id": 1, "line": "1 Shared Street"}, {"id": 2, "line": "2 Own Road"}],
        "customers": [{"id": 1, "email": ANN, "name": "Ann Smith", "address_id": 1},
                      {"id": 2, "email": "bob@example.org", "name": "Bob Jones", "address_id": 1},
                      {"id": 3, "email": "cy@example.org", "name": "Cy Young", "address_id": 2}],
        "employees": [{"id": 1, "email": "eve@shop.example", "name": "Eve Clerk"},
                      {"id": 2, "email": "max@shop.example", "name": "Max Clerk"}],
        "service_requests": [
            {"id": 1, "customer_email": "ANN.SMITH@example.org", "handled_by": 1, "body": "Ann's parcel is late"},
            {"id": 2, "customer_email": "bob@example.org", "handled_by": 1, "body": "Bob wants a refund"},
            {"id": 3, "customer_email": "cy@example.org", "handled_by": 2, "body": "Cy asks"}],
        "invoices": [
            {"id": 1, "customer_id": 1, "issued_at": recent, "total": 30, "billing_name": "Ann Smith",
             "billing_email": ANN},
            {"id": 2, "customer_id": 1, "issued_at": old, "total": 12, "billing_name": "Ann Smith",
             "billing_email": ANN},
            {"id": 3, "customer_id": 2, "issued_at": recent, "total": 5, "billing_name": "Bob Jones",
             "billing_email": "bob@example.org"}],
        "invoice_lines": [{"invoice_id": 1, "line_no": 1, "price": 10, "description": "tea"},
                          {"invoice_id": 1, "line_no": 2, "price": 20, "description": "cups"},
                          {"invoice_id": 2, "line_no": 1, "price": 12, "description": "tea"},
                          {"invoice_id": 3, "line_no": 1, "price": 5, "description": "tea"}],
        "line_notes": [{"invoice_id": 2, "line_no": 1, "note_no": 1, "text": "gift wrap"},
                       {"invoice_id": 1, "line_no": 2, "note_no": 1, "text": "fragile"}],
        "notes": [{"customer_id": 1, "note_no": 1, "text": "likes tea"},
                  {"customer_id": 1, "note_no": 2, "text": "calls on Mondays"},
                  {"customer_id": 2, "note_no": 1, "text": "prefers email"}],
    }
    with eng.begin() as conn:
        for t in md.sorted_tables:
            conn.execute(t.insert(), rows[t.name])


def dataset(**changes: Any) -> dict[str, Any]:
    colls: list[dict[str, Any]] = [
        {"name": "customers", "erasure": "delete", "fields": [
            {"name": "id", "primary_key": True, "identity": "user_id"},
            {"name": "email", "identity": "email", "categories": ["user.contact.email"], "erasure": "hmac"},
            {"name": "name", "categories": ["user.name"], "rectifiable": True},
            {"name": "address_id", "references": [{"field": "addresses.id", "direction": "to"}]}]},
        {"name": "addresses", "erasure": "delete", "fields": [
            {"name": "id", "primary_key": True},
            {"name": "line", "categories": ["user.contact.address"]}]},
        {"name": "employees", "erasure": "delete", "fields": [
            {"name": "id", "primary_key": True},
            {"name": "email", "identity": "email", "categories": ["user.contact.email"]},
            {"name": "name", "categories": ["user.name"]}]},
        {"name": "service_requests", "erasure": "null", "fields": [
            {"name": "id", "primary_key": True},
            {"name": "customer_email", "identity": "email", "categories": ["user.contact.email"]},
            {"name": "handled_by", "references": [{"field": "employees.id"}]},
            {"name": "body", "categories": ["user.content"]}]},
        {"name": "invoices", "erasure": "delete", "exemption": "tax_records", "fields": [
            {"name": "id", "primary_key": True},
            {"name": "customer_id", "references": [{"field": "customers.id"}]},
            {"name": "issued_at"}, {"name": "total", "categories": ["user.financial"]},
            {"name": "billing_name", "categories": ["user.name"]},
            {"name": "billing_email", "categories": ["user.contact.email"]}]},
        {"name": "invoice_lines", "erasure": "delete", "exemption": "tax_records", "fields": [
            {"name": "invoice_id", "primary_key": True, "references": [{"field": "invoices.id"}]},
            {"name": "line_no", "primary_key": True},
            {"name": "price", "categories": ["user.financial"]}, {"name": "description"}]},
        {"name": "line_notes", "erasure": "delete", "exemption": "tax_records", "fields": [
            {"name": "invoice_id", "primary_key": True, "references": [{"field": "invoices.id"}]},
            {"name": "line_no", "primary_key": True}, {"name": "note_no", "primary_key": True},
            {"name": "text", "categories": ["user.content"]}]},
        {"name": "notes", "erasure": "delete", "fields": [
            {"name": "customer_id", "primary_key": True, "references": [{"field": "customers.id"}]},
            {"name": "note_no", "primary_key": True},
            {"name": "text", "categories": ["user.content"]}]},
    ]
    for name, patch in changes.items():
        coll = next(c for c in colls if c["name"] == name)
        if patch is None:
            colls.remove(coll)
        else:
            coll.update(patch)
    return {"name": "shop", "databases": [{"name": "main", "collections": colls}]}


POLICY = {
    "version": "1", "controller": {"name": "Shop Ltd", "country": "PL"},
    "exemptions": [{"key": "tax_records", "name": "Tax records", "law": "Art. 86 Polish Tax Ordinance",
                    "period": "P5Y", "trigger": "issued_at", "categories": ["user.name", "user.financial"],
                    "collections": ["main.invoices"]}],
}


def shop(tmp_path: Path, url: str, clock: list[datetime] | None = None, **changes: Any) -> Engine:
    moment = clock if clock is not None else [NOW]
    engine = make_engine(tmp_path / "cfg", url, dataset(**changes), POLICY, lambda: moment[0])
    md = schema()
    eng = engine.platform_engine("main")
    md.create_all(eng)
    fill(eng, md)
    return engine


def statements(eng: SAEngine) -> list[str]:
    seen: list[str] = []

    @event.listens_for(eng, "before_cursor_execute")
    def _count(conn: Any, cursor: Any, stmt: str, *args: Any) -> None:
        seen.append(stmt)

    return seen


def test_erase_a_customer_exactly(any_db_url: str, tmp_path: Path) -> None:
    engine = shop(tmp_path, any_db_url)
    eng = engine.platform_engine("main")
    before = snap(eng, DECLARED)
    dry = erase(engine, {"email": ANN.lower()}, plan=True)
    assert snap(eng, DECLARED) == before
    issued = statements(eng)
    report = erase(engine, {"email": ANN.lower()})
    after = snap(eng, DECLARED)
    for part in ("deleted", "masked", "retained", "shared", "others"):
        assert dry[part] == [{**e} for e in report[part]], part
    assert_report_is_diff(report, before, after)
    # composite keys: the old invoice goes with its lines and their notes, set-based
    assert 2 not in after["invoices"] and (2, 1) not in after["invoice_lines"] and (2, 1, 1) not in after["line_notes"]
    writes = [s for s in issued if s.lstrip().upper().startswith(("UPDATE", "DELETE"))]
    assert len(writes) <= 12, writes
    # the recent invoice and its lines are one record set, kept together and still adding up
    kept = {e["collection"]: e for e in report["masked"] + report["retained"] if e.get("exemption")}
    assert after["invoices"][1]["total"] == before["invoices"][1]["total"]
    assert after["invoices"][1]["billing_email"] is None and after["invoices"][1]["billing_name"] == "Ann Smith"
    assert {k for k in after["invoice_lines"] if k[0] == 1} == {(1, 1), (1, 2)}
    assert kept["main.invoice_lines"]["until"] == kept["main.invoices"]["until"] == "2031-07-24"
    assert "invoices.issued_at" in kept["main.invoice_lines"]["reason"]
    # declared keys name the rows of a table without a primary key
    assert set(after["notes"]) == {(2, 1)}
    # the customer row stays (a kept invoice needs it), anonymised; the report says how
    users = next(e for e in report["masked"] if e["collection"] == "main.customers")
    assert users["fields"] == {"email": "hash", "name": "[redacted]"} and "instead of deleted" in users["reason"]
    # her service request is hers: masked; the NOT NULL email got a marker and says so
    sr = next(e for e in report["masked"] if e["collection"] == "main.service_requests")
    assert sr["ids"] == [1] and sr["fields"] == {"customer_email": "[redacted]", "body": "null"}
    # the address Bob also uses stays as it is, listed as other people's
    assert after["addresses"][1] == before["addresses"][1]
    assert any(e["collection"] == "main.addresses" and e["ids"] == [1] for e in report["others"])
    # complete: nothing outside the exemption holds her email, in any case
    exempt = {("invoices", 1)}
    assert holds_value(after, ANN, skip=exempt) == set()
    assert report["totals"] == {"deleted": 5, "masked": 4, "retained": 2}
    engine.close()


def test_erasing_an_employee_leaves_customers_data(any_db_url: str, tmp_path: Path) -> None:
    engine = shop(tmp_path, any_db_url)
    eng = engine.platform_engine("main")
    before = snap(eng, DECLARED)
    report = erase(engine, {"email": "eve@shop.example"})
    after = snap(eng, DECLARED)
    assert_report_is_diff(report, before, after)
    assert 1 not in after["employees"]
    for sr in (1, 2):  # the customers' requests she handled keep everything but her link
        assert after["service_requests"][sr] == {**before["service_requests"][sr], "handled_by": None}
    shared = {(e["collection"], k) for e in report["shared"] for k in e["ids"]}
    assert shared == {("main.service_requests", 1), ("main.service_requests", 2)}
    assert all(e.get("detached") == ["handled_by"] and not e.get("fields") for e in report["shared"])
    engine.close()


def test_declared_owner_decides_whose_a_row_is(tmp_path: Path) -> None:
    """With ``owner: [handled_by]`` the requests are the employee's: erased with her."""
    engine = shop(tmp_path, f"sqlite:///{tmp_path / 'p.db'}",
                  service_requests={"owner": ["handled_by"], "erasure": "delete"})
    eng = engine.platform_engine("main")
    before = snap(eng, DECLARED)
    report = erase(engine, {"email": "eve@shop.example"})
    after = snap(eng, DECLARED)
    assert_report_is_diff(report, before, after)
    assert set(after["service_requests"]) == {3}
    engine.close()


def test_data_maps_that_cannot_be_honoured_are_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    # a misspelt column: refused before anything changes, never a false "done"
    engine = shop(tmp_path / "a", url, service_requests={"fields": [
        {"name": "id", "primary_key": True},
        {"name": "customer_email", "identity": "email", "categories": ["user.contact.email"]},
        {"name": "bodyy", "categories": ["user.content"]}]})
    before = snap(engine.platform_engine("main"), DECLARED)
    with pytest.raises((ErasurePlanError, ConnectorError), match="bodyy"):
        erase(engine, {"email": ANN})
    assert snap(engine.platform_engine("main"), DECLARED) == before
    engine.close()
    # lines under an exemption whose trigger they cannot reach
    engine = make_engine(tmp_path / "b", url, dataset(invoice_lines={"fields": [
        {"name": "invoice_id", "primary_key": True}, {"name": "line_no", "primary_key": True}]}), POLICY, NOW)
    with pytest.raises(ErasurePlanError, match="invoice_lines: exemption 'tax_records' runs from issued_at"):
        erase(engine, {"email": ANN}, plan=True)
    engine.close()
    # a table without a primary key whose declared key the database does not keep unique
    engine = make_engine(tmp_path / "c", url, dataset(notes={"fields": [
        {"name": "customer_id", "primary_key": True, "references": [{"field": "customers.id"}]},
        {"name": "text", "primary_key": True, "categories": ["user.content"]}]}), POLICY, NOW)
    with pytest.raises(ConnectorError, match="'notes' has no primary key"):
        erase(engine, {"email": ANN}, plan=True)
    engine.close()


def test_ledger_replay_after_restore_even_when_the_email_changed(any_db_url: str, tmp_path: Path) -> None:
    clock = [NOW]
    engine = shop(tmp_path, any_db_url, clock)
    eng = engine.platform_engine("main")
    backup = snap(eng, DECLARED)  # the backup: Ann still has her old address
    with eng.begin() as conn:  # then she changes her email on the platform
        conn.execute(update(engine.connectors.get("main").table("customers"))  # type: ignore[attr-defined]
                     .where(text("id = 1")).values(email="ann.new@example.org"))
    rectify(engine, {"email": "bob@example.org"}, {"name": "Robert Jones"})
    report = erase(engine, {"email": "ann.new@example.org"})
    erased = snap(eng, DECLARED)
    with engine.store.connect() as conn:
        entries = [dict(r._mapping) for r in conn.execute(select(erasure_ledger).order_by(erasure_ledger.c.id))]
    rect, ledger = entries
    assert rect["source"] == "rectify" and "Robert" not in str(rect)  # sealed, never in clear
    secret = engine.keys.subject_secret
    keys = ledger["subject_keys"]
    assert subject_key(secret, "user_id", "1") in keys["user_id"]  # found while erasing, not named
    assert subject_key(secret, "email", "ann.new@example.org") in keys["email"]
    # the restore brings Ann (under her old email) and Bob's old name back; replay undoes it
    restore(eng, backup)
    later = NOW + timedelta(hours=3)
    engine.close()
    engine = Engine(engine.config, engine.settings, clock=lambda: later)  # the same deployment, 3 hours on
    out = replay(engine, NOW - timedelta(hours=1))
    assert out["rectified"] == 1
    again = snap(eng, DECLARED)
    assert again["customers"][2]["name"] == "Robert Jones"
    assert holds_value(again, ANN, skip={("invoices", 1)}) == set()
    assert holds_value(again, "ann.new@example.org") == set()
    for table in ("invoices", "invoice_lines", "notes", "service_requests"):
        assert set(again[table]) == set(erased[table]), table
    assert report["ledger_id"] == ledger["id"]
    engine.close()
