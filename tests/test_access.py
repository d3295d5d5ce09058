"""Access and portability on a shop schema built here, on SQLite, PostgreSQL and MariaDB.

The ground truth is plain SQL written in the test, independent of the planner.
"""

from __future__ import annotations

import io
import json
import random
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from faker import Faker
from sqlalchemy import (
    Column,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    insert,
    text,
)
from typer.testing import CliRunner

from pledge.cli import app
from pledge.engine import Engine
from pledge.rights.access import write_access_zip
from pledge.rights.locate import locate
from pledge.rights.portability import PortabilityError, check_destination, send_export, write_portability_zip
from pledge.settings import Settings

meta = MetaData()
users = Table("users", meta, Column("id", Integer, primary_key=True), Column("email", String(120)),
              Column("name", String(120)), Column("phone", String(40)))
orders = Table("orders", meta, Column("id", Integer, primary_key=True),
               Column("user_id", Integer, ForeignKey("users.id"), nullable=False), Column("note", Text))
lines = Table("order_lines", meta, Column("id", Integer, primary_key=True),
              Column("order_id", Integer, ForeignKey("orders.id"), nullable=False), Column("item", String(60)))
newsletter = Table("newsletter", meta, Column("id", Integer, primary_key=True), Column("email", String(120)))
photos = Table("photos", meta, Column("id", Integer, primary_key=True),
               Column("user_id", Integer, ForeignKey("users.id"), nullable=False), Column("filename", String(80)))
tags = Table("face_tags", meta, Column("id", Integer, primary_key=True),
             Column("photo_id", Integer, ForeignKey("photos.id"), nullable=False),
             Column("person_tag", String(40)), Column("person_name", String(120)))

DATASET = {"name": "shop", "databases": [{"name": "main", "collections": [
    {"name": "users", "fields": [
        {"name": "id", "primary_key": True, "identity": "user_id", "categories": ["user.unique_id"]},
        {"name": "email", "identity": "email", "categories": ["user.contact.email"]},
        {"name": "name", "categories": ["user.name"]},
        {"name": "phone", "identity": "phone", "categories": ["user.contact.phone_number"]}]},
    {"name": "orders", "fields": [
        {"name": "id", "primary_key": True},
        {"name": "user_id", "references": [{"field": "main.users.id", "direction": "from"}]},
        {"name": "note", "categories": ["user.content"]}]},
    {"name": "order_lines", "fields": [
        {"name": "id", "primary_key": True},
        {"name": "order_id", "references": [{"field": "main.orders.id"}]},
        {"name": "item", "categories": ["user.financial.purchase"]}]},
    {"name": "newsletter", "fields": [
        {"name": "id", "primary_key": True},
        {"name": "email", "identity": "email", "categories": ["user.contact.email"]}]},
    {"name": "photos", "fields": [
        {"name": "id", "primary_key": True},
        {"name": "user_id", "references": [{"field": "main.users.id"}]},
        {"name": "filename", "categories": ["user.content"]}]},
    {"name": "face_tags", "fields": [
        {"name": "id", "primary_key": True},
        {"name": "photo_id", "references": [{"field": "main.photos.id", "discovered": True}]},
        {"name": "person_tag", "identity": "person_tag"},
        {"name": "person_name", "categories": ["user.name"]}]},
]}]}

