"""The data plane on a schema written here, on SQLite, PostgreSQL and MariaDB.

* Mixed-case emails: ``Mixed.Case@Example.com`` is one person for access, consent facts,
  breach impact, the activity endpoint and the organisation-administrator lookup.
* Composite keys: ``visits (email, ts)`` and ``order_lines (order_id, line_no)``; access
  returns exactly what independent SQL returns; reads, masks and deletes by key sets are
  set-based (a statement per batch, never per row).
* Tables without a primary key follow the row-key rule (a declared UNIQUE NOT NULL key is
  used; no key at all is refused up front with file:line and the fix).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import (
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    create_engine,
    event,
    func,
    insert,
    select,
    text,
)

from pledge.breach.affected import find_affected
from pledge.connectors.base import Connector
from pledge.connectors.sql import SqlConnector
from pledge.consent.facts import fetch_facts, find_source
from pledge.engine import Engine
from pledge.rights.access import write_access_zip
from pledge.rights.locate import locate
from pledge.settings import Settings
from tests.test_access import POLICY

meta = MetaData()
accounts = Table(
    "accounts", meta,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("email", String(120), nullable=False),
    Column("name", String(120)),
    Column("team_id", Integer),
    Column("birth_date", Date),
    Column("status", String(20)),
    Column("last_login_at", DateTime),
    Column("created_at", DateTime),
)
teams = Table(
    "teams", meta,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("admin_account_id", Integer, ForeignKey("accounts.id")),
    Column("label", String(60)),
)
visits = Table(  # composite key of a text and a time
    "visits", meta,
    Column("email", String(120), primary_key=True),
    Column("ts", DateTime, primary_key=True),
    Column("page", String(80)),
)
orders = Table(
    "orders", meta,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("note", String(200)),
)
order_lines = Table(  # composite key of two integers
    "order_lines", meta,
    Column("order_id", Integer, ForeignKey("orders.id"), primary_key=True, autoincrement=False),
    Column("line_no", Integer, primary_key=True, autoincrement=False),
    Column("item", String(80)),
)
audit_log = Table(  # no primary key; a UNIQUE key of NOT NULL columns
    "audit_log", meta,
    Column("account_id", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("event", String(80)),
    UniqueConstraint("account_id", "seq", name="uq_audit_log_account_seq"),
)
newsletter = Table(  # its email is not an identity: reached from accounts.email
    "newsletter", meta,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("email", String(120), nullable=False),
    Column("created_at", DateTime),
)
scratch = Table(  # no key at all
    "scratch", meta,
    Column("account_id", Integer, nullable=False),
    Column("body", String(80)),
)

MIXED = "Mixed.Case@Example.com"
T = [datetime(2024, 3, d, 10, 0) for d in range(1, 6)]

DATASET = """\
name: composite
facts:
  collection: main.accounts
  birth_date: birth_date
  status: status
  last_active: last_login_at
  org_admin:
    member_field: team_id
    admin: main.teams.admin_account_id
databases:
  - name: main
    collections:
      - name: accounts
        erasure: delete
        fields:
          - {name: id, primary_key: true, identity: user_id, categories: [user.unique_id]}
          - {name: email, identity: email, categories: [user.contact.email]}
          - {name: name, categories: [user.name]}
          - {name: team_id}
          - {name: birth_date}
          - {name: status}
          - {name: last_login_at}
          - {name: created_at}
      - name: teams
        fields:
          - {name: id, primary_key: true}
          - name: admin_account_id
            references: [{field: main.accounts.id}]
          - {name: label}
      - name: visits
        fields:
          - {name: email, primary_key: true, identity: email, categories: [user.contact.email]}
          - {name: ts, primary_key: true}
          - {name: page, categories: [user.content]}
      - name: orders
        fields:
          - {name: id, primary_key: true}
          - name: account_id
            references: [{field: main.accounts.id}]
          - {name: created_at}
          - {name: note, categories: [user.content]}
      - name: order_lines
        fields:
          - name: order_id
            primary_key: true
            references: [{field: main.orders.id}]
          - {name: line_no, primary_key: true}
          - {name: item, categories: [user.financial.purchase]}
      - name: audit_log
        fields:
          - name: account_id
            primary_key: true
            references: [{field: main.accounts.id}]
          - {name: seq, primary_key: true}
          - {name: event, categories: [user.content]}
      - name: newsletter
        fields:
          - {name: id, primary_key: true}
          - name: email
            categories: [user.contact.email]
            references: [{field: main.accounts.email}]
          - {name: created_at}
