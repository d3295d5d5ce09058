"""Fides-format dataset YAML, read unchanged: mapping, errors with lines, and a run.

The fixtures here are written for these tests from the format's documented keys
(``dataset`` list, ``fides_key``, ``collections``, ``fields``, ``data_categories``,
``fides_meta`` with identity, references, data_type, primary_key, read_only and
masking_strategy_override; collection ``fides_meta`` with after, erase_after and
skip_processing).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from faker import Faker
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table

from pledge.datamap.check import check_dataset, has_errors
from pledge.datamap.graph import build_graph
from pledge.datamap.load import load_dataset
from pledge.datamap.plan import plan
from pledge.store import make_sa_engine
from pledge.yamlio import LoadError

FIDES = """\
dataset:
  - fides_key: webshop
    name: Web shop database
    description: Orders and the people who place them
    organization_fides_key: default_organization
    collections:
      - name: customer
        description: one row per buyer
        fields:
          - name: id
            data_categories: [user.unique_id]
            fides_meta:
              primary_key: true
              data_type: integer
          - name: email
            data_categories: [user.contact.email]
            fides_meta:
              identity: email
              data_type: string
              length: 200
          - name: full_name
            data_categories: [user.name]
            fides_meta:
              masking_strategy_override:
                strategy: random_string_rewrite
                configuration:
                  length: 12
          - name: phone
            data_categories: [user.contact.phone_number]
            fides_meta:
              identity: phone_number
              masking_strategy_override:
                strategy: null_rewrite
          - name: loyalty_number
            data_categories: [user.unique_id]
            fides_meta:
              identity: loyalty_id
              masking_strategy_override:
                strategy: hash
      - name: purchase
        fides_meta:
          after: [webshop.customer]
          masking_strategy_override:
            strategy: delete
        fields:
          - name: id
            data_categories: [system.operations]
            fides_meta: {primary_key: true}
          - name: customer_id
            data_categories: [user.unique_id]
            fides_meta:
              references:
                - dataset: webshop
                  field: customer.id
                  direction: from
          - name: amount
            data_categories: [user.financial]
            fides_meta:
              read_only: true
              data_type: float
          - name: gift_message
            data_categories: [user.content]
            fides_meta:
              masking_strategy_override:
                strategy: string_rewrite
                configuration:
                  rewrite_value: MASKED
      - name: event_log
        fides_meta:
          skip_processing: true
        fields:
          - name: id
            fides_meta: {primary_key: true}
          - name: customer_id
            fides_meta:
              references:
                - {dataset: webshop, field: customer.id, direction: from}
  - fides_key: crm
    name: CRM
    fides_meta:
      after: [webshop]
    collections:
      - name: lead
        fides_meta:
          erase_after: [crm.campaign]
        fields:
          - name: id
            fides_meta: {primary_key: true, data_type: integer}
          - name: contact_email
            data_categories: [user.contact.email]
            fides_meta:
              references:
                - dataset: webshop
                  field: customer.email
              masking_strategy_override:
                strategy: hmac
          - name: note
            data_categories: [user.content]
            fides_meta:
              masking_strategy_override:
                strategy: aes_encrypt
          - name: event_id
            fides_meta:
              references:
                - {dataset: webshop, field: event_log.id, direction: from}
      - name: campaign
        fields:
          - name: id
            fides_meta: {primary_key: true}
          - name: lead_id
            fides_meta:
              references:
                - {dataset: crm, field: lead.id, direction: from}
"""


def _write(tmp_path: Path, text: str, name: str = "fides_dataset.yml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_fides_file_maps_to_databases_collections_and_fields(tmp_path: Path) -> None:
    ds = load_dataset(_write(tmp_path, FIDES))
    assert [d.name for d in ds.databases] == ["webshop", "crm"]  # fides_key -> database
    assert ds.name == "fides_dataset"  # several datasets: the file's name
    shop = ds.database("webshop")
    assert [c.name for c in shop.collections] == ["customer", "purchase"]  # event_log is skipped
    customer = shop.collection("customer")
    assert customer.description == "one row per buyer"
    assert customer.primary_key == ["id"]
    assert customer.field("id").data_type == "integer"
    assert customer.field("email").identity == "email"
    assert customer.field("email").categories == ["user.contact.email"]
    assert customer.field("phone").identity == "phone"
    assert customer.field("loyalty_number").identity == "external_id"  # a custom Fides identity
    # masking overrides to Pledge strategies
    assert customer.field("full_name").erasure == "fake"
    assert customer.field("phone").erasure == "null"
    assert customer.field("loyalty_number").erasure == "hmac"
    purchase = shop.collection("purchase")
    assert purchase.erasure == "delete"
    assert purchase.after == ["webshop.customer"]
    assert purchase.field("amount").erasure == "retain"  # read_only
    assert purchase.field("gift_message").erasure == "redact"
    [ref] = purchase.field("customer_id").references
    assert (ref.field, ref.direction, ref.discovered) == ("webshop.customer.id", "from", False)

    lead = ds.database("crm").collection("lead")
    [cross] = lead.field("contact_email").references
    assert cross.field == "webshop.customer.email" and cross.direction == "from"  # no direction: from
    assert lead.field("contact_email").erasure == "hmac"
    assert lead.field("note").erasure == "hmac"  # aes_encrypt: a keyed pseudonym
    assert lead.field("event_id").references == []  # it pointed into the skipped collection
    # erase_after, then the dataset-level after: [webshop] for every collection
    assert lead.after == ["crm.campaign", "webshop.customer", "webshop.purchase"]
    assert ds.database("crm").collection("campaign").after == ["webshop.customer", "webshop.purchase"]


def test_single_fides_dataset_is_named_by_its_fides_key(tmp_path: Path) -> None:
    text = """\
