"""Tests for the foreign-key pointers of the erasure planner (``Planner._pointers`` and the
functions it leans on: ``_key_field``, ``_exemption``), written for mutants that survived
(docs/mutation.md).

Each builds a variant of the small platform of ``tests/test_erasure.py`` (through
``tests.test_mutants_erasure_gaps._engine``) and checks the plan against the documented
contract: the module docstring of ``pledge.rights.erasure_plan`` and docs/datamap-format.md
("Ownership and shared content"), and the run against SQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, ForeignKey, ForeignKeyConstraint, Integer, MetaData, String, Table

from pledge.engine import Engine
from pledge.rights.erasure import erase, plan_erasure
from pledge.rights.erasure_plan import ErasurePlanError, Planner
from pledge.rights.locate import locate
from tests.test_erasure import _schema
from tests.test_mutants_erasure_gaps import (
    USER_6,
    _albums,
    _collection,
    _engine,
    _one,
    _run,
    _sql,
    _stars_and_events,
    _stars_and_events_tables,
    _statements,
    _steps,
    _user,
)


# -- the person's own row in a table of people, when it stays ------------------------------------------
def _users_masked(dataset: dict[str, Any]) -> None:
    """Account rows are masked (``erasure: hmac``), not deleted."""
    _collection(dataset, "users")["erasure"] = "hmac"


def _nullable_logins(md: MetaData) -> None:
    """A table outside the data map with a nullable link to users."""
    Table("logins", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("user_id", Integer, ForeignKey("users.id"), nullable=True), Column("at", String(40)))


def _logins_engine(tmp_path: Path) -> Engine:
    engine = _engine(tmp_path, _schema(), _users_masked, _nullable_logins)
    _run(engine, "INSERT INTO logins (id, user_id, at) VALUES (1, :u, 'today'), (2, 3, 'today')", u=USER_6)
    return engine


def test_a_link_to_her_account_row_that_stays_masked_is_still_cut(tmp_path: Path) -> None:
    """Module contract: "a link from a row that stays to the person's own row in a table of
    people is always cut when it can be". User 6's account row is masked (``erasure: hmac``),
    not deleted; her login row (a table outside the data map, nullable ``user_id``) stays
    and loses its link to her (set NULL); user 3's login is not touched."""
    engine = _logins_engine(tmp_path)
    user = _user(engine, USER_6)
    steps, _notes = plan_erasure(engine, {"email": user["email"]})
    account = _one(steps, "users", USER_6)
    assert account.outcome == "masked" and account.op == "update"
    logins = _steps(steps, "logins")
    assert [(s.keys, s.outcome, s.detach) for s in logins] == [([1], "masked", ["user_id"])]
    erase(engine, {"email": user["email"]})
    assert _sql(engine, "SELECT id, user_id, at FROM logins ORDER BY id") == [(1, None, "today"), (2, 3, "today")]
    left = _sql(engine, "SELECT email FROM users WHERE id = :u", u=USER_6)
    assert len(left) == 1 and left[0][0] != user["email"]
    engine.close()


def test_only_rows_pointing_at_her_rows_are_read_by_their_link(tmp_path: Path) -> None:
    """``Planner._pointers``: "One ``SELECT … WHERE link IN (…)`` per link and batch. Rows found
    that the person's traversal did not reach are kept in ``external``". Rows pointing at
    someone else's account (user 3's login) are neither read nor kept: ``external`` holds
    only her login row, and no statement reads the logins table without a WHERE."""
    engine = _logins_engine(tmp_path)
    user = _user(engine, USER_6)
    located = locate(engine, {"email": user["email"]})
    planner = Planner(engine, located)
    with _statements(engine.platform_engine("main")) as seen:
        planner.build()
    assert set(planner.external) == {("main.logins", 1)}
    reads = [s for s in seen if s.startswith("SELECT") and "FROM logins" in s]
    assert reads and all("WHERE" in s and "IN (" in s for s in reads)
    engine.close()


# -- rows reached only through the person's, which other people's rows also use ----------------------
def _masked_albums(dataset: dict[str, Any]) -> None:
    """A photo leads to its album (``direction: to``); albums have no owner of their own and are
    masked when erased (``erasure: redact``)."""
    _collection(dataset, "media")["fields"].append(
        {"name": "album_id", "references": [{"field": "main.albums.id", "direction": "to"}]})
    dataset["databases"][0]["collections"].append({"name": "albums", "erasure": "redact", "fields": [
        {"name": "id", "primary_key": True}, {"name": "title", "categories": ["user.content"]}]})