"""

SCRATCH = """\
      - name: scratch
        fields:
          - name: account_id
            references: [{field: main.accounts.id}]
          - {name: body, categories: [user.content]}
"""


def build(url: str) -> None:
    eng = create_engine(url)
    meta.create_all(eng)
    with eng.begin() as conn:
        conn.execute(insert(accounts), [
            {"id": 1, "email": MIXED, "name": "Mixed", "team_id": 1, "birth_date": date(1990, 1, 2),
             "status": "active", "last_login_at": None, "created_at": T[0]},
            {"id": 2, "email": "boss@example.com", "name": "Boss", "team_id": 1, "birth_date": None,
             "status": "active", "last_login_at": None, "created_at": T[0]},
            {"id": 3, "email": "emile@example.com", "name": "Emile", "team_id": None, "birth_date": None,
             "status": "active", "last_login_at": None, "created_at": T[0]},
            {"id": 4, "email": "other@example.com", "name": "Other", "team_id": None, "birth_date": None,
             "status": "closed", "last_login_at": None, "created_at": T[0]},
        ])
        conn.execute(insert(teams), [{"id": 1, "admin_account_id": 2, "label": "blue"}])
        conn.execute(insert(visits), [
            {"email": MIXED, "ts": T[0], "page": "/a"},
            {"email": "mixed.case@example.com", "ts": T[1], "page": "/b"},
            {"email": "MIXED.CASE@EXAMPLE.COM", "ts": T[2], "page": "/c"},
            {"email": "other@example.com", "ts": T[0], "page": "/a"},  # same ts as the first row
            {"email": "emile@example.com", "ts": T[0], "page": "/e"},
        ])
        conn.execute(insert(orders), [
            {"id": 10, "account_id": 1, "created_at": T[1], "note": "first"},
            {"id": 11, "account_id": 1, "created_at": T[3], "note": "second"},
            {"id": 12, "account_id": 4, "created_at": T[1], "note": "not hers"},
        ])
        conn.execute(insert(order_lines), [
            {"order_id": 10, "line_no": 1, "item": "tea"}, {"order_id": 10, "line_no": 2, "item": "cup"},
            {"order_id": 11, "line_no": 1, "item": "pot"},
            {"order_id": 12, "line_no": 1, "item": "x"}, {"order_id": 12, "line_no": 2, "item": "y"},
        ])
        conn.execute(insert(audit_log), [
            {"account_id": 1, "seq": 1, "event": "login"}, {"account_id": 1, "seq": 2, "event": "logout"},
            {"account_id": 4, "seq": 1, "event": "login"},
        ])
        conn.execute(insert(newsletter), [{"id": 1, "email": "MIXED.case@example.COM", "created_at": T[4]},
                                          {"id": 2, "email": "other@example.com", "created_at": T[4]}])
        conn.execute(insert(scratch), [{"account_id": 1, "body": "x"}])
    eng.dispose()


def deploy(tmp_path: Path, url: str, dataset: str = DATASET) -> Engine:
    policy = {**POLICY, "retention": [
        {"key": "orders", "name": "Orders", "collections": ["main.orders"], "trigger": "created_at",
         "period": "P1Y"}]}
    (tmp_path / "dataset.yaml").write_text(dataset)
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(policy))
    (tmp_path / "pledge.yaml").write_text(yaml.safe_dump({
        "name": "composite", "policy": "policy.yaml", "dataset": "dataset.yaml", "platform_url": url,
        "store_url": f"sqlite:///{tmp_path / 'store.db'}"}))
    return Engine.from_config_file(tmp_path / "pledge.yaml", Settings(environment="test"))


@pytest.fixture
def plane(tmp_path: Path, any_db_url: str) -> Iterator[tuple[Engine, str]]:
    build(any_db_url)
    engine = deploy(tmp_path, any_db_url)
    yield engine, any_db_url
    engine.close()


def truth(url: str, email: str) -> dict[str, set[tuple[Any, ...]]]:
    """The rows about a person, by SQL written here (joins, lower() on both sides)."""
    e = email.lower()
    eng = create_engine(url)
    me = select(accounts.c.id).where(func.lower(accounts.c.email) == e).scalar_subquery()
    queries = {
        "main.accounts": select(accounts.c.id).where(func.lower(accounts.c.email) == e),
        "main.teams": select(teams.c.id).where(teams.c.admin_account_id == me),
        "main.visits": select(visits.c.email, visits.c.ts).where(func.lower(visits.c.email) == e),
        "main.orders": select(orders.c.id).where(orders.c.account_id == me),
        "main.order_lines": select(order_lines.c.order_id, order_lines.c.line_no).join(
            orders, orders.c.id == order_lines.c.order_id).where(orders.c.account_id == me),
        "main.audit_log": select(audit_log.c.account_id, audit_log.c.seq).where(audit_log.c.account_id == me),
        "main.newsletter": select(newsletter.c.id).where(func.lower(newsletter.c.email) == e),
    }
    with eng.connect() as conn:
        out = {k: {tuple(r) for r in conn.execute(q)} for k, q in queries.items()}
    eng.dispose()
    return {k: v for k, v in out.items() if v}


# -- mixed-case emails ---------------------------------------------------------------------------
def test_a_mixed_case_address_is_found_by_access_on_every_engine(plane: tuple[Engine, str]) -> None:
    engine, url = plane
    found = locate(engine, {"email": "mixed.case@example.com"})
    assert found.keys("main.accounts") == [(1,)]
    assert {k: set(found.keys(k)) for k in found.counts()} == truth(url, "mixed.case@example.com")
    # the three spellings in visits, and the newsletter row reached from accounts.email
    assert len(found.rows["main.visits"]) == 3 and found.keys("main.newsletter") == [(1,)]
    assert found.identities == {"email": ["mixed.case@example.com"]}
    assert found.discovered == {"email": ["mixed.case@example.com"], "user_id": [1]}
    # whatever the case asked in, the same rows
    again = locate(engine, {"email": " MIXED.CASE@example.COM "}, columns="keys")
    assert {k: again.keys(k) for k in again.counts()} == {k: found.keys(k) for k in found.counts()}


def test_case_folding_never_widens_a_match(plane: tuple[Engine, str]) -> None:
    """MariaDB's default collation also ignores accents and trailing spaces: rows are re-checked."""
    engine, _ = plane
    assert locate(engine, {"email": "émile@example.com"}).total == 0
    assert locate(engine, {"email": "mixed.case@example.co"}).total == 0
    assert locate(engine, {"email": "emile@example.com"}).keys("main.accounts") == [(3,)]


