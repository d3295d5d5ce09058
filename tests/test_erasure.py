"""Erasure on a small platform built here, on SQLite, PostgreSQL and MariaDB.

The schema mimics the hard parts of the examples: a users table many tables point at,
shared workspaces where people write in each other's conversations, invoices kept for
tax law, and face tags naming people who are not users.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from faker import Faker
from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    select,
)

from pledge.engine import Engine
from pledge.rights.erasure import erase
from pledge.settings import Config, Settings
from pledge.store.tables.core import checkpoints, erasure_ledger
from tests.erasure_support import (
    exempt_rows,
    fk_enforced,
    links_to,
    listed,
    rows_holding,
    rows_with_id,
    snapshot,
)

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _schema() -> MetaData:
    md = MetaData()
    Table("users", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("email", String(120), nullable=False, unique=True),
          Column("name", String(100), nullable=False), Column("phone", String(40)))
    Table("workspaces", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("owner_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
          Column("name", String(100), nullable=False))
    Table("memberships", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("workspace_id", Integer, ForeignKey("workspaces.id"), nullable=False, index=True),
          Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True))
    Table("conversations", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
          Column("workspace_id", Integer, ForeignKey("workspaces.id"), nullable=True, index=True),
          Column("title", String(200)))
    Table("messages", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("conversation_id", Integer, ForeignKey("conversations.id"), nullable=False, index=True),
          Column("author_id", Integer, ForeignKey("users.id"), nullable=True, index=True),
          Column("content", Text))
    Table("invoices", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
          Column("number", String(40), nullable=False), Column("amount", Numeric(10, 2)),
          Column("issued_at", DateTime, nullable=False),
          Column("billing_name", String(100)), Column("billing_email", String(120)))
    Table("media", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
          Column("filename", String(200)))
    Table("face_tags", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("media_id", Integer, ForeignKey("media.id"), nullable=False, index=True),
          Column("person_name", String(100)), Column("person_tag", String(40), index=True))
    return md


def _fill(eng: Any, md: MetaData, users: int = 12, seed: int = 3) -> None:
    fake = Faker()
    fake.seed_instance(seed)
    rnd = random.Random(seed)
    rows: dict[str, list[dict[str, Any]]] = {t: [] for t in md.tables}
    for u in range(1, users + 1):
        rows["users"].append({"id": u, "email": f"user{u}.{fake.user_name()}@example.com",
                              "name": fake.name(), "phone": fake.unique.msisdn()})
    for w in range(1, users // 3 + 1):
        rows["workspaces"].append({"id": w, "owner_id": w, "name": f"WS {fake.company()}"})
    mid = cid = msg = tag = 0
    for u in range(1, users + 1):
        for w in rnd.sample(range(1, users // 3 + 1), 2):
            mid += 1
            rows["memberships"].append({"id": mid, "workspace_id": w, "user_id": u})
        for _ in range(2):
            cid += 1
            rows["conversations"].append({"id": cid, "user_id": u, "workspace_id": rnd.choice([None, 1, 2]),
                                          "title": fake.sentence()})
        inv = med = u
        old = u % 2 == 0  # odd users have a recent invoice, kept for tax law
        rows["invoices"].append({"id": inv, "user_id": u, "number": f"INV-{inv:05d}", "amount": 10,
                                 "issued_at": (NOW - timedelta(days=(7 * 365 if old else 100))).replace(tzinfo=None),
                                 "billing_name": rows["users"][u - 1]["name"],
                                 "billing_email": rows["users"][u - 1]["email"]})
        rows["media"].append({"id": med, "user_id": u, "filename": f"img{med}.jpg"})
    for c in rows["conversations"]:
        for author in (c["user_id"], None, rnd.randint(1, users)):
            msg += 1
            rows["messages"].append({"id": msg, "conversation_id": c["id"], "author_id": author,
                                     "content": fake.sentence()})
    for m in rows["media"]:
        for _ in range(2):
            tag += 1
            rows["face_tags"].append({"id": tag, "media_id": m["id"], "person_name": fake.name(),
                                      "person_tag": f"tag-{tag:04d}"})
    with eng.begin() as conn:
        for t in md.sorted_tables:
            conn.execute(t.insert(), rows[t.name])


DATASET = {
    "name": "mini",
    "databases": [{"name": "main", "collections": [
        {"name": "users", "erasure": "delete", "fields": [
            {"name": "id", "primary_key": True, "identity": "user_id", "categories": ["user.unique_id"]},
            {"name": "email", "identity": "email", "categories": ["user.contact.email"], "erasure": "hmac"},
            {"name": "name", "categories": ["user.name"], "rectifiable": True},
            {"name": "phone", "identity": "phone", "categories": ["user.contact.phone_number"], "rectifiable": True}]},
        {"name": "workspaces", "erasure": "delete", "fields": [
            {"name": "id", "primary_key": True},
            {"name": "owner_id", "references": [{"field": "main.users.id"}]},
            {"name": "name", "categories": ["user.content"], "erasure": "redact"}]},
        {"name": "memberships", "erasure": "delete", "fields": [
            {"name": "id", "primary_key": True},
            {"name": "user_id", "references": [{"field": "main.users.id"}]}]},
        {"name": "conversations", "erasure": "delete", "fields": [
            {"name": "id", "primary_key": True},
            {"name": "user_id", "references": [{"field": "main.users.id"}]},
            {"name": "title", "categories": ["user.content"], "rectifiable": True}]},
        {"name": "messages", "erasure": "delete", "shared": "anonymise", "fields": [
            {"name": "id", "primary_key": True},
            {"name": "conversation_id", "references": [{"field": "main.conversations.id"}]},
            {"name": "author_id", "references": [{"field": "main.users.id"}]},
            {"name": "content", "categories": ["user.content"], "erasure": "retain"}]},
        {"name": "invoices", "erasure": "delete", "exemption": "tax_records", "fields": [
            {"name": "id", "primary_key": True},
            {"name": "user_id", "references": [{"field": "main.users.id"}]},
            {"name": "issued_at", "rectifiable": True},
            {"name": "billing_name", "categories": ["user.name"]},
            {"name": "billing_email", "categories": ["user.contact.email"], "erasure": "null", "rectifiable": True}]},
        {"name": "media", "erasure": "delete", "fields": [
            {"name": "id", "primary_key": True},
            {"name": "user_id", "references": [{"field": "main.users.id"}]},
            {"name": "filename", "categories": ["user.content"]}]},
        {"name": "face_tags", "erasure": "fake", "shared": "anonymise", "fields": [
            {"name": "id", "primary_key": True},
            {"name": "media_id", "references": [{"field": "main.media.id"}]},
            {"name": "person_name", "categories": ["user.name"]},
            {"name": "person_tag", "identity": "person_tag", "categories": ["user.unique_id"],
             "erasure": "hmac"}]},
    ]}],
}

POLICY = {
    "version": "1", "controller": {"name": "Mini Ltd", "country": "PL"},
    "exemptions": [{"key": "tax_records", "name": "Tax records", "law": "Art. 86 Polish Tax Ordinance",
                    "period": "P5Y", "trigger": "issued_at", "categories": ["user.name", "user.financial"],
                    "collections": ["main.invoices"]}],
}


def make_engine(tmp_path: Path, url: str, *, fill: bool = True) -> Engine:
    md = _schema()
    base = tmp_path / f"cfg-{abs(hash(url)) % 10**8}"
    base.mkdir(parents=True, exist_ok=True)
    (base / "policy.yaml").write_text(yaml.safe_dump(POLICY))
    (base / "dataset.yaml").write_text(yaml.safe_dump(DATASET, sort_keys=False))
    cfg = Config(name="mini", policy=base / "policy.yaml", dataset=base / "dataset.yaml",
                 platform_url=url, store_url=f"sqlite:///{base / 'store.db'}", base_dir=base)
    engine = Engine(cfg, Settings(environment="test"), clock=lambda: NOW)
    if fill:
        eng = engine.platform_engine("main")
        md.create_all(eng)
        _fill(eng, md)
    return engine


def _check_erased(engine: Engine, before: dict[str, Any], after: dict[str, Any], user: dict[str, Any],
                  report: dict[str, Any]) -> None:
    eng = engine.platform_engine("main")
    kept = exempt_rows(report)
    # no row holds the person's direct identifiers, except rows the report keeps with a reason
    for ident in (user["email"], user["phone"], user["name"]):
        holding = rows_holding(after, ident)
        before_others = {r for r in rows_holding(before, ident) if r not in listed(
            report, "deleted", "masked", "retained")}
        assert holding - kept - before_others == set(), ident
    # nor their user id, except retained rows the report lists
    holding_id = rows_with_id(after, links_to(eng, "users"), "users", user["id"])
    assert holding_id <= listed(report, "masked", "retained")
    # every other row is untouched
    touched = listed(report, "deleted", "masked", "retained")
    for table, rows in before.items():
        for key, row in rows.items():
            if (table, key) not in touched:
                assert after[table].get(key) == row, (table, key)
    for table, key in listed(report, "deleted"):
        assert key not in after[table]


def test_erase_a_user_everywhere(any_db_url: str, tmp_path: Path) -> None:
    engine = make_engine(tmp_path, any_db_url)
    eng = engine.platform_engine("main")
    assert fk_enforced(eng)
    before = snapshot(eng)
    user = before["users"][1]  # owns workspace 1, writes in others' conversations
    dry = erase(engine, {"email": user["email"]}, plan=True)
    assert snapshot(eng) == before  # a dry run changes nothing
    with engine.store.connect() as conn:
        assert conn.execute(select(erasure_ledger)).first() is None
    report = erase(engine, {"email": user["email"]})
    after = snapshot(eng)
    assert fk_enforced(eng)
    # the dry run named exactly the rows the real run changed
    for outcome in ("deleted", "masked", "retained"):
        assert listed(dry, outcome) == listed(report, outcome), outcome
    _check_erased(engine, before, after, user, report)
    # the recent invoice is kept for tax law, with its reason; the old one is gone
    masked = {e["collection"]: e for e in report["masked"]}
    inv = masked["main.invoices"]  # kept, and its billing_email (not covered by the exemption) nulled
    assert inv["exemption"] == "tax_records" and "Tax Ordinance" in inv["law"]
    assert inv["fields"] == {"billing_email": "null"} and inv["until"] == "2031-07-24"
    kept_invoices = [r for r in after["invoices"].values() if r["user_id"] == 1]
    assert len(kept_invoices) == 1
    assert kept_invoices[0]["billing_name"] == user["name"]  # the law needs it
    assert kept_invoices[0]["billing_email"] is None  # the dataset says null
    assert after["users"][1]["email"] != user["email"]  # the users row is anonymised, kept
    users = masked["main.users"]  # anonymised instead of deleted; the report says exactly how
    assert users["ids"] == [1] and "instead of deleted" in users["reason"]
    assert users["fields"] == {"email": "hash", "name": "[redacted]", "phone": "null"}
    assert after["users"][1]["name"] == "[redacted]" and after["users"][1]["email"].startswith("pz_")
    # messages the person wrote in others' conversations stay, without the author
    mine_elsewhere = [k for k, m in before["messages"].items()
                      if m["author_id"] == 1 and before["conversations"][m["conversation_id"]]["user_id"] != 1]
    assert mine_elsewhere
    for k in mine_elsewhere:
        assert after["messages"][k]["author_id"] is None
        assert after["messages"][k]["content"] == before["messages"][k]["content"]
    # the ledger holds the intent, done, and no personal data
    with engine.store.connect() as conn:
        led = conn.execute(select(erasure_ledger)).one()
    assert led.status == "done" and user["email"] not in str(dict(led._mapping))
    actions = [e["action"] for e in engine.audit.entries()]
    assert actions[::-1] == ["rights.erase.intent", "rights.erase.done"]
    assert engine.audit.verify() == []
    # a second run finds only what is kept and changes nothing
    again = erase(engine, {"email": user["email"]})
    assert snapshot(eng) == after
    assert again["totals"]["deleted"] == 0
    engine.close()


def test_erase_a_person_who_is_not_a_user(any_db_url: str, tmp_path: Path) -> None:
    engine = make_engine(tmp_path, any_db_url)
    eng = engine.platform_engine("main")
    before = snapshot(eng)
    tag = before["face_tags"][5]
    report = erase(engine, {"person_tag": tag["person_tag"]})
    after = snapshot(eng)
    assert listed(report, "masked") == {("face_tags", 5)}
    row = after["face_tags"][5]
    assert row["media_id"] == tag["media_id"]  # the photo's owner keeps the tag row
    assert row["person_name"] != tag["person_name"] and row["person_tag"] != tag["person_tag"]
    assert rows_holding(after, tag["person_tag"]) == set()
    changed = {(t, k) for t, rows in before.items() for k, r in rows.items() if after[t].get(k) != r}
    assert changed == {("face_tags", 5)}
    engine.close()


@pytest.mark.parametrize("crash_after", [4])
def test_crash_then_rerun_equals_uninterrupted(any_db_url: str, tmp_path: Path, crash_after: int,
                                               request: pytest.FixtureRequest) -> None:
    from tests.services import database_url

    kind = request.node.callspec.params["any_db_url"]
    with database_url(kind, tmp_path / "twin") as twin_url:
        (tmp_path / "twin").mkdir(exist_ok=True)
        crashed = make_engine(tmp_path / "a", any_db_url)
        clean = make_engine(tmp_path / "b", twin_url)
        assert snapshot(crashed.platform_engine("main")) == snapshot(clean.platform_engine("main"))
        email = snapshot(clean.platform_engine("main"))["users"][2]["email"]

        class Crash(RuntimeError):
            pass

        def hook(index: int, _step: Any) -> None:
            if index == crash_after:
                raise Crash(f"injected after step {index}")

        with pytest.raises(Crash):
            erase(crashed, {"email": email}, on_step=hook)
        with crashed.store.connect() as conn:
            assert conn.execute(select(checkpoints)).first() is not None
        resumed = erase(crashed, {"email": email})
        full = erase(clean, {"email": email})
        assert resumed["resumed"] is True and full["resumed"] is False
        assert snapshot(crashed.platform_engine("main")) == snapshot(clean.platform_engine("main"))
        for outcome in ("deleted", "masked", "retained"):
            assert listed(resumed, outcome) == listed(full, outcome)
        crashed.close()
        clean.close()