POLICY = {
    "version": "1", "controller": {"name": "Shop Example Ltd", "country": "PL", "email": "privacy@shop.test"},
    "authority": {"name": "Prezes UODO", "country": "PL", "url": "https://uodo.gov.pl"},
    "categories": [
        {"key": "user.contact", "name": "Contact details", "sources": [{"kind": "provided"}]},
        {"key": "user.name", "name": "Name", "sources": [{"kind": "provided"}]},
        {"key": "user.content", "name": "Your content", "sources": [{"kind": "provided"}]},
        {"key": "user.financial", "name": "Purchases", "sources": [{"kind": "automatic"}]},
        {"key": "user.unique_id", "name": "Account id", "sources": [{"kind": "automatic"}]},
    ],
    "purposes": [
        {"key": "service", "name": "Running your account", "data_use": "essential.service",
         "legal_basis": "contract", "categories": ["user.contact", "user.name", "user.content"]},
        {"key": "newsletter", "name": "Sending the newsletter", "data_use": "marketing.communications.email",
         "legal_basis": "consent", "categories": ["user.contact.email"]},
        {"key": "tax", "name": "Tax records", "data_use": "essential.service.payment_processing",
         "legal_basis": "legal_obligation", "categories": ["user.financial"]},
        {"key": "unused", "name": "Credit scoring nobody has", "data_use": "personalize",
         "legal_basis": "legitimate_interests", "categories": ["user.credit"]},
    ],
    "recipients": [
        {"key": "mailer", "name": "Mailer Inc", "service": "newsletter delivery", "countries": ["US"],
         "transfer": "dpf", "purposes": ["newsletter"]},
        {"key": "bank", "name": "Bank of Nowhere", "service": "loans", "countries": ["PL"],
         "categories": ["user.credit"]},
    ],
    "retention": [
        {"key": "orders", "name": "Orders", "collections": ["main.orders"], "trigger": "created_at",
         "period": "P5Y"},
        {"key": "never", "name": "Credit files", "categories": ["user.credit"], "trigger": "created_at",
         "period": "P1Y"},
    ],
    "rights": {"offered": [{"kind": "access", "channels": [{"kind": "email", "address": "privacy@shop.test"}]},
                           {"kind": "erasure"}, {"kind": "complaint"}]},
}


def build_shop(url: str, people: int = 60, seed: int = 7) -> None:
    fake = Faker()
    Faker.seed(seed)
    rnd = random.Random(seed)
    eng = create_engine(url)
    meta.create_all(eng)
    u, o, ln, nl, ph, ft = [], [], [], [], [], []
    for i in range(1, people + 1):
        u.append({"id": i, "email": f"p{i}@{fake.domain_name()}", "name": fake.name(),
                  "phone": fake.numerify("+48#########") if i % 3 else None})
        if i % 2:
            nl.append({"id": len(nl) + 1, "email": u[-1]["email"]})
        for _ in range(rnd.randint(0, 3)):
            o.append({"id": len(o) + 1, "user_id": i, "note": fake.sentence()})
            for _ in range(rnd.randint(0, 2)):
                ln.append({"id": len(ln) + 1, "order_id": o[-1]["id"], "item": fake.word()})
        for _ in range(rnd.randint(0, 2)):
            ph.append({"id": len(ph) + 1, "user_id": i, "filename": fake.file_name(extension="jpg")})
    for i in range(1, 2 * len(ph) + 1):
        ft.append({"id": i, "photo_id": rnd.randint(1, len(ph)), "person_tag": f"tag-{rnd.randint(1, 15)}",
                   "person_name": fake.name()})
    nl.append({"id": len(nl) + 1, "email": "only-subscriber@example.org"})
    with eng.begin() as conn:
        for table, rows in ((users, u), (orders, o), (lines, ln), (newsletter, nl), (photos, ph), (tags, ft)):
            if rows:
                conn.execute(insert(table), rows)
    eng.dispose()


def make_engine(tmp_path: Path, url: str) -> Engine:
    (tmp_path / "dataset.yaml").write_text(yaml.safe_dump(DATASET))
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(POLICY))
    (tmp_path / "pledge.yaml").write_text(yaml.safe_dump({
        "name": "shop", "policy": "policy.yaml", "dataset": "dataset.yaml", "platform_url": url,
        "store_url": f"sqlite:///{tmp_path / 'store.db'}"}))
    return Engine.from_config_file(tmp_path / "pledge.yaml", Settings(environment="test"))


def truth(url: str, email: str) -> dict[str, set[int]]:
    """The rows about a person, by hand-written SQL joins."""
    eng = create_engine(url)
    q = {
        "main.users": "SELECT id FROM users WHERE email = :e",
        "main.orders": "SELECT o.id FROM orders o JOIN users u ON u.id = o.user_id WHERE u.email = :e",
        "main.order_lines": "SELECT l.id FROM order_lines l JOIN orders o ON o.id = l.order_id "
                            "JOIN users u ON u.id = o.user_id WHERE u.email = :e",
        "main.newsletter": "SELECT id FROM newsletter WHERE email = :e",
        "main.photos": "SELECT p.id FROM photos p JOIN users u ON u.id = p.user_id WHERE u.email = :e",
    }
    with eng.connect() as conn:
        out = {k: {r[0] for r in conn.execute(text(sql), {"e": email})} for k, sql in q.items()}
    eng.dispose()
    return {k: v for k, v in out.items() if v}