def test_consent_facts_and_activity_see_the_mixed_case_person(plane: tuple[Engine, str]) -> None:
    from pledge.web.api_activity import Activity, record_activity

    engine, url = plane
    facts = fetch_facts(engine, find_source(engine), "mixed.case@example.com")
    assert facts.found and facts.birth_date == date(1990, 1, 2) and facts.status == "active"
    assert fetch_facts(engine, find_source(engine), "other@example.com").closed
    done = record_activity(engine, Activity(email="MIXED.CASE@EXAMPLE.COM", at=datetime(2025, 1, 1, tzinfo=UTC)))
    assert done["recorded"] is True and done["column"] == "main.accounts.last_login_at"
    # never moved back
    assert record_activity(engine, Activity(user_id=1, at=datetime(2024, 1, 1, tzinfo=UTC)))["recorded"] is False
    eng = create_engine(url)
    with eng.connect() as conn:
        stored = conn.execute(select(accounts.c.last_login_at).where(accounts.c.id == 1)).scalar()
    eng.dispose()
    assert stored is not None and stored.replace(tzinfo=None) == datetime(2025, 1, 1)


def test_the_organisation_administrator_is_found_through_the_data_map(plane: tuple[Engine, str]) -> None:
    """The link is declared (facts.org_admin): the tables here are not called users/organisations."""
    engine, _ = plane
    verifier = engine.requests.verifier
    admin = verifier.org_admin_for("mixed.CASE@example.com")
    assert admin is not None and admin.email == "boss@example.com" and admin.organisation_id == 1
    assert verifier.org_admin_for("boss@example.com") is None  # the administrator is not their own
    assert verifier.org_admin_for("emile@example.com") is None  # no team


