"""Generate the bench shop: N customers and their rows, Faker-made, seeded, loaded by COPY.

Per customer on average: 1.5 addresses, 3 orders with 2 items each, 0.5 support tickets
and 4 login events (about 16 rows). Faker fills small pools once (names, streets,
cities, sentences, user agents) and a seeded ``random.Random`` combines them, so 100,000
customers load in seconds and the same seed always gives the same data. Emails are
unique (``<first>.<last>.<id>@example.com``): each identifies exactly one customer.

    python bench/vs_fides/generate.py postgresql://postgres@127.0.0.1:5432/shop 10000
"""

from __future__ import annotations

import io
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from faker import Faker

HERE = Path(__file__).resolve().parent
REFERENCE = datetime(2026, 11, 1, tzinfo=UTC)
TABLES = ("customers", "addresses", "orders", "order_items", "support_tickets", "login_events")


def _pools(seed: int) -> dict[str, list[str]]:
    fake = Faker()
    fake.seed_instance(seed)
    return {
        "first": [fake.first_name() for _ in range(400)],
        "last": [fake.last_name() for _ in range(600)],
        "street": [fake.street_address() for _ in range(2000)],
        "city": [fake.city() for _ in range(300)],
        "postcode": [fake.postcode() for _ in range(500)],
        "sentence": [fake.sentence(nb_words=8) for _ in range(500)],
        "agent": [fake.user_agent() for _ in range(100)],
        "product": [fake.word().capitalize() + " " + fake.word() for _ in range(300)],
    }


def _tsv(value: Any) -> str:
    if value is None:
        return r"\N"
    return str(value).replace("\\", "\\\\").replace("\t", " ").replace("\n", " ")


class _Buffers:
    def __init__(self) -> None:
        self.out = {t: io.StringIO() for t in TABLES}
        self.count = dict.fromkeys(TABLES, 0)

    def row(self, table: str, *values: Any) -> None:
        self.out[table].write("\t".join(_tsv(v) for v in values) + "\n")
        self.count[table] += 1


def rows(customers: int, seed: int = 7) -> _Buffers:
    """Every table's rows as COPY text, deterministic for (customers, seed)."""
    p = _pools(seed)
    rnd = random.Random(seed)
    buf = _Buffers()
    ids = dict.fromkeys(("addr", "order", "item", "ticket", "login"), 0)
    six_years = 6 * 365 * 86400

    def when() -> str:
        return (REFERENCE - timedelta(seconds=rnd.randrange(six_years))).isoformat()

    for cid in range(1, customers + 1):
        first, last = rnd.choice(p["first"]), rnd.choice(p["last"])
        name = f"{first} {last}"
        email = f"{first.lower()}.{last.lower()}.{cid}@example.com"
        phone = f"+48 {rnd.randrange(500, 800)} {rnd.randrange(100, 1000)} {rnd.randrange(100, 1000)}"
        buf.row("customers", cid, email, name, phone, when())
        streets = []
        for _ in range(rnd.choice((1, 1, 2, 2))):
            ids["addr"] += 1
            street = rnd.choice(p["street"])
            streets.append(street)
            buf.row("addresses", ids["addr"], cid, street, rnd.choice(p["city"]), rnd.choice(p["postcode"]), when())
        for _ in range(rnd.randrange(0, 7)):
            ids["order"] += 1
            oid = ids["order"]
            buf.row("orders", oid, cid, name, rnd.choice(streets), rnd.randrange(500, 50000), when())
            for _ in range(rnd.randrange(1, 4)):
                ids["item"] += 1
                gift = rnd.choice(p["sentence"]) if rnd.random() < 0.2 else None
                buf.row("order_items", ids["item"], oid, rnd.choice(p["product"]), rnd.randrange(1, 5), gift, when())
        if rnd.random() < 0.5:
            ids["ticket"] += 1
            buf.row("support_tickets", ids["ticket"], cid, rnd.choice(p["sentence"]), rnd.choice(p["sentence"]), when())
        for _ in range(rnd.randrange(0, 9)):
            ids["login"] += 1
            ip = f"{rnd.randrange(1, 224)}.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
            buf.row("login_events", ids["login"], cid, ip, rnd.choice(p["agent"]), when())
    return buf


def load(dsn: str, customers: int, seed: int = 7) -> dict[str, int]:
    """Create the schema in an empty database, COPY the rows in, build the indexes."""
    buf = rows(customers, seed)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute((HERE / "schema.sql").read_text())
        for table in TABLES:
            with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
                copy.write(buf.out[table].getvalue())
        conn.execute((HERE / "indexes.sql").read_text())
    return buf.count


def emails(dsn: str, ids: list[int]) -> list[str]:
    with psycopg.connect(dsn) as conn:
        found = dict(conn.execute("SELECT id, email FROM customers WHERE id = ANY(%s)", (ids,)).fetchall())
    return [found[i] for i in ids]


if __name__ == "__main__":
    print(load(sys.argv[1], int(sys.argv[2])))