def test_a_row_reached_through_hers_that_others_also_use_is_kept_as_it_is(tmp_path: Path) -> None:
    """docs/datamap-format.md: "A row with no owner field set belongs to what it was reached
    through … If other people's rows also point at it (an address two customers share), it is
    kept as it is." User 1's photo 1 is in album 1, which user 2's photo 2 is in too: album 1
    is kept as it is. Her photo 99 is in album 2, which only she uses: album 2 is hers and is
    erased by its strategy (its title redacted)."""
    engine = _engine(tmp_path, _schema(), _masked_albums, _albums)
    _run(engine, "ALTER TABLE media ADD COLUMN album_id INTEGER REFERENCES albums(id)")
    _run(engine, "INSERT INTO albums (id, title) VALUES (1, 'Holidays'), (2, 'Garden')")
    _run(engine, "UPDATE media SET album_id = 1 WHERE id IN (1, 2)")
    _run(engine, "INSERT INTO media (id, user_id, filename, album_id) VALUES (99, 1, 'rose.jpg', 2)")
    assert _sql(engine, "SELECT id, user_id FROM media WHERE album_id = 1 ORDER BY id") == [(1, 1), (2, 2)]
    user = _user(engine, 1)
    steps, _notes = plan_erasure(engine, {"email": user["email"]})
    shared = _one(steps, "albums", 1)
    assert shared.keys == [1] and shared.outcome == "retained" and shared.op == "none"
    assert shared.fields == {}
    own = _one(steps, "albums", 2)
    assert own.keys == [2] and own.outcome == "masked" and own.fields == {"title": "redact"}
    erase(engine, {"email": user["email"]})
    rows = _sql(engine, "SELECT id, title FROM albums ORDER BY id")
    assert rows[0] == (1, "Holidays") and rows[1][0] == 2 and rows[1][1] != "Garden"
    engine.close()


# -- a composite link ---------------------------------------------------------------------------------
def _votes(md: MetaData) -> None:
    """Votes on stars, outside the data map: a NOT NULL composite link to a star."""
    _stars_and_events_tables(md)
    Table("star_votes", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("star_user", Integer, nullable=False), Column("star_item", Integer, nullable=False),
          ForeignKeyConstraint(["star_user", "star_item"], ["stars.user_id", "stars.item"]))


def test_a_composite_link_from_a_row_that_stays_keeps_the_row_it_points_at(tmp_path: Path) -> None:
    """Module contract: "a row about to be deleted that a row which stays still points at is
    … anonymised instead of deleted (when the link is NOT NULL)"; rows are named by their
    primary key, "a tuple for a composite key". User 6's star (6, 1) has a vote on it (a NOT
    NULL composite link from a table outside the data map), so it stays; her star (6, 2),
    which nothing points at, is deleted (``erasure: delete``). The run keeps the vote."""
    engine = _engine(tmp_path, _schema(), _stars_and_events, _votes)
    _run(engine, "INSERT INTO stars (user_id, item, at) VALUES (:u, 1, 'a'), (:u, 2, 'b')", u=USER_6)
    _run(engine, "INSERT INTO star_votes (id, star_user, star_item) VALUES (1, :u, 1)", u=USER_6)
    user = _user(engine, USER_6)
    steps, _notes = plan_erasure(engine, {"email": user["email"]})
    stars = _steps(steps, "stars")
    deleted = [k for s in stars if s.outcome == "deleted" for k in s.keys]
    assert deleted == [(USER_6, 2)]
    kept = [k for s in stars if s.outcome != "deleted" for k in s.keys]
    assert kept == [(USER_6, 1)]
    erase(engine, {"email": user["email"]})
    assert _sql(engine, "SELECT user_id, item FROM stars WHERE user_id = :u", u=USER_6) == [(USER_6, 1)]
    assert _sql(engine, "SELECT id, star_user, star_item FROM star_votes") == [(1, USER_6, 1)]
    engine.close()


# -- a second database ---------------------------------------------------------------------------------
def _crm(tmp_path: Path) -> Any:
    url = f"sqlite:///{tmp_path / 'crm.db'}"

    def change(dataset: dict[str, Any]) -> None:
        """A second database: contacts found by their email, deleted when erased."""
        dataset["databases"].append({"name": "crm", "url": url, "collections": [
            {"name": "contacts", "erasure": "delete", "fields": [
                {"name": "id", "primary_key": True},
                {"name": "email", "identity": "email", "categories": ["user.contact.email"]}]}]})
    return change


