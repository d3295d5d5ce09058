"""Tests for the gaps the mutants of ``pledge.rights.erasure_plan`` showed (docs/mutation.md).

Each builds a variant of the small platform of ``tests/test_erasure.py`` (a data map and a
schema that reach one branch of the planner: other people's rows reached through the person,
``shared: keep``, ``erasure: retain``, rows located by their keys only, rows outside the data
map) and checks the plan against the planner's documented contract (the module docstring of
``pledge.rights.erasure_plan``, docs/datamap-format.md), and the run against SQL.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, event, text
from sqlalchemy.engine import Engine as SAEngine

from pledge.engine import Engine
from pledge.rights.erasure import erase, plan_erasure
from pledge.rights.erasure_plan import ErasurePlanError, Planner, Step
from pledge.rights.locate import locate
from pledge.settings import Config, Settings
from tests.test_erasure import DATASET, NOW, POLICY, _fill, _schema

Variant = Callable[[dict[str, Any]], None]


def _collection(dataset: dict[str, Any], name: str) -> dict[str, Any]:
    colls: list[dict[str, Any]] = dataset["databases"][0]["collections"]
    return next(c for c in colls if c["name"] == name)


def _field(coll: dict[str, Any], name: str) -> dict[str, Any]:
    fields: list[dict[str, Any]] = coll["fields"]
    return next(f for f in fields if f["name"] == name)


def _engine(tmp_path: Path, md: MetaData, change: Variant, extra: Callable[[MetaData], None] | None = None,
            ) -> Engine:
    """The small platform on SQLite, with ``change`` applied to a copy of its data map, the
    columns ``md`` adds to its tables, and the tables ``extra`` adds (created empty)."""
    dataset = copy.deepcopy(DATASET)
    change(dataset)
    base = tmp_path / "cfg-gaps"
    base.mkdir(parents=True, exist_ok=True)
    (base / "policy.yaml").write_text(yaml.safe_dump(POLICY))
    (base / "dataset.yaml").write_text(yaml.safe_dump(dataset, sort_keys=False))
    cfg = Config(name="mini", policy=base / "policy.yaml", dataset=base / "dataset.yaml",
                 platform_url=f"sqlite:///{tmp_path / 'p.db'}", store_url=f"sqlite:///{base / 'store.db'}",
                 base_dir=base)
    engine = Engine(cfg, Settings(environment="test"), clock=lambda: NOW)
    eng = engine.platform_engine("main")
    md.create_all(eng)
    _fill(eng, md)
    if extra is not None:
        extra(md)
        md.create_all(eng)
    return engine


def _sql(engine: Engine, query: str, **params: Any) -> list[tuple[Any, ...]]:
    with engine.platform_engine("main").connect() as conn:
        return [tuple(r) for r in conn.execute(text(query), params)]


def _run(engine: Engine, query: str, **params: Any) -> None:
    with engine.platform_engine("main").begin() as conn:
        conn.execute(text(query), params)


def _steps(steps: list[Step], collection: str) -> list[Step]:
    return [s for s in steps if s.collection == collection]


def _one(steps: list[Step], collection: str, key: Any) -> Step:
    found = [s for s in _steps(steps, collection) if key in s.keys]
    assert len(found) == 1, (collection, key, found)
    return found[0]


def _user(engine: Engine, uid: int) -> dict[str, Any]:
    with engine.platform_engine("main").connect() as conn:
        return dict(conn.execute(text("SELECT * FROM users WHERE id = :u"), {"u": uid}).one()._mapping)


# -- other people's rows reached through the person (_theirs, _theirs_kept) ------------------------
def _guests(dataset: dict[str, Any]) -> None:
    """Conversations are walked from their workspace; a conversation can name a guest, and a
    message a mention, by email (hmac) and by phone (no strategy of its own: null)."""
    conv = _collection(dataset, "conversations")
    conv["fields"][2:2] = [{"name": "workspace_id", "references": [{"field": "main.workspaces.id"}]}]
    conv["fields"] += [
        {"name": "guest_email", "identity": "email", "categories": ["user.contact.email"], "erasure": "hmac"},
        {"name": "guest_phone", "identity": "phone", "categories": ["user.contact.phone_number"]}]
    _collection(dataset, "messages")["fields"] += [
        {"name": "mention_email", "identity": "email", "categories": ["user.contact.email"], "erasure": "hmac"},
        {"name": "mention_phone", "identity": "phone", "categories": ["user.contact.phone_number"]}]


def _guest_schema() -> MetaData:
    md = _schema()
    for table in ("conversations", "messages"):
        prefix = "guest" if table == "conversations" else "mention"
        md.tables[table].append_column(Column(f"{prefix}_email", String(120), nullable=True))
        md.tables[table].append_column(Column(f"{prefix}_phone", String(40), nullable=True))
    return md


def test_other_peoples_rows_reached_through_the_person_lose_only_their_links_to_her(tmp_path: Path) -> None:
    """Module contract, "other people's rows (reached through the person, but owned by others
    or shared with them) lose only their links to the person: an identity field holding one of
    the person's values is masked, a reference to a row of theirs is cut" (docs/datamap-format.md,
    "Ownership and shared content": masked with the field's own strategy, else null; a nullable
    reference to one of her rows that goes is set NULL).

    User 1 owns workspace 1 (no one else is a member of it, so it is deleted). User 2's
    conversation 901 in it names user 1 as its guest (email and phone): it is shared with her
    (its owner fields name her and user 2), so it stays, user 2's, with its guest email
    pseudonymised (hmac, the field's own strategy), its guest phone nulled (no strategy of its
    own) and its link to her workspace cut. Other people's conversations in her workspace lose
    only that link."""
    md = _guest_schema()
    engine = _engine(tmp_path, md, _guests)
    user = _user(engine, 1)
    _run(engine, "DELETE FROM memberships WHERE workspace_id = 1 AND user_id <> 1")
    _run(engine, "INSERT INTO conversations (id, user_id, workspace_id, title, guest_email, guest_phone) "
                 "VALUES (901, 2, 1, 'planted', :e, :p)", e=user["email"], p=user["phone"])
    others_in_ws = [r[0] for r in _sql(engine, "SELECT id FROM conversations WHERE workspace_id = 1 "
                                               "AND user_id <> 1 AND id <> 901 ORDER BY id")]
    assert others_in_ws  # the fill puts other people's conversations in workspace 1
    steps, _notes = plan_erasure(engine, {"email": user["email"]})
    guest = _one(steps, "conversations", 901)
    assert guest.keys == [901]
    assert guest.outcome == "masked" and guest.shared is True
    assert guest.reason == "other people's row: only its link to the person " \
                           "(workspace_id, guest_email, guest_phone) is cut"
    assert guest.fields == {"guest_email": "hmac", "guest_phone": "null"}
    assert guest.detach == ["workspace_id"]
    assert guest.became == {"guest_email": "hash", "guest_phone": "null", "workspace_id": "null"}
    linked = _one(steps, "conversations", others_in_ws[0])
    assert sorted(linked.keys) == others_in_ws
    assert linked.outcome == "masked" and linked.shared is True
    assert linked.reason == "other people's row: only its link to the person (workspace_id) is cut"
    assert linked.fields == {} and linked.detach == ["workspace_id"]
    assert _one(steps, "workspaces", 1).outcome == "deleted"
    report = erase(engine, {"email": user["email"]})
    assert {e["collection"] for e in report["shared"]} >= {"main.conversations"}
    after = _sql(engine, "SELECT id, user_id, workspace_id, title, guest_email, guest_phone FROM conversations "
                         f"WHERE id = 901 OR id IN ({','.join(map(str, others_in_ws))}) ORDER BY id")
    planted = after[-1]
    assert planted[:4] == (901, 2, None, "planted")
    assert planted[4].startswith("pz_") and planted[4] != user["email"]
    assert planted[5] is None
    assert [(r[0], r[2]) for r in after[:-1]] == [(c, None) for c in others_in_ws]
    assert _sql(engine, "SELECT count(*) FROM workspaces WHERE id = 1") == [(0,)]
    engine.close()


def test_other_peoples_shared_content_in_a_container_that_stays_is_kept_without_its_link(tmp_path: Path) -> None:
    """docs/datamap-format.md, ``shared: anonymise``: content inside containers is deleted when
    every container it links to is erased; a container of someone else's stays, so other
    people's messages in it stay too. Module contract: other people's rows lose only their
    links to the person: a message of user 3 in user 2's conversation (reached through user 1's
    workspace) that mentions user 1 by email and phone keeps its content and author, its
    mention email pseudonymised (hmac), its mention phone nulled; a message of user 3 there that
    does not name her is left as it is (listed among ``others``)."""
    md = _guest_schema()
    engine = _engine(tmp_path, md, _guests)
    user = _user(engine, 1)
    _run(engine, "DELETE FROM memberships WHERE workspace_id = 1 AND user_id <> 1")
    _run(engine, "INSERT INTO conversations (id, user_id, workspace_id, title) VALUES (901, 2, 1, 'planted')")
    _run(engine, "INSERT INTO messages (id, conversation_id, author_id, content, mention_email, mention_phone) "
                 "VALUES (9001, 901, 3, 'hi', :e, :p), (9002, 901, 3, 'plain', NULL, NULL)",
         e=user["email"], p=user["phone"])
    dry = erase(engine, {"email": user["email"]}, plan=True)
    steps, _notes = plan_erasure(engine, {"email": user["email"]})
    kept_reason = "other people's shared content in a row that stays: only its link to the person is cut"
    mention = _one(steps, "messages", 9001)
    assert mention.keys == [9001]
    assert mention.outcome == "masked" and mention.op == "update" and mention.shared is True
    assert mention.reason == kept_reason
    assert mention.fields == {"mention_email": "hmac", "mention_phone": "null"} and mention.detach == []
    # other people's messages in other people's conversations of her workspace: nothing of hers
    untouched = {r[0] for r in _sql(engine, "SELECT m.id FROM messages m JOIN conversations c ON "
                                            "m.conversation_id = c.id WHERE c.workspace_id = 1 AND c.user_id <> 1 "
                                            "AND (m.author_id IS NULL OR m.author_id <> 1) "
                                            "AND m.mention_email IS NULL")}
    assert 9002 in untouched and len(untouched) > 1
    plain = _one(steps, "messages", 9002)
    assert set(plain.keys) == untouched
    assert plain.outcome == "retained" and plain.op == "none" and plain.shared is True
    assert plain.reason == kept_reason
    assert plain.fields == {} and plain.detach == []
    others = [e for e in dry["others"] if e["collection"] == "main.messages"]
    assert [set(e["ids"]) for e in others] == [untouched]
    assert [e for e in dry["shared"] if 9001 in e["ids"]][0]["fields"] == {"mention_email": "hash",
                                                                             "mention_phone": "null"}
    before = _sql(engine, "SELECT id, conversation_id, author_id, content FROM messages WHERE id IN (9001, 9002)")
    erase(engine, {"email": user["email"]})
    after = _sql(engine, "SELECT id, conversation_id, author_id, content, mention_email, mention_phone "
                         "FROM messages WHERE id IN (9001, 9002) ORDER BY id")
    assert [r[:4] for r in after] == sorted(before)
    assert after[0][4].startswith("pz_") and after[0][5] is None
    assert after[1][4:] == (None, None)
    engine.close()


def _walk_to_workspaces(dataset: dict[str, Any]) -> None:
    """A membership leads to its workspace (direction ``to``)."""
    _collection(dataset, "memberships")["fields"].append(
        {"name": "workspace_id", "references": [{"field": "main.workspaces.id", "direction": "to"}]})


def test_a_row_of_someone_else_reached_through_the_person_with_nothing_of_hers_is_left_alone(
        tmp_path: Path) -> None:
    """Module contract: other people's rows lose only their links to the person; a workspace
    of someone else that the person's membership leads to (docs/datamap-format.md, ``direction:
    to``) names neither her nor a row of hers, so it is left as it is, listed among the rows of
    other people reached but left as they are (``others``)."""
    engine = _engine(tmp_path, _schema(), _walk_to_workspaces)
    uid = 6  # owns no workspace (workspaces 1-4 are owned by users 1-4)
    theirs = [r[0] for r in _sql(engine, "SELECT w.id FROM memberships m JOIN workspaces w ON m.workspace_id = w.id "
                                         "WHERE m.user_id = :u AND w.owner_id <> :u ORDER BY w.id", u=uid)]
    assert theirs
    user = _user(engine, uid)
    steps, _notes = plan_erasure(engine, {"email": user["email"]})
    ws = _steps(steps, "workspaces")
    assert len(ws) == 1
    assert sorted(ws[0].keys) == theirs
    assert ws[0].outcome == "retained" and ws[0].op == "none" and ws[0].shared is True
    assert ws[0].reason == "other people's row, reached through the person's: nothing of theirs in it"
    assert ws[0].fields == {} and ws[0].detach == []
    dry = erase(engine, {"email": user["email"]}, plan=True)
    assert [e["ids"] for e in dry["others"] if e["collection"] == "main.workspaces"] == [ws[0].keys]
    before = _sql(engine, "SELECT * FROM workspaces ORDER BY id")
    erase(engine, {"email": user["email"]})
    assert _sql(engine, "SELECT * FROM workspaces ORDER BY id") == before
    engine.close()


# -- shared: keep, erasure: retain (_decide, _own) ---------------------------------------------------
def _keep_messages(dataset: dict[str, Any]) -> None:
    _collection(dataset, "messages")["shared"] = "keep"


def test_shared_keep_content_stays_as_it_is_and_only_its_author_link_is_cut(tmp_path: Path) -> None:
    """Module contract: ``shared: keep`` keeps the person's rows as they are; a link from a row
    that stays to the person's own row in a table of people is always cut when it can be
    (docs/datamap-format.md: "keeps the review for the others who read it (shared: keep), its
    link to the customer cut too"). Messages user 1 wrote keep their content and lose their
    author; messages of her conversations without an author are hers (reached through her
    conversation) and stay unchanged; her conversations, which those kept messages need (NOT
    NULL), are anonymised instead of deleted."""
    engine = _engine(tmp_path, _schema(), _keep_messages)
    user = _user(engine, 1)
    written = [r[0] for r in _sql(engine, "SELECT id FROM messages WHERE author_id = 1 ORDER BY id")]
    authorless = [r[0] for r in _sql(engine, "SELECT m.id FROM messages m JOIN conversations c ON "
                                             "m.conversation_id = c.id WHERE c.user_id = 1 AND m.author_id IS NULL "
                                             "ORDER BY m.id")]
    assert written and authorless
    steps, _notes = plan_erasure(engine, {"email": user["email"]})
    kept = "shared content: kept for the others who share it (dataset: shared: keep)"
    by_author = _one(steps, "messages", written[0])
    assert sorted(by_author.keys) == written
    assert by_author.outcome == "masked" and by_author.shared is False
    assert by_author.reason == f"{kept}; its link to the person's row (messages.author_id -> users) is cut"
    assert by_author.fields == {} and by_author.detach == ["author_id"]
    alone = _one(steps, "messages", authorless[0])
    assert sorted(alone.keys) == authorless
    assert alone.outcome == "retained" and alone.op == "none" and alone.shared is False
    assert alone.reason == kept and alone.fields == {} and alone.detach == []
    assert not [s for s in _steps(steps, "messages") if s.outcome == "deleted"]
    conv = _steps(steps, "conversations")
    assert [s.outcome for s in conv] == ["masked"]
    assert "still referenced by the person's kept rows in messages" in conv[0].reason
    before = dict((r[0], r[1:]) for r in _sql(engine, "SELECT id, conversation_id, author_id, content FROM messages"))
    erase(engine, {"email": user["email"]})
    after = dict((r[0], r[1:]) for r in _sql(engine, "SELECT id, conversation_id, author_id, content FROM messages"))
    assert set(after) == set(before)
    for mid in written:
        assert after[mid] == (before[mid][0], None, before[mid][2])
    for mid in authorless:
        assert after[mid] == before[mid]
    engine.close()


def _retain_media(dataset: dict[str, Any]) -> None:
    """Media are kept (``erasure: retain``); a photo leads to its album (``direction: to``),
    which has no owner of its own and is kept too."""
    media = _collection(dataset, "media")
    media["erasure"] = "retain"
    media["fields"].append({"name": "album_id", "references": [{"field": "main.albums.id", "direction": "to"}]})
    dataset["databases"][0]["collections"].append({"name": "albums", "erasure": "retain", "fields": [
        {"name": "id", "primary_key": True}, {"name": "title", "categories": ["user.content"]}]})


def _albums(md: MetaData) -> None:
    Table("albums", md, Column("id", Integer, primary_key=True, autoincrement=False), Column("title", String(100)))


def test_a_collection_marked_retain_keeps_the_persons_rows_and_the_content_inside_them(tmp_path: Path) -> None:
    """Module contract: ``erasure: retain`` keeps the person's rows (docs/datamap-format.md:
    "kept as it is"); shared content inside a container that stays is not deleted: other
    people's face tags on her kept photo stay as they are (``others``), since they name nobody
    of hers. Her photo's album has no owner of its own: it is hers (reached through her photo),
    and kept for the same reason, though user 2's photo is in it too.
    ``erasure: delete`` deletes (her memberships), and her messages in her own
    conversations (hers, or without an author: a row with no owner belongs to what it was
    reached through) go with them (every container they belong to is erased)."""
    engine = _engine(tmp_path, _schema(), _retain_media, _albums)
    _run(engine, "ALTER TABLE media ADD COLUMN album_id INTEGER REFERENCES albums(id)")
    _run(engine, "INSERT INTO albums (id, title) VALUES (1, 'Holidays')")
    _run(engine, "UPDATE media SET album_id = 1 WHERE id IN (1, 2)")
    assert _sql(engine, "SELECT id, user_id FROM media WHERE album_id = 1 ORDER BY id") == [(1, 1), (2, 2)]
    user = _user(engine, 1)
    media = [r[0] for r in _sql(engine, "SELECT id FROM media WHERE user_id = 1")]
    tags = [r[0] for r in _sql(engine, "SELECT ft.id FROM face_tags ft JOIN media m ON ft.media_id = m.id "
                                       "WHERE m.user_id = 1 ORDER BY ft.id")]
    assert media and tags
    steps, _notes = plan_erasure(engine, {"email": user["email"]})
    photo = _steps(steps, "media")
    assert len(photo) == 1 and photo[0].keys == media
    assert photo[0].outcome == "retained" and photo[0].op == "none" and photo[0].shared is False
    assert photo[0].reason == "dataset marks this collection erasure: retain"
    assert photo[0].fields == {} and photo[0].detach == []
    album = _steps(steps, "albums")
    assert [(s.outcome, s.keys, s.reason, s.shared) for s in album] == [
        ("retained", [1], "dataset marks this collection erasure: retain", False)]
    tag = _steps(steps, "face_tags")
    assert len(tag) == 1 and tag[0].keys == tags
    assert tag[0].outcome == "retained" and tag[0].op == "none" and tag[0].shared is True
    assert tag[0].reason == "other people's shared content in a row that stays: only its link to the person is cut"
    members = _steps(steps, "memberships")
    assert [(s.outcome, s.reason) for s in members] == [("deleted", "erasure: delete")]
    assert sorted(members[0].keys) == [r[0] for r in _sql(engine, "SELECT id FROM memberships WHERE user_id = 1 "
                                                                  "ORDER BY id")]
    in_hers = {r[0] for r in _sql(engine, "SELECT m.id FROM messages m JOIN conversations c ON m.conversation_id "
                                          "= c.id WHERE c.user_id = 1 AND (m.author_id = 1 OR m.author_id IS NULL)")}
    assert in_hers
    gone = [s for s in _steps(steps, "messages") if s.outcome == "deleted" and not s.shared]
    assert [s.reason for s in gone] == ["shared content: every container it belongs to is erased too"]
    assert set(gone[0].keys) == in_hers
    before = _sql(engine, "SELECT * FROM media WHERE user_id = 1 ORDER BY id"), \
        _sql(engine, "SELECT * FROM face_tags ORDER BY id"), _sql(engine, "SELECT * FROM albums")
    dry = erase(engine, {"email": user["email"]}, plan=True)
    assert [e["ids"] for e in dry["retained"] if e["collection"] == "main.media"] == [media]
    erase(engine, {"email": user["email"]})
    assert (_sql(engine, "SELECT * FROM media WHERE user_id = 1 ORDER BY id"),
            _sql(engine, "SELECT * FROM face_tags ORDER BY id"), _sql(engine, "SELECT * FROM albums")) == before
    engine.close()


# -- rows located by their keys only (_load) ----------------------------------------------------------
def _stars_and_events(dataset: dict[str, Any]) -> None:
    colls: list[dict[str, Any]] = dataset["databases"][0]["collections"]
    colls.append({"name": "stars", "erasure": "delete", "fields": [
        {"name": "user_id", "primary_key": True, "references": [{"field": "main.users.id"}]},
        {"name": "item", "primary_key": True}, {"name": "at"}]})
    colls.append({"name": "events", "erasure": "redact", "fields": [
        {"name": "id", "primary_key": True},
        {"name": "user_id", "references": [{"field": "main.users.id"}]},
        {"name": "detail", "categories": ["user.behavior"]}]})


def _stars_and_events_tables(md: MetaData) -> None:
    Table("stars", md, Column("user_id", Integer, ForeignKey("users.id"), primary_key=True, autoincrement=False),
          Column("item", Integer, primary_key=True, autoincrement=False), Column("at", String(40)))
    Table("events", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
          Column("detail", String(100)))


@contextmanager
def _statements(eng: SAEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(eng, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(eng, "before_cursor_execute", record)


def _by_event_key(statement: str) -> bool:
    """A SELECT of events rows by their key (not by their link to users)."""
    return "FROM events WHERE" in statement and "events.id IN (" in statement


def test_rows_located_by_their_keys_only_are_read_whole_and_planned_alike(tmp_path: Path) -> None:
    """``Planner`` works from whole rows; rows the locator hands as keys only
    (``locate(..., columns="keys")``, ``Located.keys``) are read back whole, one SELECT per batch
    of 500 keys (docs/mutation.md), so the plan is the same step for step, composite keys
    (tuples) included. Rows handed whole are not read again. User 1 has 501 events (two
    batches), three stars (a composite key) and a recent invoice whose billing email is already
    empty (nothing to change in it)."""
    engine = _engine(tmp_path, _schema(), _stars_and_events, _stars_and_events_tables)
    _run(engine, "INSERT INTO stars (user_id, item, at) VALUES (1, 1, 'a'), (1, 2, 'b'), (1, 3, 'c'), (2, 1, 'd')")
    with engine.platform_engine("main").begin() as conn:
        conn.execute(text("INSERT INTO events (id, user_id, detail) VALUES (:i, :u, :d)"),
                     [{"i": i, "u": 1 if i <= 501 else 2, "d": f"clicked {i}"} for i in range(1, 511)])
    _run(engine, "INSERT INTO invoices (id, user_id, number, amount, issued_at, billing_name, billing_email) "
                 "VALUES (201, 1, 'INV-201', 5, :t, 'B', NULL)", t=NOW.replace(tzinfo=None, year=2026, month=6))
    user = _user(engine, 1)
    ids = {"email": user["email"]}
    eng = engine.platform_engine("main")
    whole_located = locate(engine, ids)
    with _statements(eng) as seen:
        whole = Planner(engine, whole_located).build()
    assert not [s for s in seen if _by_event_key(s)]
    keys_located = locate(engine, ids, columns="keys")
    assert keys_located.keys("main.stars") == [(1, 1), (1, 2), (1, 3)]
    assert "detail" not in keys_located.rows["main.events"][0] and "at" not in keys_located.rows["main.stars"][0]
    with _statements(eng) as seen:
        by_keys = Planner(engine, keys_located).build()
    assert len([s for s in seen if _by_event_key(s)]) == 2  # 500 + 1
    assert [s.to_dict() for s in by_keys] == [s.to_dict() for s in whole]
    stars = _steps(by_keys, "stars")
    assert [(s.outcome, sorted(s.keys)) for s in stars] == [("deleted", [(1, 1), (1, 2), (1, 3)])]
    events = _steps(by_keys, "events")
    assert [(s.outcome, sorted(s.keys), s.fields) for s in events] == [
        ("masked", list(range(1, 502)), {"detail": "redact"})]
    invoice = _one(by_keys, "invoices", 201)
    assert invoice.outcome == "retained" and invoice.fields == {}
    engine.close()


# -- rows outside the person's that still need a parent (_whose, _is_others, _key_names) ---------------
def _logins(md: MetaData) -> None:
    Table("logins", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("user_id", Integer, ForeignKey("users.id"), nullable=False), Column("at", String(40)))


def _map_logins(dataset: dict[str, Any]) -> None:
    """logins is in the data map, but no declared reference leads to it."""
    dataset["databases"][0]["collections"].append({"name": "logins", "erasure": "delete", "fields": [
        {"name": "id", "primary_key": True}, {"name": "user_id"}, {"name": "at"}]})


def _unchanged(_dataset: dict[str, Any]) -> None:
    return None


USER_6 = 6  # an old invoice (deleted), no workspace: nothing of hers keeps her account row


@pytest.mark.parametrize(("change", "whose"), [
    (_unchanged, "unmapped (the data map does not cover them)"),
    (_map_logins, "unreached (no declared reference leads to them)"),
])
def test_a_row_the_person_was_not_found_through_keeps_her_account_row_anonymised(
        tmp_path: Path, change: Variant, whose: str) -> None:
    """Module contract: a row about to be deleted that a row which stays still points at with
    a NOT NULL link is anonymised instead of deleted; its reason says whose rows need it. A
    login row of user 6 in a table the data map does not declare (``unmapped``), or declares
    with no reference leading to it (``unreached``), is not erased (the locator never finds
    it), so her account row stays, anonymised, and nothing else does."""
    engine = _engine(tmp_path, _schema(), change, _logins)
    _run(engine, "INSERT INTO logins (id, user_id, at) VALUES (1, :u, 'today')", u=USER_6)
    user = _user(engine, USER_6)
    steps, _notes = plan_erasure(engine, {"email": user["email"]})
    account = _steps(steps, "users")
    assert len(account) == 1 and account[0].keys == [USER_6]
    assert account[0].outcome == "masked"
    assert account[0].reason == f"still referenced by {whose} rows in logins (logins.user_id -> users): " \
                                "anonymised instead of deleted"
    # docs/datamap-format.md: hmac is a pseudonym, null on a NOT NULL text column redacts it
    assert account[0].became == {"email": "hash", "name": "[redacted]", "phone": "null"}
    assert not _steps(steps, "logins")
    erase(engine, {"email": user["email"]})
    assert _sql(engine, "SELECT id, user_id, at FROM logins") == [(1, USER_6, "today")]
    left = _sql(engine, "SELECT email, phone FROM users WHERE id = :u", u=USER_6)
    assert len(left) == 1 and left[0][0] != user["email"] and left[0][1] is None
    engine.close()


def _transfers(md: MetaData) -> None:
    Table("transfers", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("from_user", Integer, ForeignKey("users.id"), nullable=False),
          Column("to_user", Integer, ForeignKey("users.id"), nullable=False))


def test_an_unmapped_row_shared_with_someone_else_counts_as_other_peoples(tmp_path: Path) -> None:
    """Module contract: other people's rows are those owned by others *or shared with them*.
    A transfer from user 6 to user 3 (a table outside the data map whose two NOT NULL links name
    two people) is shared with user 3, so user 6's account row, which it needs, is anonymised
    instead of deleted "for other people's rows"."""
    engine = _engine(tmp_path, _schema(), _unchanged, _transfers)
    _run(engine, "INSERT INTO transfers (id, from_user, to_user) VALUES (1, :u, 3)", u=USER_6)
    user = _user(engine, USER_6)
    steps, _notes = plan_erasure(engine, {"email": user["email"]})
    account = _steps(steps, "users")
    assert len(account) == 1 and account[0].keys == [USER_6] and account[0].outcome == "masked"
    assert account[0].reason == "still referenced by other people's rows in transfers " \
                                "(transfers.from_user -> users): anonymised instead of deleted"
    engine.close()


def _keyless(md: MetaData) -> None:
    Table("notes", md, Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
          Column("body", String(100)))


def test_a_table_with_no_key_at_all_is_refused_with_the_fix(tmp_path: Path) -> None:
    """Module contract: rows are named by their primary key, or the data map's declared key
    for a table without one; "a table with neither is refused". A keyless table outside the
    data map that holds a link to the person's account row refuses the plan, naming the table
    and how to fix the data map."""
    engine = _engine(tmp_path, _schema(), _unchanged, _keyless)
    _run(engine, "INSERT INTO notes (user_id, body) VALUES (:u, 'x')", u=USER_6)
    user = _user(engine, USER_6)
    with pytest.raises(ErasurePlanError) as caught:
        plan_erasure(engine, {"email": user["email"]})
    assert str(caught.value) == ("main.notes has no primary key, and the data map declares no key fields for it; "
                                 "mark the fields that name a row with primary_key: true")
    engine.close()


def test_other_peoples_rows_keep_their_link_to_her_row_that_stays_anonymised(tmp_path: Path) -> None:
    """docs/datamap-format.md: a reference from other people's rows to one of the person's rows
    that stays anonymised (a workspace other members still use) is kept, and the report says so
    truthfully. User 1's workspace 1 stays anonymised for its other members; their conversations
    in it keep ``workspace_id`` (nullable) and are not changed; their reason does not claim a
    NOT NULL link. (Found by this file's author: the reason used to say the link could not be cut
    because it was NOT NULL.)"""
    engine = _engine(tmp_path, _guest_schema(), _guests)
    with engine.platform_engine("main").connect() as conn:
        others = [r[0] for r in conn.execute(text(
            "SELECT id FROM conversations WHERE workspace_id = 1 AND user_id <> 1 ORDER BY id"))]
    assert others
    steps, _ = plan_erasure(engine, {"email": _user(engine, 1)["email"]})
    workspace = _one(steps, "workspaces", 1)
    assert workspace.outcome == "masked"
    for cid in others:
        step = _one(steps, "conversations", cid)
        assert step.detach == []
        assert "NOT NULL" not in step.reason
        assert step.reason == ("other people's row: it keeps its link to the person's row, which stays "
                               "anonymised instead of deleted")
    engine.close()
