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


ORDERS = """\
dataset:
  - fides_key: orders
    name: Orders
    collections:
      - name: customer
        fides_meta:
          masking_strategy_override: {strategy: delete}
        fields:
          - name: id
            fides_meta: {primary_key: true, data_type: integer}
          - name: email
            data_categories: [user.contact.email]
            fides_meta: {identity: email, data_type: string}
      - name: purchase
        fields:
          - name: shop_id
            fides_meta: {primary_key: true}
          - name: number
            fides_meta: {primary_key: true}
          - name: customer_id
            fides_meta:
              references: [{dataset: orders, field: customer.id, direction: from}]
          - name: ship_to
            data_categories: [user.contact.address]
      - name: purchase_line
        fides_meta:
          masking_strategy_override: {strategy: delete}
        fields:
          - name: shop_id
            fides_meta:
              primary_key: true
          - name: number
            fides_meta:
              primary_key: true
              references: [{dataset: orders, field: purchase.number, direction: from}]
          - name: line_no
            fides_meta: {primary_key: true}
          - name: gift_message
            data_categories: [user.content]
            fides_meta:
              masking_strategy_override: {strategy: string_rewrite}
"""


def test_fides_dataset_with_composite_keys_erases(tmp_path: Path) -> None:
    """Composite primary keys (a purchase is (shop_id, number); its lines add line_no), with a
    composite live foreign key: masks and deletes name rows by row value, set-based."""
    from sqlalchemy import ForeignKeyConstraint, event

    from tests.erasure_exact_support import assert_report_is_diff
    from tests.erasure_exact_support import snap as key_snap

    url = f"sqlite:///{tmp_path / 'orders.db'}"
    md = MetaData()
    Table("customer", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("email", String(200), nullable=False))
    Table("purchase", md, Column("shop_id", Integer, primary_key=True, autoincrement=False),
          Column("number", Integer, primary_key=True, autoincrement=False),
          Column("customer_id", Integer, ForeignKey("customer.id"), nullable=True),
          Column("ship_to", String(200)))
    Table("purchase_line", md, Column("shop_id", Integer, primary_key=True, autoincrement=False),
          Column("number", Integer, primary_key=True, autoincrement=False),
          Column("line_no", Integer, primary_key=True, autoincrement=False),
          Column("gift_message", String(200), nullable=False),
          ForeignKeyConstraint(["shop_id", "number"], ["purchase.shop_id", "purchase.number"]))
    eng = make_sa_engine(url)
    md.create_all(eng)
    with eng.begin() as conn:
        conn.execute(md.tables["customer"].insert(), [{"id": 1, "email": "Ann@Example.org"},
                                                      {"id": 2, "email": "bob@example.org"}])
        # the same purchase number in two shops: only the row value tells them apart
        conn.execute(md.tables["purchase"].insert(), [
            {"shop_id": 1, "number": 7, "customer_id": 1, "ship_to": "Ann's street"},
            {"shop_id": 2, "number": 7, "customer_id": 2, "ship_to": "Bob's road"},
            {"shop_id": 1, "number": 8, "customer_id": 1, "ship_to": "Ann's street"}])
        conn.execute(md.tables["purchase_line"].insert(), [
            {"shop_id": 1, "number": 7, "line_no": 1, "gift_message": "for Ann's mum"},
            {"shop_id": 2, "number": 7, "line_no": 1, "gift_message": "for Bob's dad"},
            {"shop_id": 1, "number": 8, "line_no": 1, "gift_message": "hi"},
            {"shop_id": 1, "number": 8, "line_no": 2, "gift_message": "again"}])
    eng.dispose()
    (tmp_path / "dataset.yml").write_text(ORDERS)
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(
        {"version": "1", "controller": {"name": "Orders", "country": "PL"}}))
    cfg = Config(name="orders", policy=tmp_path / "policy.yaml", dataset=tmp_path / "dataset.yml",
                 platform_url=url, store_url=f"sqlite:///{tmp_path / 'store.db'}", base_dir=tmp_path)
    engine = Engine(cfg, Settings(environment="test"), clock=lambda: datetime(2026, 11, 1, tzinfo=UTC))
    eng = engine.platform_engine("orders")
    before = key_snap(eng)
    seen: list[str] = []
    event.listen(eng, "before_cursor_execute", lambda c, cur, stmt, *a: seen.append(stmt))
    report = erase(engine, {"email": "ann@example.org"})
    after = key_snap(eng)
    assert_report_is_diff(report, before, after)
    assert set(after["customer"]) == {2}
    # lines go (their purchase's composite key names them); Bob's line with the same purchase
    # number in another shop is reached by the number but is not Ann's: untouched
    assert set(after["purchase_line"]) == {(2, 7, 1)}
    assert after["purchase_line"][(2, 7, 1)] == before["purchase_line"][(2, 7, 1)]
    assert any(e["collection"] == "orders.purchase_line" and e["ids"] == [(2, 7, 1)] for e in report["others"])
    # purchases are masked (the collection masks) and cut from the deleted customer
    assert {k: (r["ship_to"], r["customer_id"]) for k, r in after["purchase"].items()} == {
        (1, 7): (None, None), (1, 8): (None, None), (2, 7): ("Bob's road", 2)}
    writes = [s for s in seen if s.lstrip().upper().startswith(("UPDATE", "DELETE"))]
    assert len(writes) == 3, writes  # one UPDATE, one DELETE per table: never one per row
    assert report["totals"] == {"deleted": 4, "masked": 2, "retained": 0}
    engine.close()