def test_pointers_are_followed_in_every_database(tmp_path: Path) -> None:
    """Module contract: a row about to be deleted that a row which stays points at with a NOT
    NULL link is anonymised instead of deleted, in every database the data map covers. The
    ``crm`` database (after ``main``) holds user 6's contact row, which a call row (outside the
    data map) still points at: it stays, anonymised; the run keeps the call."""
    engine = _engine(tmp_path, _schema(), _crm(tmp_path))
    md = MetaData()
    Table("contacts", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("email", String(120)))
    Table("calls", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("contact_id", Integer, ForeignKey("contacts.id"), nullable=False), Column("note", String(40)))
    crm = engine.platform_engine("crm")
    md.create_all(crm)
    user = _user(engine, USER_6)
    with crm.begin() as conn:
        conn.execute(md.tables["contacts"].insert(), [{"id": 1, "email": user["email"]},
                                                      {"id": 2, "email": "someone@example.org"}])
        conn.execute(md.tables["calls"].insert(), [{"id": 1, "contact_id": 1, "note": "called"}])
    steps, _notes = plan_erasure(engine, {"email": user["email"]})
    contacts = [s for s in steps if s.database == "crm" and s.collection == "contacts"]
    assert [(s.outcome, s.keys) for s in contacts] == [("masked", [1])]
    erase(engine, {"email": user["email"]})
    with crm.connect() as conn:
        contact = [tuple(r) for r in conn.exec_driver_sql("SELECT id, email FROM contacts ORDER BY id")]
        assert [c[0] for c in contact] == [1, 2] and contact[0][1] != user["email"]
        assert contact[1][1] == "someone@example.org"
        assert [tuple(r) for r in conn.exec_driver_sql("SELECT id, contact_id FROM calls")] == [(1, 1)]
    engine.close()


# -- rows of a mapped table no declared reference leads to ----------------------------------------------
def _transfer_table(md: MetaData) -> None:
    Table("transfers", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("from_user", Integer, ForeignKey("users.id"), nullable=False),
          Column("to_user", Integer, ForeignKey("users.id"), nullable=True),
          Column("to_email", String(120), nullable=True))


def _map_transfers(dataset: dict[str, Any]) -> None:
    """transfers is in the data map (a payee's email is an identity), but no declared
    reference leads to it: its links to users are live foreign keys only."""
    dataset["databases"][0]["collections"].append({"name": "transfers", "erasure": "delete", "fields": [
        {"name": "id", "primary_key": True}, {"name": "from_user"}, {"name": "to_user"},
        {"name": "to_email", "identity": "email", "categories": ["user.contact.email"]}]})


@pytest.mark.parametrize("payee", ["to_user", "to_email"])
def test_an_unreached_mapped_row_that_also_names_someone_else_is_other_peoples(tmp_path: Path, payee: str) -> None:
    """docs/datamap-format.md: owner fields are by default "the identity fields and the
    references to tables of people" (live foreign keys included); a row whose owner fields
    also name someone else is shared with them, so it is other people's. User 6's transfer
    to user 3 (named by ``to_user``, a live foreign key, or by ``to_email``, an identity
    field) in a mapped table the locator does not reach needs her account row (NOT NULL
    ``from_user``): the row stays, anonymised, "for other people's rows"."""
    engine = _engine(tmp_path, _schema(), _map_transfers, _transfer_table)
    payee_value: Any = 3 if payee == "to_user" else _user(engine, 3)["email"]
    _run(engine, f"INSERT INTO transfers (id, from_user, {payee}) VALUES (1, :u, :p)", u=USER_6, p=payee_value)
    user = _user(engine, USER_6)
    steps, _notes = plan_erasure(engine, {"email": user["email"]})
    account = _one(steps, "users", USER_6)
    assert account.outcome == "masked"
    assert "by other people's rows in transfers" in account.reason
    assert not _steps(steps, "transfers")
    engine.close()


# -- Step.key ------------------------------------------------------------------------------------------
def _prefs(dataset: dict[str, Any]) -> None:
    """prefs has no primary key: the data map names its rows by ``user_id`` (unique, NOT NULL)."""
    dataset["databases"][0]["collections"].append({"name": "prefs", "erasure": "delete", "fields": [
        {"name": "user_id", "primary_key": True, "references": [{"field": "main.users.id"}]},
        {"name": "theme"}]})


