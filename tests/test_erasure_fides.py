"""A Fides-format dataset, written here, loads and drives a real erasure with FKs on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml
from faker import Faker
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table

from pledge.engine import Engine
from pledge.rights.erasure import erase
from pledge.settings import Config, Settings
from pledge.store import make_sa_engine
from tests.erasure_support import fk_enforced, listed, rows_holding, snapshot

SHOP = """\
dataset:
  - fides_key: shop
    name: Shop
    collections:
      - name: buyer
        fides_meta:
          masking_strategy_override: {strategy: delete}
        fields:
          - name: id
            data_categories: [user.unique_id]
            fides_meta: {primary_key: true, data_type: integer}
          - name: email
            data_categories: [user.contact.email]
            fides_meta: {identity: email, data_type: string}
          - name: full_name
            data_categories: [user.name]
      - name: basket
        fides_meta:
          masking_strategy_override: {strategy: delete}
        fields:
          - name: id
            fides_meta: {primary_key: true}
          - name: buyer_id
            data_categories: [user.unique_id]
            fides_meta:
              references: [{dataset: shop, field: buyer.id, direction: from}]
          - name: note
            data_categories: [user.content]
      - name: review
        fields:
          - name: id
            fides_meta: {primary_key: true}
          - name: buyer_id
            fides_meta:
              references: [{dataset: shop, field: buyer.id, direction: from}]
          - name: signature
            data_categories: [user.name]
            fides_meta:
              masking_strategy_override: {strategy: hmac}
          - name: body
            data_categories: [user.content]
            fides_meta:
              masking_strategy_override:
                strategy: string_rewrite
                configuration: {rewrite_value: MASKED}
"""


def _build(url: str) -> None:
    md = MetaData()
    Table("buyer", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("email", String(200), nullable=False), Column("full_name", String(200)))
    Table("basket", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("buyer_id", Integer, ForeignKey("buyer.id"), nullable=False), Column("note", String(200)))
    Table("review", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("buyer_id", Integer, ForeignKey("buyer.id"), nullable=True),
          Column("signature", String(200)), Column("body", String(400)))
    eng = make_sa_engine(url)
    md.create_all(eng)
    fake = Faker()
    fake.seed_instance(5)
    with eng.begin() as conn:
        for i in range(1, 6):
            name = fake.name()
            conn.execute(md.tables["buyer"].insert(), {"id": i, "email": fake.unique.email(), "full_name": name})
            conn.execute(md.tables["basket"].insert(), [{"id": i * 10 + k, "buyer_id": i, "note": fake.word()}
                                                        for k in range(2)])
            conn.execute(md.tables["review"].insert(), {"id": i, "buyer_id": i, "signature": name,
                                                        "body": fake.sentence()})
    eng.dispose()


def test_fides_dataset_erases(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    _build(url)
    (tmp_path / "dataset.yml").write_text(SHOP)
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(
        {"version": "1", "controller": {"name": "Shop", "country": "PL"}}))
    cfg = Config(name="shop", policy=tmp_path / "policy.yaml", dataset=tmp_path / "dataset.yml",
                 platform_url=url, store_url=f"sqlite:///{tmp_path / 'store.db'}", base_dir=tmp_path)
    engine = Engine(cfg, Settings(environment="test"),
                    clock=lambda: datetime(2026, 11, 1, tzinfo=UTC))
    eng = engine.platform_engine("shop")
    before = snapshot(eng)
    person = before["buyer"][2]
    report = erase(engine, {"email": person["email"]})
    after = snapshot(eng)
    assert fk_enforced(eng)
    assert listed(report, "deleted") == {("buyer", 2), ("basket", 20), ("basket", 21)}
    assert listed(report, "masked") == {("review", 2)}
    review = after["review"][2]
    assert review["buyer_id"] is None  # detached, so the buyer row could go
    assert review["signature"].startswith("pz_")  # Fides hmac -> keyed pseudonym
    assert rows_holding(after, person["email"]) == set()
    assert rows_holding(after, person["full_name"]) - rows_holding(before, person["full_name"]) == set()
    assert all(after[t][k] == r for t, rows in before.items() for k, r in rows.items()
               if (t, k) not in listed(report, "deleted", "masked", "retained"))
    engine.close()