@pytest.fixture
def shop(tmp_path: Path, any_db_url: str) -> Iterator[tuple[Engine, str]]:
    build_shop(any_db_url)
    engine = make_engine(tmp_path, any_db_url)
    yield engine, any_db_url
    engine.close()


def test_locate_matches_sql_ground_truth_for_20_people(shop: tuple[Engine, str]) -> None:
    engine, url = shop
    rnd = random.Random(2024)
    eng = create_engine(url)
    with eng.connect() as conn:
        emails = sorted(r[0] for r in conn.execute(text("SELECT email FROM users")))
    eng.dispose()
    for email in rnd.sample(emails, 20):
        found = locate(engine, {"email": email})
        got = {k: {key[0] for key in found.keys(k)} for k in found.counts()}
        assert got == truth(url, email), email
        # face tags are only behind a discovered FK: never reached from an account
        assert not found.rows.get("main.face_tags")


def test_locate_by_user_id_derives_the_email(shop: tuple[Engine, str]) -> None:
    engine, url = shop
    found = locate(engine, {"user_id": "5"}, columns="keys")
    (row,) = found.rows["main.users"]
    assert set(row) == {"id", "email"}  # carried fields only: email feeds the newsletter step
    email = row["email"]
    got = {k: {key[0] for key in found.keys(k)} for k in found.counts()}
    assert got == truth(url, email)


def test_locate_batches_values_into_few_statements(shop: tuple[Engine, str]) -> None:
    engine, _ = shop
    connector = engine.connectors.get("main")
    connector.batch_size = 2
    found = locate(engine, {"email": ["p1@x", "p2@x", "p3@x"]})
    # 3 values in batches of 2 -> 2 statements for users, 2 for newsletter; nothing found
    assert found.statements == 4
    assert found.total == 0


def test_non_user_reached_by_person_tag(shop: tuple[Engine, str]) -> None:
    engine, url = shop
    found = locate(engine, {"person_tag": "tag-3"})
    eng = create_engine(url)
    with eng.connect() as conn:
        ids = {r[0] for r in conn.execute(text("SELECT id FROM face_tags WHERE person_tag = 'tag-3'"))}
    eng.dispose()
    assert ids and {k[0] for k in found.keys("main.face_tags")} == ids
    assert set(found.counts()) == {"main.face_tags"}


def test_access_zip_has_json_csv_and_art15_page(shop: tuple[Engine, str], tmp_path: Path) -> None:
    engine, url = shop
    email = "p1@" + _domain(url, 1)
    out = tmp_path / "out" / "access.zip"
    export = write_access_zip(engine, {"email": email}, out, actor="test")
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        data = json.loads(zf.read("data.json"))
        page = zf.read("index.html").decode()
        users_csv = zf.read("csv/main.users.csv").decode()
    expected = truth(url, email)
    assert names == {"data.json", "index.html", *(f"csv/{c}.csv" for c in expected)}
    assert {c: {r["id"] for r in v["rows"]} for c, v in data["collections"].items()} == expected
    assert email in users_csv and users_csv.splitlines()[0] == "id,email,name,phone"
    info = data["information"]
    purposes = {p["key"] for p in info["purposes"]}
    # person 1 subscribes (odd ids) and has orders? tax applies only with order lines
    assert {"service", "newsletter"} <= purposes and "unused" not in purposes
    assert [r["key"] for r in info["recipients"]] == ["mailer"]
    assert info["transfers"][0]["safeguard"] == "dpf"
    for words in ("Running your account", "Sending the newsletter", "Mailer Inc", "Prezes UODO",
                  "Contract with you".lower(), "You gave it to us"):
        assert words.lower() in page.lower(), words
    assert "Bank of Nowhere" not in page and "Credit files" not in page
    if "main.orders" in expected:
        assert "5 years" in page
    assert export.located.total == sum(len(v) for v in expected.values())
    (entry,) = engine.audit.entries(action="rights.access")
    assert entry["actor"] == "test" and email not in json.dumps(entry, default=str)
    assert entry["details"]["rows"] == export.located.total


