"""``datamap check``: each kind of finding, against real databases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, create_engine

from pledge.datamap.check import Finding, check_dataset, check_static, has_errors
from pledge.datamap.model import Dataset
from tests.datamap_support import build_shop, shop_dataset


def _run(url: str, dataset: Dataset) -> list[Finding]:
    engine = build_shop(url)
    try:
        return check_dataset(dataset, lambda _name: engine)
    finally:
        engine.dispose()


def _codes(findings: list[Finding]) -> dict[tuple[str, str], Finding]:
    return {(f.code, f.path): f for f in findings}


def test_a_correct_dataset_has_no_errors(any_db_url: str) -> None:
    findings = _run(any_db_url, shop_dataset())
    assert not has_errors(findings), findings
    # settings holds no personal data and no reference leads to it: only a warning; and the
    # email identity has no index for its case-insensitive lookup: a warning with the fix
    assert sorted((f.code, f.path, f.severity) for f in findings) == [
        ("case-insensitive-index", "main.customers.email", "warning"),
        ("unreachable-collection", "main.settings", "warning")]


def test_unknown_tables_columns_and_type_mismatches(any_db_url: str) -> None:
    dataset = shop_dataset()
    db = dataset.database("main")
    db.collections.append(db.collections[0].model_copy(update={"name": "clients"}, deep=True))
    db.collection("orders").field("note").name = "notes_text"
    db.collection("customers").field("email").data_type = "integer"
    db.collection("customers").field("created_at").data_type = "boolean"
    db.collection("orders").field("total").data_type = "varchar(20)"
    db.collection("logins").field("origin").data_type = "inet-ish"
    findings = _codes(_run(any_db_url, dataset))
    table = findings[("unknown-table", "main.clients")]
    assert table.severity == "error" and "customers" in table.message  # lists the live tables
    column = findings[("unknown-column", "main.orders.notes_text")]
    assert "note" in column.message and column.severity == "error"
    assert findings[("type-mismatch", "main.customers.email")].severity == "error"
    assert "integer" in findings[("type-mismatch", "main.customers.email")].message
    assert ("type-mismatch", "main.customers.created_at") in findings
    assert ("type-mismatch", "main.orders.total") in findings
    assert findings[("unknown-data-type", "main.logins.origin")].severity == "warning"
    # compatible declarations are not reported
    assert ("type-mismatch", "main.customers.id") not in findings
    assert ("type-mismatch", "main.customers.full_name") not in findings


def test_unreachable_collection_with_personal_data_is_an_error(any_db_url: str) -> None:
    dataset = shop_dataset()
    db = dataset.database("main")
    db.collection("logins").field("customer_id").references = []
    visitors = db.collection("visitors")
    visitors.field("label").identity = None
    findings = _codes(_run(any_db_url, dataset))
    logins = findings[("unreachable-collection", "main.logins")]
    assert logins.severity == "error" and "personal data" in logins.message
    assert findings[("unreachable-collection", "main.visitors")].severity == "error"
    assert ("unreachable-collection", "main.orders") not in findings
    # payments is reached through orders, two steps from the identity
    assert ("unreachable-collection", "main.payments") not in findings


def test_discovered_references_do_not_make_a_collection_reachable() -> None:
    dataset = shop_dataset()
    ref = dataset.database("main").collection("logins").field("customer_id").references[0]
    ref.discovered = True
    [finding] = [f for f in check_static(dataset) if f.path == "main.logins"]
    assert finding.code == "unreachable-collection"
    assert "discovered foreign keys" in finding.message


def test_direction_to_walks_the_other_way() -> None:
    dataset = shop_dataset()
    db = dataset.database("main")
    # customers.id points *to* visitors.id: a request at customers walks on to visitors
    db.collection("visitors").field("label").identity = None
    db.collection("customers").field("id").references = []
    assert ("unreachable-collection", "main.visitors") in _codes(check_static(dataset))
    from pledge.datamap.model import Reference

    db.collection("customers").field("id").references = [Reference(field="main.visitors.id", direction="to")]
    assert ("unreachable-collection", "main.visitors") not in _codes(check_static(dataset))


def _cyclic(nullable: bool | None) -> Dataset:
    raw: dict[str, Any] = {"name": "loop", "databases": [{"name": "main", "collections": [
        {"name": "users", "fields": [
            {"name": "id", "primary_key": True},
            {"name": "email", "identity": "email", "categories": ["user.contact.email"]},
            {"name": "org_id", "nullable": nullable, "references": [{"field": "main.orgs.id", "direction": "to"}]},
        ]},
        {"name": "orgs", "fields": [
            {"name": "id", "primary_key": True},
            {"name": "admin_id", "nullable": False, "references": [{"field": "main.users.id"}]},
        ]},
        {"name": "people", "fields": [
            {"name": "id", "primary_key": True},
            {"name": "mentor_id", "nullable": True, "references": [{"field": "main.people.id"}]},
            {"name": "user_id", "references": [{"field": "main.users.id"}]},
        ]},
    ]}]}
    return Dataset.model_validate(raw)


def test_reference_cycles_required_columns_are_errors_nullable_ones_warnings() -> None:
    hard = [f for f in check_static(_cyclic(False)) if f.code == "reference-cycle"]
    by_path = {f.path: f for f in hard}
    assert by_path["main.orgs"].severity == "error"
    assert "main.orgs -> main.users -> main.orgs" in by_path["main.orgs"].message
    assert by_path["main.people"].severity == "warning"  # self-reference through a nullable column
    assert "itself" in by_path["main.people"].message
    soft = {f.path: f for f in check_static(_cyclic(True)) if f.code == "reference-cycle"}
    assert soft["main.orgs"].severity == "warning"


def test_cycle_severity_follows_the_live_columns(tmp_path: Path) -> None:
    meta = MetaData()
    Table("orgs", meta, Column("id", Integer, primary_key=True), Column("admin_id", Integer, nullable=False))
    Table("users", meta, Column("id", Integer, primary_key=True), Column("email", String(100)),
          Column("org_id", Integer, ForeignKey("orgs.id"), nullable=True))
    Table("people", meta, Column("id", Integer, primary_key=True), Column("mentor_id", Integer),
          Column("user_id", Integer))
    engine = create_engine(f"sqlite:///{tmp_path / 'loop.db'}")
    meta.create_all(engine)
    try:
        # the file says org_id is required; the live column is nullable: erasure can break the loop
        findings = check_dataset(_cyclic(False), lambda _n: engine)
    finally:
        engine.dispose()
    [cycle] = [f for f in findings if f.code == "reference-cycle" and f.path == "main.orgs"]
    assert cycle.severity == "warning"


def test_unknown_references_after_and_missing_identity() -> None:
    dataset = shop_dataset()
    db = dataset.database("main")
    from pledge.datamap.model import Reference

    db.collection("orders").field("customer_id").references = [Reference(field="main.customers.uid")]
    db.collection("notes").field("customer_id").references = [Reference(field="crm.people.id")]
    db.collection("payments").after = ["refunds"]
    findings = _codes(check_static(dataset))
    uid = findings[("unknown-reference", "main.orders.customer_id")]
    assert uid.severity == "error" and "email" in uid.message  # lists the fields of customers
    assert "no database 'crm'" in findings[("unknown-reference", "main.notes.customer_id")].message
    assert findings[("unknown-after", "main.payments")].severity == "error"

    for _d, _c, f in dataset.fields():
        f.identity = None
    no_identity = _codes(check_static(dataset))
    assert no_identity[("no-identity", "shop")].severity == "error"


def test_undeclared_table_with_a_foreign_key_into_the_dataset(any_db_url: str) -> None:
    dataset = shop_dataset()
    db = dataset.database("main")
    db.collections = [c for c in db.collections if c.name != "notes"]
    findings = _codes(_run(any_db_url, dataset))
    finding = findings[("undeclared-foreign-key-source", "main.notes")]
    assert finding.severity == "warning" and "main.customers" in finding.message


def test_an_unreachable_database_is_a_finding_not_a_crash() -> None:
    findings = check_dataset(shop_dataset(), lambda _n: "postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert findings[0].code == "database-unreachable" and findings[0].severity == "error"
    assert has_errors(findings)


def test_live_foreign_keys_the_file_lacks_are_named_in_findings(tmp_path: Path) -> None:
    dataset = shop_dataset()
    dataset.database("main").collection("logins").field("customer_id").references = []
    findings = _codes(_run(f"sqlite:///{tmp_path / 'shop.db'}", dataset))
    finding = findings[("unreachable-collection", "main.logins")]
    assert "discovered foreign keys" in finding.message and "declare the reference" in finding.message


def test_a_live_foreign_key_cycle_is_found_even_when_the_file_omits_it(tmp_path: Path) -> None:
    meta = MetaData()
    Table("teams", meta, Column("id", Integer, primary_key=True),
          Column("lead_id", Integer, ForeignKey("members.id", use_alter=True), nullable=True))
    Table("members", meta, Column("id", Integer, primary_key=True), Column("email", String(100)),
          Column("team_id", Integer, ForeignKey("teams.id"), nullable=False))
    engine = create_engine(f"sqlite:///{tmp_path / 'teams.db'}")
    meta.create_all(engine)
    dataset = Dataset.model_validate({"name": "teams", "databases": [{"name": "main", "collections": [
        {"name": "members", "fields": [
            {"name": "id", "primary_key": True},
            {"name": "email", "identity": "email", "categories": ["user.contact.email"]},
            {"name": "team_id", "references": [{"field": "main.teams.id", "direction": "to"}]}]},
        {"name": "teams", "fields": [{"name": "id", "primary_key": True}, {"name": "lead_id"}]},
    ]}]})
    try:
        findings = check_dataset(dataset, lambda _n: engine)
    finally:
        engine.dispose()
    [cycle] = [f for f in findings if f.code == "reference-cycle"]
    assert cycle.severity == "warning"  # teams.lead_id is nullable: erasure clears it first
    assert "main.members -> main.teams -> main.members" in cycle.message