def test_breach_impact_names_the_mixed_case_person_once(plane: tuple[Engine, str]) -> None:
    engine, _ = plane
    affected = find_affected(engine, ["main.orders"], datetime(2024, 3, 1, tzinfo=UTC),
                             datetime(2024, 3, 31, tzinfo=UTC))
    people = {p.email.lower(): p for p in affected.people}
    assert set(people) == {"mixed.case@example.com", "other@example.com"}
    assert people["mixed.case@example.com"].records == 2
    visits_hit = find_affected(engine, ["main.visits"], datetime(2024, 3, 1, tzinfo=UTC),
                               datetime(2024, 3, 31, tzinfo=UTC), time_field="ts")
    # the three spellings are one person; their key is the one every other part of Pledge uses
    mixed = [p for p in visits_hit.people if p.email.lower() == "mixed.case@example.com"]
    assert len(mixed) == 1 and mixed[0].records == 3
    assert mixed[0].keys["email"] == engine.ledger.keys_for({"email": "mixed.case@example.com"})["email"]
    # a newsletter row leads to its owner through accounts.email, whatever the case it was typed in
    letters = find_affected(engine, ["main.newsletter"], datetime(2024, 3, 1, tzinfo=UTC),
                            datetime(2024, 3, 31, tzinfo=UTC))
    assert letters.unreachable == 0
    owners = {p.email.lower(): p for p in letters.people}
    assert set(owners) == {"mixed.case@example.com", "other@example.com"}
    assert owners["mixed.case@example.com"].subject_key == engine.ledger.keys_for({"user_id": "1"})["user_id"]


# -- composite keys ------------------------------------------------------------------------------
def test_access_on_composite_keys_matches_sql(plane: tuple[Engine, str]) -> None:
    engine, url = plane
    for email in ("mixed.case@example.com", "other@example.com", "emile@example.com", "boss@example.com"):
        found = locate(engine, {"email": email})
        assert {k: set(found.keys(k)) for k in found.counts()} == truth(url, email), email
    assert locate(engine, {"email": MIXED}).primary_keys["main.order_lines"] == ["order_id", "line_no"]
    out = io.BytesIO()
    write_access_zip(engine, {"email": MIXED}, out)
    data = json.loads(zipfile.ZipFile(out).read("data.json"))
    assert "main.order_lines" in json.dumps(data) and "pot" in json.dumps(data)