def _prefs_table(md: MetaData) -> None:
    Table("prefs", md, Column("user_id", Integer, ForeignKey("users.id"), nullable=False, unique=True),
          Column("theme", String(20)))


def test_a_step_names_its_key_columns_only_when_they_are_not_the_primary_key(tmp_path: Path) -> None:
    """``Step``: "``key`` names the key columns when they are not the primary key". User 6's
    prefs row (a table without a primary key, named by its declared unique key ``user_id``)
    is deleted in a step whose ``key`` is ``["user_id"]``; every other step names rows of
    tables with a primary key, so its ``key`` is empty."""
    engine = _engine(tmp_path, _schema(), _prefs, _prefs_table)
    _run(engine, "INSERT INTO prefs (user_id, theme) VALUES (:u, 'dark'), (3, 'light')", u=USER_6)
    user = _user(engine, USER_6)
    steps, _notes = plan_erasure(engine, {"email": user["email"]})
    prefs = _steps(steps, "prefs")
    assert [(s.outcome, s.keys, s.key) for s in prefs] == [("deleted", [USER_6], ["user_id"])]
    others = [s for s in steps if s.collection != "prefs"]
    assert {s.op for s in others} >= {"delete", "update"}
    assert all(s.key == [] for s in others)
    engine.close()


# -- an exemption the policy does not know ------------------------------------------------------------
def _unknown_exemption(dataset: dict[str, Any]) -> None:
    _collection(dataset, "invoices")["exemption"] = "bookkeeping"


def test_an_exemption_the_policy_does_not_know_refuses_the_plan(tmp_path: Path) -> None:
    """``ErasurePlanError``: "A data map or policy that cannot drive an erasure (e.g. an unknown
    exemption)". The error names the collection, the unknown exemption and the policy's
    exemptions, so the data map can be fixed."""
    engine = _engine(tmp_path, _schema(), _unknown_exemption)
    user = _user(engine, 1)
    with pytest.raises(ErasurePlanError) as caught:
        plan_erasure(engine, {"email": user["email"]})
    message = str(caught.value)
    assert "'invoices'" in message and "'bookkeeping'" in message and "tax_records" in message
    engine.close()



# -- keys of mixed types ---------------------------------------------------------------------------------
def _badges(dataset: dict[str, Any]) -> None:
    """badges are deleted with the person; their key column has no declared type."""
    dataset["databases"][0]["collections"].append({"name": "badges", "erasure": "delete", "fields": [
        {"name": "code", "primary_key": True}, {"name": "user_id", "references": [{"field": "main.users.id"}]}]})


def test_keys_of_mixed_types_are_planned_like_any_other(tmp_path: Path) -> None:
    """Rows are named by their primary key, whatever its values (the locator orders keys
    that do not compare by their text, ``pledge.dataplane.resolve._sorted``): on SQLite a key
    column without a type holds a number and a text side by side. User 6's badges ``5`` and
    ``'gold'`` are deleted (``erasure: delete``), and a note outside the data map that points
    at one of them loses that link (nullable: set NULL)."""
    engine = _engine(tmp_path, _schema(), _badges)
    _run(engine, "CREATE TABLE badges (code PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id))")
    _run(engine, "CREATE TABLE badge_notes (id INTEGER PRIMARY KEY, badge_code REFERENCES badges(code), "
                 "note VARCHAR(40))")
    _run(engine, "INSERT INTO badges (code, user_id) VALUES (5, :u), ('gold', :u), (7, 3)", u=USER_6)
    _run(engine, "INSERT INTO badge_notes (id, badge_code, note) VALUES (1, 'gold', 'shiny'), (2, 7, 'x')")
    user = _user(engine, USER_6)
    steps, _notes = plan_erasure(engine, {"email": user["email"]})
    badges = _steps(steps, "badges")
    assert [(s.outcome, set(s.keys)) for s in badges] == [("deleted", {5, "gold"})]
    assert [(s.keys, s.detach) for s in _steps(steps, "badge_notes")] == [([1], ["badge_code"])]
    erase(engine, {"email": user["email"]})
    assert _sql(engine, "SELECT code FROM badges") == [(7,)]
    assert _sql(engine, "SELECT id, badge_code FROM badge_notes ORDER BY id") == [(1, None), (2, 7)]
    engine.close()