dataset:
  - fides_key: app_db
    description: just one
    collections:
      - name: users
        fields:
          - name: email
            data_categories: [user.contact.email]
            fides_meta: {identity: email}
"""
    ds = load_dataset(_write(tmp_path, text))
    assert ds.name == "app_db" and ds.description == "just one"
    assert ds.resolve("app_db.users.email")[2].identity == "email"


@pytest.mark.parametrize(("old", "new", "marker", "words"), [
    ("strategy: null_rewrite", "strategy: shuffle", "shuffle", "no Pledge equivalent"),
    ("                  direction: from\n          - name: amount",
     "                  direction: sideways\n          - name: amount", "sideways", "'sideways' is not allowed"),
    ("              data_type: float", "              data_type: float\n              colour: red", "colour",
     "unknown Fides field fides_meta key 'colour'"),
    ("          - name: gift_message\n", "          - name: gift_message\n            fields: [{name: x}]\n",
     "fields: [{name: x}]", "nested fields"),
    ("      - name: purchase\n        fides_meta:\n",
     "      - name: purchase\n        fides_meta:\n          skip_processin: true\n", "skip_processin",
     "unknown Fides collection fides_meta key 'skip_processin'"),
])
def test_fides_errors_name_the_line_of_the_fides_file(tmp_path: Path, old: str, new: str, marker: str,
                                                      words: str) -> None:
    assert old in FIDES
    text = FIDES.replace(old, new, 1)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if marker in row)
    path = _write(tmp_path, text)
    with pytest.raises(LoadError) as info:
        load_dataset(path)
    message = str(info.value)
    assert f"{path}:{line}:" in message, message
    assert words in message
    assert "dataset[0].collections[" in message  # the path is the Fides file's own, not the converted one


def test_field_level_delete_is_refused_with_advice(tmp_path: Path) -> None:
    path = _write(tmp_path, FIDES.replace("strategy: hash", "strategy: delete", 1))
    with pytest.raises(LoadError, match="put strategy: delete on the collection"):
        load_dataset(path)


def _build_webshop(url: str) -> None:
    meta = MetaData()
    Table("customer", meta, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("email", String(200)), Column("full_name", String(200)), Column("phone", String(40)),
          Column("loyalty_number", String(40)))
    Table("purchase", meta, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("customer_id", Integer, ForeignKey("customer.id"), nullable=False),
          Column("amount", Integer), Column("gift_message", String(200)))
    Table("event_log", meta, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("customer_id", Integer, ForeignKey("customer.id")))
    Table("lead", meta, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("contact_email", String(200)), Column("note", String(200)), Column("event_id", Integer))
    Table("campaign", meta, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("lead_id", Integer, ForeignKey("lead.id")))
    engine = make_sa_engine(url)
    meta.create_all(engine)
    fake = Faker()
    fake.seed_instance(11)
    emails = [fake.unique.email() for _ in range(6)]
    with engine.begin() as conn:
        for i, email in enumerate(emails, 1):
            conn.execute(meta.tables["customer"].insert(), {
                "id": i, "email": email, "full_name": fake.name(), "phone": fake.phone_number(),
                "loyalty_number": fake.bothify("LOY-#####")})
            for k in range(i % 3):
                conn.execute(meta.tables["purchase"].insert(), {
                    "id": i * 10 + k, "customer_id": i, "amount": k, "gift_message": fake.sentence()})
            conn.execute(meta.tables["lead"].insert(), {"id": i, "contact_email": email, "note": "",
                                                        "event_id": None})
            conn.execute(meta.tables["campaign"].insert(), {"id": i, "lead_id": i})
    engine.dispose()


def test_fides_dataset_checks_clean_and_plans_across_both_datasets(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'webshop.db'}"
    _build_webshop(url)
    ds = load_dataset(_write(tmp_path, FIDES))
    engine = make_sa_engine(url)
    try:
        findings = check_dataset(ds, lambda _name: engine)  # both Fides datasets live in one file here
    finally:
        engine.dispose()
    assert not has_errors(findings), [str(f) for f in findings]
    graph = build_graph(ds)
    assert {str(f) for f in graph.identity_fields["email"]} == {"webshop.customer.email"}
    route = plan(ds, ["email"])
    assert set(route.collections) == {"webshop.customer", "webshop.purchase", "crm.lead", "crm.campaign"}
    assert route.unreachable == ()


def test_fides_dataset_runs_a_real_locate(tmp_path: Path) -> None:
    from pledge.engine import Engine
    from pledge.rights.locate import locate
    from pledge.settings import Config

    url = f"sqlite:///{tmp_path / 'webshop.db'}"
    _build_webshop(url)
    dataset = _write(tmp_path, FIDES)
    config = Config(name="fides-shop", policy=tmp_path / "unused-policy.yaml", dataset=dataset,
                    platform_url=url, store_url=f"sqlite:///{tmp_path / 'store.db'}", base_dir=tmp_path)
    engine = Engine(config)
    try:
        with engine.platform_engine("webshop").connect() as conn:
            email, cid = conn.exec_driver_sql("SELECT email, id FROM customer WHERE id = 2").one()
            purchases = conn.exec_driver_sql(
                "SELECT count(*) FROM purchase WHERE customer_id = 2").scalar_one()
        found = locate(engine, {"email": email})
    finally:
        engine.close()
    assert [r["id"] for r in found.rows["webshop.customer"]] == [cid]
    assert len(found.rows["webshop.purchase"]) == purchases == 2
    assert [r["contact_email"] for r in found.rows["crm.lead"]] == [email]
    assert [r["lead_id"] for r in found.rows["crm.campaign"]] == [2]
