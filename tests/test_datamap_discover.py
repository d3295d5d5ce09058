"""Discovery on real SQLite, PostgreSQL and MariaDB: tables, keys, personal data."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

from pledge.datamap.check import check_dataset
from pledge.datamap.discover import discover, merge_discovered, read_schema
from pledge.datamap.load import dataset_to_yaml, load_dataset
from tests.datamap_support import build_shop, shop_dataset


def test_discover_proposes_tables_columns_keys_and_foreign_keys(any_db_url: str) -> None:
    engine = build_shop(any_db_url)
    try:
        report = discover(engine, database="main")
    finally:
        engine.dispose()
    db = report.proposed.database("main")
    assert sorted(c.name for c in db.collections) == [
        "customers", "logins", "notes", "orders", "payments", "settings", "visitors"]
    orders = db.collection("orders")
    assert orders.primary_key == ["id"]
    assert [f.name for f in orders.fields] == ["id", "customer_id", "total", "note"]
    assert orders.field("total").data_type == "float"
    assert orders.field("customer_id").data_type == "integer"
    assert orders.field("note").data_type == "string"
    [ref] = orders.field("customer_id").references
    assert ref.field == "main.customers.id" and ref.discovered and ref.direction == "from"
    [pref] = db.collection("payments").field("order_id").references
    assert pref.field == "main.orders.id" and pref.discovered
    assert db.collection("customers").field("created_at").data_type == "datetime"
    assert not db.collection("settings").field("k").references
    # customers is the most referenced table with an email column: the proposed identity
    assert db.collection("customers").field("email").identity == "email"
    assert db.collection("notes").field("contact").identity is None


def test_discover_flags_personal_columns_by_name_and_by_values(any_db_url: str) -> None:
    engine = build_shop(any_db_url)
    try:
        report = discover(engine, database="main")
    finally:
        engine.dispose()
    found = {p.path: p for p in report.personal}
    assert found["main.customers.email"].reason == "name"
    assert found["main.customers.email"].category == "user.contact.email"
    assert found["main.customers.full_name"].category == "user.name"
    expected_by_values = {
        "main.notes.contact": "user.contact.email",
        "main.logins.origin": "user.device.ip_address",
        "main.payments.instrument": "user.financial.credit_card",
        "main.visitors.label": "user.name",
        "main.visitors.spot": "user.contact.address",
        "main.visitors.reach": "user.contact.phone_number",
    }
    for path, category in expected_by_values.items():
        assert found[path].reason == "values", path
        assert found[path].category == category, path
    for not_personal in ("main.orders.note", "main.settings.k", "main.settings.v", "main.orders.total",
                         "main.notes.body", "main.orders.customer_id"):
        assert not_personal not in found
    # without a dataset to compare with, nothing is "undeclared"
    assert report.undeclared == [] and not report.compared


def test_undeclared_personal_data_against_a_dataset(any_db_url: str) -> None:
    dataset = shop_dataset()
    # forget two declarations: the table logins entirely, and the category of visitors.reach
    db = dataset.database("main")
    db.collections = [c for c in db.collections if c.name != "logins"]
    db.collection("visitors").field("reach").categories = []
    engine = build_shop(any_db_url)
    try:
        report = discover(engine, database="main", compare=dataset)
    finally:
        engine.dispose()
    assert report.compared
    assert sorted(p.path for p in report.undeclared) == ["main.logins.origin", "main.visitors.reach"]
    declared = {p.path for p in report.personal if p.declared}
    assert {"main.customers.email", "main.notes.contact", "main.payments.instrument"} <= declared


def test_value_detection_can_be_switched_off(tmp_path: Path) -> None:
    engine = build_shop(f"sqlite:///{tmp_path / 'shop.db'}")
    try:
        report = discover(engine, sample=0)
    finally:
        engine.dispose()
    assert {p.reason for p in report.personal} == {"name"}
    assert "main.logins.origin" not in {p.path for p in report.personal}


def test_merge_discovered_adds_only_missing_foreign_keys(any_db_url: str) -> None:
    dataset = shop_dataset()
    orders = dataset.database("main").collection("orders")
    orders.field("customer_id").references = []  # the file forgot this foreign key
    engine = build_shop(any_db_url)
    try:
        merged = merge_discovered(dataset, inspect(engine))
    finally:
        engine.dispose()
    [ref] = merged.database("main").collection("orders").field("customer_id").references
    assert ref.field == "main.customers.id" and ref.discovered
    # declared references stay as they were, with no discovered duplicate
    [declared] = merged.database("main").collection("payments").field("order_id").references
    assert declared.field == "main.orders.id" and not declared.discovered
    # the input is not changed
    assert dataset.database("main").collection("orders").field("customer_id").references == []


def test_proposed_dataset_round_trips_and_matches_the_live_schema(any_db_url: str, tmp_path: Path) -> None:
    engine = build_shop(any_db_url)
    try:
        report = discover(engine, database="main")
        out = tmp_path / "proposed.yaml"
        out.write_text(dataset_to_yaml(report.proposed, declare_discovered=True), encoding="utf-8")
        loaded = load_dataset(out)
        findings = check_dataset(loaded, lambda _name: engine)
    finally:
        engine.dispose()
    # written as declared references, so requests may walk them
    [ref] = loaded.database("main").collection("orders").field("customer_id").references
    assert not ref.discovered
    live_codes = {"unknown-table", "unknown-column", "type-mismatch", "unknown-reference", "unknown-data-type"}
    assert [f for f in findings if f.code in live_codes] == []
    # visitors and settings have no foreign key to the identity's table
    assert {f.path for f in findings if f.code == "unreachable-collection"} == {
        "main.visitors", "main.settings"}


def test_read_schema_reports_nullability_and_ignores_tool_tables(tmp_path: Path) -> None:
    engine = build_shop(f"sqlite:///{tmp_path / 'shop.db'}")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        schema = read_schema(engine)
    finally:
        engine.dispose()
    assert "alembic_version" not in schema.tables
    assert schema.tables["orders"]["customer_id"].nullable is False
    assert schema.tables["orders"]["note"].nullable is True
    assert schema.tables["orders"]["id"].primary_key