def _domain(url: str, user_id: int) -> str:
    eng = create_engine(url)
    with eng.connect() as conn:
        email = conn.execute(text("SELECT email FROM users WHERE id = :i"), {"i": user_id}).scalar_one()
    eng.dispose()
    return str(email).split("@", 1)[1]


def test_access_for_unknown_person_is_empty_but_valid(shop: tuple[Engine, str], tmp_path: Path) -> None:
    engine, _ = shop
    out = tmp_path / "none.zip"
    export = write_access_zip(engine, {"email": "nobody@nowhere.test"}, out)
    with zipfile.ZipFile(out) as zf:
        assert set(zf.namelist()) == {"data.json", "index.html"}
        assert "We found no personal data about you" in zf.read("index.html").decode()
    assert export.located.total == 0


class _Sink(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(body)
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_portability_exports_only_provided_data_and_sends_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    build_shop(url, people=10)
    engine = make_engine(tmp_path, url)
    email = "p1@" + _domain(url, 1)
    out = tmp_path / "port.zip"
    export = write_portability_zip(engine, {"email": email}, out)
    with zipfile.ZipFile(out) as zf:
        data = json.loads(zf.read("data.json"))
        names = set(zf.namelist())
    fields = {c: v["fields"] for c, v in data["collections"].items()}
    # ids (automatic) and purchases (automatic, legal obligation) are not portable
    assert fields["main.users"] == ["email", "name", "phone"]
    assert "main.order_lines" not in fields
    assert all("id" not in f for f in fields.values())
    assert names == {"data.json", *(f"csv/{c}.csv" for c in fields)}
    assert data["collections"]["main.users"]["rows"][0]["email"] == email

    _Sink.received = []
    server = HTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        status = send_export(engine, {"email": email}, out.read_bytes(),
                             f"http://127.0.0.1:{server.server_port}/import")
    finally:
        server.shutdown()
        server.server_close()
    assert status == 201 and _Sink.received == [out.read_bytes()]
    with zipfile.ZipFile(io.BytesIO(_Sink.received[0])) as zf:
        assert "data.json" in zf.namelist()
    actions = [e["action"] for e in engine.audit.entries()]
    assert actions[:2] == ["rights.portability.sent", "rights.portability"]
    assert export.total == sum(len(v["rows"]) for v in data["collections"].values())
    engine.close()


@pytest.mark.parametrize("bad", ["http://example.org/in", "ftp://example.org/", "http://localhost:9/x",
                                 "https:///nohost"])
def test_portability_refuses_plain_http(bad: str) -> None:
    with pytest.raises(PortabilityError, match="must be https"):
        check_destination(bad)
    assert check_destination("https://receiver.example/import")


def test_cli_access_plan_and_errors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    build_shop(url, people=10)
    make_engine(tmp_path, url).close()
    cfg = str(tmp_path / "pledge.yaml")
    email = "p2@" + _domain(url, 2)
    runner = CliRunner()
    res = runner.invoke(app, ["rights", "access", "-c", cfg, "--email", email, "--out", str(tmp_path / "a.zip")])
    assert res.exit_code == 0, res.output
    assert "main.users" in res.output and zipfile.is_zipfile(tmp_path / "a.zip")
    res = runner.invoke(app, ["rights", "access", "-c", cfg, "--identity", "ssn=1",
                              "--out", str(tmp_path / "b.zip")])
    assert res.exit_code == 2 and "unknown identity kind 'ssn'" in res.output
    res = runner.invoke(app, ["rights", "access", "-c", cfg, "--email", email, "--out", str(tmp_path / "a.txt")])
    assert res.exit_code == 2 and ".zip" in res.output
    res = runner.invoke(app, ["datamap", "plan", "-c", cfg, "--email", email, "--format", "json"])
    assert res.exit_code == 0, res.output
    plan = json.loads(res.output)
    assert plan["unreachable"] == ["main.face_tags"]
    assert [s["collection"] for s in plan["steps"]][:2] == ["users", "newsletter"]
    res = runner.invoke(app, ["datamap", "plan", "-c", cfg, "--identity", "person_tag=tag-1"])
    assert res.exit_code == 0 and "face_tags" in res.output
    res = runner.invoke(app, ["rights", "portability", "-c", cfg, "--email", email,
                              "--out", str(tmp_path / "p.zip"), "--send-to", "http://example.org/x"])
    assert res.exit_code == 2 and "https" in res.output


@pytest.mark.parametrize("handle", ["begin", "read"])
def test_connector_streams_large_batches_and_buffers_small_ones(shop: tuple[Engine, str], handle: str) -> None:
    """Through a transaction (``begin``) and through ``read()``, which on PostgreSQL is outside
    any transaction: a streamed read there gets a transaction of its own (a server-side cursor
    needs one)."""
    engine, url = shop
    connector = engine.connectors.get("main")
    connector.batch_size = 128
    eng = create_engine(url)
    with eng.connect() as conn:
        expected = sorted(r[0] for r in conn.execute(text("SELECT id FROM face_tags")))
    eng.dispose()
    wanted = [*expected, *range(10_000, 10_000 + 300 - len(expected))]  # 300 values: 128 + 128 + 44
    with getattr(connector, handle)() as conn:
        rows = list(connector.select_in(conn, "face_tags", "id", wanted, ["id", "person_tag"]))
        # the connection is free again after a streamed read
        assert connector.coerce("face_tags", "id", ["7", "x", None, 8]) == [7, 8]
        again = list(connector.select_in(conn, "face_tags", "id", ["1"]))
        # streaming is asked per statement: the caller's connection keeps its own options
        assert "stream_results" not in conn.get_execution_options()
    assert sorted(r["id"] for r in rows) == expected
    assert set(rows[0]) == {"id", "person_tag"}
    assert [r["id"] for r in again] == [1]


def test_located_rows_say_which_path_found_them(shop: tuple[Engine, str]) -> None:
    engine, url = shop
    email = "p1@" + _domain(url, 1)
    found = locate(engine, {"email": email})
    assert found.via["main.users"][(1,)] == ("email",)
    for key in found.keys("main.orders"):
        assert found.via["main.orders"][key] == ("main.users.id",)
    for key in found.keys("main.order_lines"):
        assert found.via["main.order_lines"][key] == ("main.orders.id",)


def test_access_page_speaks_the_policy_language(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    build_shop(url, people=5)
    engine = make_engine(tmp_path, url)
    email = "p1@" + _domain(url, 1)
    from pledge.rights.access import access, render_page

    export = access(engine, {"email": email})
    english = render_page(engine, export)
    polish = render_page(engine, export, lang="pl")
    engine.close()
    assert '<html lang="en">' in english and "Your rights" in english
    assert '<html lang="pl">' in polish
    for words in ("Twoje prawa", "umowa z Tobą (art. 6 ust. 1 lit. b)", "Dane przekazane przez Ciebie",
                  "dostępu do swoich danych (art. 15)", "Możesz złożyć skargę do organu nadzorczego"):
        assert words in polish, words
    assert "Your rights" not in polish


def test_locate_runs_inside_the_callers_transaction(shop: tuple[Engine, str]) -> None:
    engine, _ = shop
    connector = engine.connectors.get("main")
    with connector.begin() as conn:
        conn.execute(insert(users).values(id=999, email="fresh@example.org", name="Fresh", phone=None))
        conn.execute(insert(orders).values(id=9999, user_id=999, note="uncommitted"))
        inside = locate(engine, {"email": "fresh@example.org"}, connections={"main": conn})
        assert inside.keys("main.orders") == [(9999,)]
        conn.rollback()
    after = locate(engine, {"email": "fresh@example.org"})
    assert after.total == 0


def test_email_is_matched_case_insensitively_for_lower_case_data(shop: tuple[Engine, str]) -> None:
    engine, url = shop
    email = "p3@" + _domain(url, 3)
    found = locate(engine, {"email": email.upper()})
    assert found.keys("main.users") == [(3,)]
    assert found.identities["email"] == [email]  # normalised once: trimmed and lower-cased