def _looked_up(engine: Engine, email: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """Locate ``email`` as it is, then one lookup at a time (the connector's ``find_each``
    swapped for the base class's, which runs them in turn): the same lookups in the same
    order, the same rows, paths and identities. Returns the statements and the round trips."""
    connector = engine.connectors.get("main")
    assert isinstance(connector, SqlConnector)
    locate(engine, {"email": email})  # the schema check and the plan, before listening
    seen: list[str] = []  # "send" and "read", in order
    sent: list[str] = []  # the tables, in the order their lookups were sent
    ours = ("accounts", "teams", "visits", "orders", "order_lines", "audit_log", "newsletter")

    def log(kind: str) -> Any:
        def hook(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
            table = next((t for t in ours if f"FROM {t} " in sql + " "), None)
            if table is not None:
                seen.append(kind)
                if kind == "send":
                    sent.append(table)
        return hook

    event.listen(connector.engine, "before_cursor_execute", log("send"))
    event.listen(connector.engine, "after_cursor_execute", log("read"))
    together = locate(engine, {"email": email})
    rounds = 1 + sum(1 for a, b in zip(seen, seen[1:], strict=False) if (a, b) == ("read", "send"))
    assert seen.count("send") == seen.count("read") == together.statements, seen
    order, sent[:] = list(sent), []
    with monkeypatch.context() as patch:
        patch.setattr(connector, "find_each", lambda conn, finds: Connector.find_each(connector, conn, finds))
        one_by_one = locate(engine, {"email": email})
    assert order == sent, (order, sent)
    assert together.rows == one_by_one.rows and together.via == one_by_one.via
    assert together.discovered == one_by_one.discovered and together.statements == one_by_one.statements
    return together.statements, rounds


def test_lookups_that_need_no_other_lookup_go_together_and_find_what_one_by_one_finds(
        plane: tuple[Engine, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """#19: steps that do not read each other's rows are sent together: on PostgreSQL (psycopg's
    pipeline) every statement of a wave is sent before any result is read, so the person's
    seven tables take three round trips (by email; by the account's id and email; by the
    orders' ids). Elsewhere they run one by one. Either way the lookups, the rows, the paths
    that found them and the identities discovered are those of a run that looks up one step
    at a time, also when the data map has a cycle (an account's team leads to its teammates,
    who are found in a later pass)."""
    engine, url = plane
    pg = url.startswith("postgresql")
    assert _looked_up(engine, MIXED, monkeypatch) == (7, 3 if pg else 7)
    found = locate(engine, {"email": MIXED})
    assert {k: set(found.keys(k)) for k in found.counts()} == truth(url, MIXED)
    (tmp_path / "cycle").mkdir()
    cyclic = deploy(tmp_path / "cycle", url, DATASET.replace(
        "          - {name: team_id}\n",
        "          - name: team_id\n            references: [{field: main.teams.id}]\n"))
    try:
        statements, rounds = _looked_up(cyclic, "boss@example.com", monkeypatch)
        assert rounds < statements if pg else rounds == statements
        assert (1,) in locate(cyclic, {"email": "boss@example.com"}).keys("main.accounts")  # a teammate
    finally:
        cyclic.close()


def test_reads_masks_and_deletes_by_composite_key_are_set_based(plane: tuple[Engine, str]) -> None:
    engine, url = plane
    locate(engine, {"email": MIXED})  # checks the live schema: row keys are known
    connector = engine.connectors.get("main")
    connector.batch_size = 4  # two (order_id, line_no) keys per statement
    statements: list[str] = []
    sa = engine.platform_engine("main")
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(sa, "before_cursor_execute", listener)
    try:
        keys = [(10, 1), (11, 1), (12, 2)]
        with connector.begin() as conn:
            rows = list(connector.fetch(conn, "order_lines", keys))
            assert sorted((r["order_id"], r["line_no"], r["item"]) for r in rows) == \
                [(10, 1, "tea"), (11, 1, "pot"), (12, 2, "y")]
            assert connector.update_keys(conn, "order_lines", keys, {"item": None}) == 3
            assert connector.delete_keys(conn, "order_lines", [(10, 1), (12, 2)]) == 2
            assert connector.delete_keys(conn, "visits", [(MIXED, T[0]), ("other@example.com", T[1])]) == 1
            assert connector.delete_keys(conn, "audit_log", [(1, 2)]) == 1
    finally:
        event.remove(sa, "before_cursor_execute", listener)
    dml = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE"))]
    assert len(dml) == 2 + 2 + 1 + 1 + 1  # per batch of two keys, never per row
    eng = create_engine(url)
    with eng.connect() as conn:
        left = {tuple(r) for r in conn.execute(select(order_lines.c.order_id, order_lines.c.line_no,
                                                      order_lines.c.item))}
        assert left == {(10, 2, "cup"), (11, 1, None), (12, 1, "x")}
        assert conn.execute(select(func.count()).select_from(visits)).scalar() == 4
        assert {tuple(r) for r in conn.execute(select(audit_log.c.account_id, audit_log.c.seq))} == {(1, 1), (4, 1)}
    eng.dispose()


def test_key_in_is_index_friendly_on_sqlite(tmp_path: Path) -> None:
    """A bare row-value IN makes SQLite scan; the leading column's IN lets it search the key."""
    from pledge.connectors.sql import key_in

    url = f"sqlite:///{tmp_path / 'k.db'}"
    build(url)
    eng = create_engine(url)
    stmt = select(order_lines).where(key_in(order_lines, ["order_id", "line_no"], [(10, 1), (12, 2)]))
    sql = str(stmt.compile(eng, compile_kwargs={"literal_binds": True}))
    with eng.connect() as conn:
        plan = " ".join(str(r[3]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
        assert {tuple(r)[:2] for r in conn.execute(stmt)} == {(10, 1), (12, 2)}
    eng.dispose()
    assert "SEARCH order_lines USING INDEX" in plan, plan


# -- tables without a primary key ------------------------------------------------------------------
def test_a_table_without_primary_key_uses_its_declared_unique_key(plane: tuple[Engine, str]) -> None:
    engine, _ = plane
    found = locate(engine, {"email": MIXED})
    assert found.primary_keys["main.audit_log"] == ["account_id", "seq"]
    assert found.keys("main.audit_log") == [(1, 1), (1, 2)]


def test_a_declared_key_that_is_not_unique_is_refused(tmp_path: Path, any_db_url: str) -> None:
    """Naming audit_log rows by account_id alone would merge (1, 1) and (1, 2) into one row."""
    from pledge.dataplane.schema import SchemaMismatch

    build(any_db_url)
    loose = DATASET.replace("          - {name: seq, primary_key: true}", "          - {name: seq}")
    engine = deploy(tmp_path, any_db_url, loose)
    try:
        with pytest.raises(SchemaMismatch) as caught:
            locate(engine, {"email": MIXED})
    finally:
        engine.close()
    line = loose.splitlines().index("      - name: audit_log") + 3  # its account_id field
    assert f"dataset.yaml:{line}: main.audit_log:" in str(caught.value)
    assert "the declared key (account_id) cannot name its rows" in str(caught.value)
    assert "(no-row-key)" in str(caught.value)


def test_a_table_with_no_key_at_all_is_refused_up_front(tmp_path: Path, any_db_url: str) -> None:
    from pledge.dataplane.schema import SchemaMismatch

    build(any_db_url)
    engine = deploy(tmp_path, any_db_url, DATASET + SCRATCH)
    try:
        with pytest.raises(SchemaMismatch) as caught:
            locate(engine, {"email": MIXED})
    finally:
        engine.close()
    line = (DATASET + SCRATCH).splitlines().index("      - name: scratch") + 1
    message = str(caught.value)
    assert f"dataset.yaml:{line}: main.scratch:" in message
    assert "no primary key" in message and "ADD PRIMARY KEY" in message and "live columns: account_id, body" \
        in message


def test_without_a_declaration_a_live_unique_key_is_used_and_check_says_so(tmp_path: Path, any_db_url: str) -> None:
    from pledge.datamap.check import check_dataset

    build(any_db_url)
    undeclared = DATASET.replace("""          - name: account_id
            primary_key: true
            references: [{field: main.accounts.id}]
          - {name: seq, primary_key: true}""", """          - name: account_id
            references: [{field: main.accounts.id}]
          - {name: seq}""")
    engine = deploy(tmp_path, any_db_url, undeclared)
    try:
        assert locate(engine, {"email": MIXED}).keys("main.audit_log") == [(1, 1), (1, 2)]
        findings = check_dataset(engine.dataset, engine.platform_engine)
    finally:
        engine.close()
    [hint] = [f for f in findings if f.code == "implicit-row-key"]
    assert hint.severity == "warning" and "(account_id, seq)" in hint.message


# -- index advice ------------------------------------------------------------------------------------
def test_check_names_the_index_a_case_insensitive_lookup_needs(tmp_path: Path, any_db_url: str) -> None:
    from pledge.datamap.check import check_dataset

    build(any_db_url)
    engine = deploy(tmp_path, any_db_url)
    try:
        before = {f.path: f for f in check_dataset(engine.dataset, engine.platform_engine)
                  if f.code == "case-insensitive-index"}
        if engine.platform_engine("main").dialect.name in ("mysql", "mariadb"):
            # the default *_ci collation compares without case: an ordinary index serves, and the
            # visits key already starts with email
            assert set(before) == {"main.accounts.email"}
            fix = "CREATE INDEX accounts_email ON accounts (email)"
        else:
            assert set(before) == {"main.accounts.email", "main.visits.email"}
            fix = "CREATE INDEX accounts_email_lower ON accounts (lower(email))"
        assert fix in before["main.accounts.email"].message
        line = DATASET.splitlines().index("          - {name: email, identity: email, categories: "
                                          "[user.contact.email]}") + 1
        assert before["main.accounts.email"].where == f"{tmp_path / 'dataset.yaml'}:{line}"
        with engine.platform_engine("main").begin() as conn:
            conn.execute(text(fix))
        after = {f.path for f in check_dataset(engine.dataset, engine.platform_engine)
                 if f.code == "case-insensitive-index"}
        assert "main.accounts.email" not in after
    finally:
        engine.close()
