"""Tests for mutants of the erasure planner's step building (``Planner._update_steps``,
``_delete_steps``, ``build``, ``_own``) that survived the suite (docs/mutation.md).

Each builds a variant of the small platform of ``tests/test_erasure.py`` (through
``tests.test_mutants_erasure_gaps._engine``) and checks the plan against the documented
contract: the module docstring of ``pledge.rights.erasure_plan``, the ``Step`` docstring and
docs/datamap-format.md; expected values come from that contract or from SQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, Text

from pledge.rights.erasure import erase, plan_erasure
from pledge.rights.erasure_plan import Step
from tests.test_erasure import _schema
from tests.test_mutants_erasure_gaps import (
    _collection,
    _engine,
    _guest_schema,
    _guests,
    _one,
    _run,
    _sql,
    _steps,
    _unchanged,
    _user,
)

PSEUDONYM = "pz_0123456789abcdef0123456789abcdef"  # a keyed pseudonym (pz_ + hex) maps to itself


# -- only values that really change are planned (_update_steps) -------------------------------------
def _profiles(dataset: dict[str, Any]) -> None:
    """Profiles are masked (``erasure: redact``); ``alias`` has its own strategy (hmac)."""
    dataset["databases"][0]["collections"].append({"name": "profiles", "erasure": "redact", "fields": [
        {"name": "id", "primary_key": True},
        {"name": "user_id", "references": [{"field": "main.users.id"}]},
        {"name": "handle", "categories": ["user.name"]},
        {"name": "alias", "categories": ["user.name"], "erasure": "hmac"},
        {"name": "bio", "categories": ["user.content"]},
        {"name": "score", "categories": ["user.behavior"]}]})


def _profiles_table(md: MetaData) -> None:
    Table("profiles", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
          Column("handle", String(60), unique=True), Column("alias", String(120)), Column("bio", Text),
          Column("score", Integer, nullable=False))


def test_a_row_already_masked_is_planned_with_nothing_to_change(tmp_path: Path) -> None:
    """Module contract: "every row that stays is compared with what masking would write: only
    values that really change are planned". docs/datamap-format.md: ``redact`` writes
    ``[redacted]`` (``[redacted-<key>]`` in a unique column, ``masking.effect``), ``hmac`` a keyed
    pseudonym ``pz_…`` that maps to itself. Profile 50 of user 1 already holds exactly that, so
    it is planned retained (``op`` ``none``) with no field; profile 51 changes in its three text
    fields. Both keep ``score`` (a NOT NULL number is never made up: plan_columns) and say so
    (``Step.kept``: personal fields left as they are, and why). Their table has a primary key,
    so ``Step.key`` is empty."""
    engine = _engine(tmp_path, _schema(), _profiles, _profiles_table)
    _run(engine, "INSERT INTO profiles (id, user_id, handle, alias, bio, score) VALUES "
                 "(50, 1, '[redacted-50]', :p, '[redacted]', 7), (51, 1, 'ada', 'lovelace', 'about me', 3)",
         p=PSEUDONYM)
    steps, _notes = plan_erasure(engine, {"email": _user(engine, 1)["email"]})
    done = _one(steps, "profiles", 50)
    assert done.keys == [50]
    assert done.outcome == "retained" and done.op == "none"
    assert done.fields == {} and done.detach == [] and done.became == {}
    assert set(done.kept) == {"score"} and done.kept["score"]
    assert done.key == []
    fresh = _one(steps, "profiles", 51)
    assert fresh.keys == [51]
    assert fresh.outcome == "masked" and fresh.op == "update"
    assert fresh.fields == {"handle": "redact", "alias": "hmac", "bio": "redact"}
    assert fresh.became == {"handle": "[redacted-<key>]", "alias": "hash", "bio": "[redacted]"}
    assert set(fresh.kept) == {"score"} and fresh.kept["score"]
    assert fresh.key == []
    engine.close()


# -- an exempt row keeps its numbers, and says why (_update_steps) ------------------------------------
def _amount_nulled(dataset: dict[str, Any]) -> None:
    """The invoice amount asks for null, but a kept record keeps its numbers."""
    _collection(dataset, "invoices")["fields"].append(
        {"name": "amount", "categories": ["user.financial"], "erasure": "null"})


def test_a_kept_record_keeps_its_numbers_and_names_the_exemption(tmp_path: Path) -> None:
    """Module contract: rows kept for an exemption lose only text fields outside its categories
    or with their own strategy, "never its numbers or dates"; ``Step.kept`` names personal fields
    left as they are, and why. User 1's recent invoice is kept for ``tax_records``: its amount
    (a number, asking for null) is kept, the why naming that exemption; its billing email
    (text, ``erasure: null``) is cleared."""
    engine = _engine(tmp_path, _schema(), _amount_nulled)
    steps, _notes = plan_erasure(engine, {"email": _user(engine, 1)["email"]})
    invoice = _one(steps, "invoices", 1)
    assert invoice.exemption == "tax_records"
    assert invoice.fields == {"billing_email": "null"}
    assert set(invoice.kept) == {"amount"} and "tax_records" in invoice.kept["amount"]
    erase(engine, {"email": _user(engine, 1)["email"]})
    assert _sql(engine, "SELECT amount, billing_email FROM invoices WHERE id = 1") == [(10, None)]
    engine.close()


# -- a table outside the data map that links to the person (_update_steps: extra) ---------------------
def _visits(md: MetaData) -> None:
    Table("visits", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("user_id", Integer, ForeignKey("users.id"), nullable=True), Column("at", String(40)))


USER_6 = 6  # an old invoice (deleted), no workspace: her account row is deleted


def test_a_row_outside_the_data_map_loses_its_link_to_the_persons_deleted_row(tmp_path: Path) -> None:
    """Module contract: "a row about to be deleted that a row which stays still points at is
    either freed (the link is set NULL, when nullable)"; every UPDATE comes first. A visit row in
    a table the data map does not declare points at user 6's account row with a nullable link:
    the plan updates it (``detach`` the link, ``became`` null, ``Step`` docstring) before the
    account row is deleted, and the run leaves the visit with no user."""
    engine = _engine(tmp_path, _schema(), _unchanged, _visits)
    _run(engine, "INSERT INTO visits (id, user_id, at) VALUES (1, :u, 'today'), (2, 3, 'today')", u=USER_6)
    user = _user(engine, USER_6)
    steps, _notes = plan_erasure(engine, {"email": user["email"]})
    visit = _steps(steps, "visits")
    assert len(visit) == 1 and visit[0].keys == [1]
    assert visit[0].outcome == "masked" and visit[0].op == "update"
    assert visit[0].fields == {} and visit[0].detach == ["user_id"] and visit[0].became == {"user_id": "null"}
    account = _one(steps, "users", USER_6)
    assert account.outcome == "deleted"
    assert steps.index(visit[0]) < steps.index(account)
    erase(engine, {"email": user["email"]})
    assert _sql(engine, "SELECT id, user_id, at FROM visits ORDER BY id") == [(1, None, "today"), (2, 3, "today")]
    assert _sql(engine, "SELECT count(*) FROM users WHERE id = :u", u=USER_6) == [(0,)]
    engine.close()


# -- tables without a primary key, named by a declared key; keys of mixed types -----------------------
def _declared_keys(dataset: dict[str, Any]) -> None:
    """Badges (deleted) and remarks (masked) have no primary key: ``code`` names their rows."""
    colls: list[dict[str, Any]] = dataset["databases"][0]["collections"]
    colls.append({"name": "badges", "erasure": "delete", "fields": [
        {"name": "code", "primary_key": True},
        {"name": "user_id", "references": [{"field": "main.users.id"}]},
        {"name": "label", "categories": ["user.content"]}]})
    colls.append({"name": "remarks", "erasure": "redact", "fields": [
        {"name": "code", "primary_key": True},
        {"name": "user_id", "references": [{"field": "main.users.id"}]},
        {"name": "body", "categories": ["user.content"]}]})


def _keyless_tables(md: MetaData) -> None:
    Table("badges", md, Column("code", String(20), nullable=False, unique=True),
          Column("user_id", Integer, ForeignKey("users.id"), nullable=False), Column("label", String(40)))
    Table("remarks", md, Column("code", String(20), nullable=False, unique=True),
          Column("user_id", Integer, ForeignKey("users.id"), nullable=False), Column("body", String(40)))


def test_rows_of_a_table_without_a_primary_key_are_named_by_its_declared_key(tmp_path: Path) -> None:
    """Module contract: rows are named "by their primary key (…; the data map's declared key for
    a table without one)"; ``Step.key`` "names the key columns when they are not the primary key"
    (and is empty when they are). User 1's badges are deleted and her remarks masked, each step
    naming ``code``; the run removes exactly her badges and masks exactly her remarks."""
    engine = _engine(tmp_path, _schema(), _declared_keys, _keyless_tables)
    _run(engine, "INSERT INTO badges (code, user_id, label) VALUES ('b1', 1, 'x'), ('b2', 1, 'y'), ('b3', 2, 'z')")
    _run(engine, "INSERT INTO remarks (code, user_id, body) VALUES ('r1', 1, 'x'), ('r2', 2, 'y')")
    user = _user(engine, 1)
    steps, _notes = plan_erasure(engine, {"email": user["email"]})
    badges = _steps(steps, "badges")
    assert [(s.outcome, s.op, sorted(s.keys), s.key) for s in badges] == [("deleted", "delete", ["b1", "b2"], ["code"])]
    remarks = _steps(steps, "remarks")
    assert [(s.outcome, s.keys, s.fields, s.key) for s in remarks] == [("masked", ["r1"], {"body": "redact"}, ["code"])]
    assert [s.key for s in _steps(steps, "memberships")] == [[]]
    assert {s.key == [] for s in steps if s.collection not in ("badges", "remarks")} == {True}
    erase(engine, {"email": user["email"]})
    assert _sql(engine, "SELECT code, user_id, label FROM badges") == [("b3", 2, "z")]
    assert _sql(engine, "SELECT code, body FROM remarks ORDER BY code") == [("r1", "[redacted]"), ("r2", "y")]
    engine.close()


def test_key_values_of_mixed_types_in_one_table_still_plan(tmp_path: Path) -> None:
    """Module contract: every located row gets a decision and is named by its key. SQLite keeps
    a number and a text apart in a column with no declared type, so one table can name its rows
    ``1`` and ``'a'``: the plan must still name each of them (a plan that sorted them as they
    are would fail comparing a number with a text). User 1's badges 1 and 'a' are deleted and
    her remarks 1 and 'a' masked."""
    engine = _engine(tmp_path, _schema(), _declared_keys)
    _run(engine, "CREATE TABLE badges (code PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), label TEXT)")
    _run(engine, "CREATE TABLE remarks (code PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), body TEXT)")
    for table in ("badges", "remarks"):
        col = "label" if table == "badges" else "body"
        _run(engine, f"INSERT INTO {table} (code, user_id, {col}) VALUES (1, 1, 'x'), ('a', 1, 'y'), (2, 2, 'z')")
    assert _sql(engine, "SELECT typeof(code) FROM badges ORDER BY rowid") == [("integer",), ("text",), ("integer",)]
    user = _user(engine, 1)
    steps, _notes = plan_erasure(engine, {"email": user["email"]})
    badges = _steps(steps, "badges")
    assert [(s.outcome, sorted(s.keys, key=str)) for s in badges] == [("deleted", [1, "a"])]
    remarks = _steps(steps, "remarks")
    assert [(s.outcome, sorted(s.keys, key=str), s.fields) for s in remarks] == [("masked", [1, "a"], {"body": "redact"})]
    engine.close()


# -- rows reached through the person that other people's rows also use (_own) -------------------------
def _albums_redacted(dataset: dict[str, Any]) -> None:
    """A photo leads to its album (``direction: to``); albums have no owner and are masked."""
    _collection(dataset, "media")["fields"].append(
        {"name": "album_id", "references": [{"field": "main.albums.id", "direction": "to"}]})
    dataset["databases"][0]["collections"].append({"name": "albums", "erasure": "redact", "fields": [
        {"name": "id", "primary_key": True}, {"name": "title", "categories": ["user.content"]}]})


def _albums(md: MetaData) -> None:
    Table("albums", md, Column("id", Integer, primary_key=True, autoincrement=False), Column("title", String(100)))


def test_a_masked_row_with_no_owner_that_other_people_also_use_is_kept_as_it_is(tmp_path: Path) -> None:
    """Module contract: "Rows reached only through the person's rows, with no owner of their own
    (an address), that other people's rows also use are kept as they are." Albums are masked
    (``erasure: redact``); album 1 is reached through user 1's photo, but user 2's photo is in it
    too, so it is kept with its title; album 2, only hers, is masked."""
    engine = _engine(tmp_path, _schema(), _albums_redacted, _albums)
    _run(engine, "ALTER TABLE media ADD COLUMN album_id INTEGER REFERENCES albums(id)")
    _run(engine, "INSERT INTO albums (id, title) VALUES (1, 'Holidays'), (2, 'Mine')")
    _run(engine, "INSERT INTO media (id, user_id, filename, album_id) VALUES (101, 1, 'x.jpg', 2)")
    _run(engine, "UPDATE media SET album_id = 1 WHERE id IN (1, 2)")
    assert _sql(engine, "SELECT id, user_id FROM media WHERE album_id = 1 ORDER BY id") == [(1, 1), (2, 2)]
    user = _user(engine, 1)
    steps, _notes = plan_erasure(engine, {"email": user["email"]})
    shared = _one(steps, "albums", 1)
    assert shared.keys == [1] and shared.outcome == "retained" and shared.fields == {}
    mine = _one(steps, "albums", 2)
    assert mine.keys == [2] and mine.outcome == "masked" and mine.fields == {"title": "redact"}
    engine.close()


# -- other people's rows that keep their link to her anonymised row (_update_steps reason) -------------
def test_other_peoples_unchanged_rows_do_not_claim_their_link_is_cut(tmp_path: Path) -> None:
    """docs/datamap-format.md: a reference from other people's rows to one of the person's rows
    that stays anonymised is kept, "and the report says so truthfully". User 1's workspace 1 stays
    anonymised for its other members; their conversations in it keep ``workspace_id`` and change
    nothing, so their reason must not say their link is cut, and must say her row is anonymised."""
    engine = _engine(tmp_path, _guest_schema(), _guests)
    others = [r[0] for r in _sql(engine, "SELECT id FROM conversations WHERE workspace_id = 1 AND user_id <> 1 "
                                         "ORDER BY id")]
    assert others
    steps, _notes = plan_erasure(engine, {"email": _user(engine, 1)["email"]})
    assert _one(steps, "workspaces", 1).outcome == "masked"
    for cid in others:
        step = _one(steps, "conversations", cid)
        assert step.outcome == "retained" and step.shared is True and step.detach == []
        assert isinstance(step.reason, str)
        assert "is cut" not in step.reason and "anonymised" in step.reason
    engine.close()


# -- extra ordering (build) ---------------------------------------------------------------------------
def _media_after_memberships(dataset: dict[str, Any]) -> None:
    _collection(dataset, "media")["after"] = ["memberships"]


def _ordering_cycle(dataset: dict[str, Any]) -> None:
    _collection(dataset, "media")["after"] = ["memberships"]
    _collection(dataset, "memberships")["after"] = ["main.media"]


def _deletes(steps: list[Step]) -> list[str]:
    return list(dict.fromkeys(s.collection for s in steps if s.op == "delete"))


def test_after_orders_deletes_beyond_the_foreign_keys(tmp_path: Path) -> None:
    """docs/datamap-format.md, ``after``: "Extra ordering: erase after these collections (a bare
    name means the same database)". Media declare ``after: [memberships]`` (no foreign key joins
    them): user 1's memberships are deleted before her media; face tags still go before media
    (children before parents)."""
    engine = _engine(tmp_path, _schema(), _media_after_memberships)
    steps, notes = plan_erasure(engine, {"email": _user(engine, 1)["email"]})
    order = _deletes(steps)
    assert order.index("memberships") < order.index("media")
    assert order.index("face_tags") < order.index("media")
    assert not [n for n in notes if "cycle" in n]
    engine.close()


def test_a_cycle_of_orderings_is_noted_naming_its_tables(tmp_path: Path) -> None:
    """Module contract: DELETEs run children before parents; where the declared order loops
    (media after memberships, memberships after media) it cannot, and the planning notes say so,
    naming both tables; the plan still deletes both."""
    engine = _engine(tmp_path, _schema(), _ordering_cycle)
    steps, notes = plan_erasure(engine, {"email": _user(engine, 1)["email"]})
    assert {"media", "memberships"} <= set(_deletes(steps))
    assert all(isinstance(n, str) for n in notes)
    cycles = [n for n in notes if "cycle" in n]
    assert len(cycles) == 1 and "main.media" in cycles[0] and "main.memberships" in cycles[0]
    engine.close()


# -- a declared reference with no foreign key behind it (build: database_links) ---------------------
def _likes(dataset: dict[str, Any]) -> None:
    """A like names its author and the person liked; only the author is a live foreign key."""
    dataset["databases"][0]["collections"].append({"name": "likes", "erasure": "delete", "fields": [
        {"name": "id", "primary_key": True},
        {"name": "user_id", "references": [{"field": "main.users.id"}]},
        {"name": "liked_id", "references": [{"field": "main.users.id"}]}]})


def _likes_table(md: MetaData) -> None:
    Table("likes", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
          Column("liked_id", Integer, nullable=True))


def test_a_declared_reference_without_a_foreign_key_is_cut_too(tmp_path: Path) -> None:
    """Module contract: other people's rows "lose only their links to the person: … a reference
    to a row of theirs that is deleted is cut"; docs/datamap-format.md: references are declared
    in the data map (live foreign keys are found too). User 3's like of user 6 names her through
    ``liked_id``, a declared reference with no foreign key in the schema: it stays, with that
    link cut (NULL), while user 6's own like is deleted."""
    engine = _engine(tmp_path, _schema(), _likes, _likes_table)
    _run(engine, "INSERT INTO likes (id, user_id, liked_id) VALUES (1, 3, :u), (2, :u, NULL), (3, 3, 4)", u=USER_6)
    user = _user(engine, USER_6)
    steps, _notes = plan_erasure(engine, {"email": user["email"]})
    theirs = _one(steps, "likes", 1)
    assert theirs.outcome == "masked" and theirs.shared is True and theirs.detach == ["liked_id"]
    assert _one(steps, "likes", 2).outcome == "deleted"
    erase(engine, {"email": user["email"]})
    assert _sql(engine, "SELECT id, user_id, liked_id FROM likes ORDER BY id") == [(1, 3, None), (3, 3, 4)]
    engine.close()
