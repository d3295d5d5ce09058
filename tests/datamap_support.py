"""A small shop schema with Faker data, for the datamap discover/check tests.

Built with SQLAlchemy Core so the same tables exist on SQLite, PostgreSQL and MariaDB,
with real foreign keys. Every value is Faker-generated.
"""

from __future__ import annotations

from typing import Any

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
)
from sqlalchemy.engine import Engine

from pledge.datamap.model import Dataset
from pledge.store import make_sa_engine

metadata = MetaData()
customers = Table(
    "customers", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("email", String(200), nullable=False),
    Column("full_name", String(200)),
    Column("created_at", DateTime),
)
orders = Table(
    "orders", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
    Column("total", Numeric(10, 2)),
    Column("note", Text),
)
notes = Table(  # "contact" holds email addresses: only the values say so
    "notes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
    Column("contact", String(200)),
    Column("body", Text),
)
logins = Table(  # "origin" holds IP addresses
    "logins", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
    Column("origin", String(64)),
)
payments = Table(  # "instrument" holds card numbers that pass the Luhn check
    "payments", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("order_id", Integer, ForeignKey("orders.id"), nullable=False),
    Column("instrument", String(32)),
)
visitors = Table(  # "label" holds person names; "spot" street addresses; "reach" phones
    "visitors", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("label", String(200)),
    Column("spot", String(300)),
    Column("reach", String(64)),
)
settings = Table(  # nothing personal
    "settings", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("k", String(64)),
    Column("v", String(200)),
)

ROWS = 30


def build_shop(url: str, rows: int = ROWS) -> Engine:
    """Create the schema in the empty database at ``url`` and fill it; returns the engine."""
    fake = Faker("en_US")
    fake.seed_instance(7)
    engine = make_sa_engine(url)
    metadata.create_all(engine)
    data: dict[Table, list[dict[str, Any]]] = {t: [] for t in metadata.sorted_tables}
    for i in range(1, rows + 1):
        data[customers].append({"id": i, "email": fake.unique.email(), "full_name": fake.name(),
                                "created_at": fake.date_time()})
        data[orders].append({"id": i, "customer_id": i, "total": fake.pydecimal(left_digits=3, right_digits=2,
                                                                                 positive=True),
                             "note": fake.sentence()})
        data[notes].append({"id": i, "customer_id": i, "contact": fake.email(), "body": fake.sentence()})
        data[logins].append({"id": i, "customer_id": i, "origin": fake.ipv4()})
        data[payments].append({"id": i, "order_id": i, "instrument": fake.credit_card_number()})
        data[visitors].append({"id": i, "label": fake.name(), "spot": fake.street_address(),
                               "reach": fake.phone_number()})
        data[settings].append({"id": i, "k": fake.word(), "v": fake.catch_phrase()})
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            conn.execute(table.insert(), data[table])
    return engine


def shop_dataset(**overrides: Any) -> Dataset:
    """A correct dataset for the shop: every table, declared references, one identity."""
    raw: dict[str, Any] = {
        "name": "shop",
        "databases": [{
            "name": "main",
            "collections": [
                {"name": "customers", "fields": [
                    {"name": "id", "primary_key": True, "data_type": "integer", "identity": "user_id"},
                    {"name": "email", "categories": ["user.contact.email"], "identity": "email",
                     "data_type": "string"},
                    {"name": "full_name", "categories": ["user.name"], "data_type": "string"},
                    {"name": "created_at", "data_type": "datetime"},
                ]},
                {"name": "orders", "fields": [
                    {"name": "id", "primary_key": True},
                    {"name": "customer_id", "references": [{"field": "main.customers.id"}]},
                    {"name": "total", "data_type": "decimal"},
                    {"name": "note", "data_type": "text"},
                ]},
                {"name": "notes", "fields": [
                    {"name": "id", "primary_key": True},
                    {"name": "customer_id", "references": [{"field": "customers.id"}]},
                    {"name": "contact", "categories": ["user.contact.email"]},
                    {"name": "body", "categories": ["user.content"]},
                ]},
                {"name": "logins", "fields": [
                    {"name": "id", "primary_key": True},
                    {"name": "customer_id", "references": [{"field": "main.customers.id"}]},
                    {"name": "origin", "categories": ["user.device.ip_address"]},
                ]},
                {"name": "payments", "fields": [
                    {"name": "id", "primary_key": True},
                    {"name": "order_id", "references": [{"field": "main.orders.id"}]},
                    {"name": "instrument", "categories": ["user.financial.credit_card"]},
                ]},
                {"name": "visitors", "fields": [
                    {"name": "id", "primary_key": True},
                    {"name": "label", "categories": ["user.name"], "identity": "person_tag"},
                    {"name": "spot", "categories": ["user.contact.address"]},
                    {"name": "reach", "categories": ["user.contact.phone_number"]},
                ]},
                {"name": "settings", "fields": [
                    {"name": "id", "primary_key": True},
                    {"name": "k"},
                    {"name": "v"},
                ]},
            ],
        }],
    }
    raw.update(overrides)
    return Dataset.model_validate(raw)
