"""Tests for the survivors of ``Planner._close``, the foreign-key closure of the erasure planner
(docs/mutation.md).

Each builds a variant of the small platform of ``tests/test_erasure.py`` that reaches one part
of the closure, and checks the plan against the planner's documented contract (the module
docstring of ``pledge.rights.erasure_plan``, docs/datamap-format.md) and the run against SQL:

* rows with no owner of their own, reached through the person's rows (places where her photos
  were taken), that other people's rows also use are kept as they are; used only by her rows
  that stay, they are anonymised instead of deleted, and what they still point at stays too;
* shared content (``shared: anonymise``) inside content inside a container that stays, and
  content with two containers of which one link is empty;
* a container with a composite key;
* rows outside the data map that point at the person's rows.

Every plan is made under a deadline: the closure is a loop that must end.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Column, ForeignKey, ForeignKeyConstraint, Integer, MetaData, String, Table

from pledge.engine import Engine
from pledge.rights.erasure import erase, plan_erasure
from pledge.rights.erasure_plan import Step
from tests.test_erasure import _schema
from tests.test_mutants_erasure_gaps import _collection, _engine, _one, _run, _sql, _steps, _unchanged, _user

#: seconds a plan may take here (one takes well under a second)
DEADLINE = 15


class PlanTooSlow(AssertionError):
    pass


@contextmanager
def _deadline(seconds: int = DEADLINE) -> Iterator[None]:
    """Fail (instead of hanging) when planning does not finish in time."""

    def expired(_signum: int, _frame: Any) -> None:
        raise PlanTooSlow(f"the erasure plan did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _plan(engine: Engine, uid: int) -> list[Step]:
    with _deadline():
        steps, _notes = plan_erasure(engine, {"email": _user(engine, uid)["email"]})
    return steps


def _erase(engine: Engine, uid: int) -> dict[str, Any]:
    with _deadline():
        return erase(engine, {"email": _user(engine, uid)["email"]})


def _ids(engine: Engine, query: str, **params: Any) -> list[Any]:
    return [r[0] for r in _sql(engine, query, **params)]


# -- rows with no owner of their own, reached through hers (the "also used" branch) ---------------------
def _places(dataset: dict[str, Any]) -> None:
    """A place where a photo was taken (no owner of its own: reached through the photo), and
    check-ins at places (``erasure: redact``: a person's check-in stays, its note redacted)."""
    colls: list[dict[str, Any]] = dataset["databases"][0]["collections"]
    colls.append({"name": "places", "erasure": "delete", "fields": [
        {"name": "id", "primary_key": True},
        {"name": "media_id", "references": [{"field": "main.media.id"}]},
        {"name": "label", "categories": ["user.content"]}]})
    colls.append({"name": "checkins", "erasure": "redact", "fields": [
        {"name": "id", "primary_key": True},
        {"name": "user_id", "references": [{"field": "main.users.id"}]},
        {"name": "note", "categories": ["user.content"]}]})


def _place_tables(md: MetaData) -> None:
    Table("places", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("media_id", Integer, ForeignKey("media.id"), nullable=False), Column("label", String(100)))
    Table("checkins", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
          Column("place_id", Integer, ForeignKey("places.id"), nullable=False), Column("note", String(100)))


USER_6 = 6  # even: her invoice is old (deleted); she owns no workspace (workspaces 1-4 are users 1-4's)


def _only_her_own_content(engine: Engine, uid: int) -> None:
    """Drop the messages she wrote in other people's conversations, so that nothing of hers
    needs anything kept but what a test plants."""
    _run(engine, "DELETE FROM messages WHERE author_id = :u AND conversation_id NOT IN "
                 "(SELECT id FROM conversations WHERE user_id = :u)", u=uid)


def test_a_place_other_people_also_use_is_kept_and_so_is_her_photo_it_needs(tmp_path: Path) -> None:
    """Module contract: "Rows reached only through the person's rows, with no owner of their
    own (an address), that other people's rows also use are kept as they are", and "a row
    about to be deleted that a row which stays still points at is ... anonymised instead of
    deleted (when the link is NOT NULL)".

    User 6's photo was taken at a place (no owner of its own: hers, reached through her photo)
    where user 2 checked in. The place is kept as it is (nothing in it changes), listed among
    other people's rows with a reason that names them; since it stays and points at her photo
    (NOT NULL), her photo is anonymised instead of deleted, and the run leaves both rows and
    user 2's check-in in place (checked with SQL)."""
    engine = _engine(tmp_path, _schema(), _places, _place_tables)
    _only_her_own_content(engine, USER_6)
    photo = _ids(engine, "SELECT id FROM media WHERE user_id = :u", u=USER_6)
    assert len(photo) == 1
    _run(engine, "INSERT INTO places (id, media_id, label) VALUES (1, :m, 'Beach')", m=photo[0])
    _run(engine, "INSERT INTO checkins (id, user_id, place_id, note) VALUES (1, 2, 1, 'sunny')")
    steps = _plan(engine, USER_6)
    place = _one(steps, "places", 1)
    assert place.keys == [1]
    assert place.outcome == "retained" and place.op == "none" and place.shared is True
    assert place.fields == {} and place.detach == []
    assert "other people's rows" in place.reason and "checkins" in place.reason
    media = _one(steps, "media", photo[0])
    assert media.outcome == "masked" and media.op == "update"
    assert "instead of deleted" in media.reason and "places" in media.reason
    assert not [s for s in _steps(steps, "media") if s.outcome == "deleted"]
    assert not _steps(steps, "checkins")  # user 2's check-in: nothing of hers in it
    _erase(engine, USER_6)
    assert _sql(engine, "SELECT id, media_id, label FROM places") == [(1, photo[0], "Beach")]
    assert _sql(engine, "SELECT id, user_id, place_id, note FROM checkins") == [(1, 2, 1, "sunny")]
    assert _ids(engine, "SELECT id FROM media WHERE user_id = :u", u=USER_6) == photo
    assert _sql(engine, "SELECT filename FROM media WHERE id = :m", m=photo[0]) == [(None,)]
    engine.close()


def test_a_place_only_her_kept_checkin_uses_is_anonymised_not_kept_as_it_is(tmp_path: Path) -> None:
    """Module contract: a row about to be deleted that a row which stays still points at (NOT
    NULL) is anonymised instead of deleted; "kept as it is" is only for rows other people's
    rows also use. User 6's photo was taken at a place that only her own check-in uses; her
    check-in stays (``erasure: redact``), so the place is anonymised (its label nulled, the
    collection's ``erasure: delete`` masks with null), not kept as it is, and is not listed
    among other people's rows."""
    engine = _engine(tmp_path, _schema(), _places, _place_tables)
    photo = _ids(engine, "SELECT id FROM media WHERE user_id = :u", u=USER_6)
    _run(engine, "INSERT INTO places (id, media_id, label) VALUES (2, :m, 'Cafe')", m=photo[0])
    _run(engine, "INSERT INTO checkins (id, user_id, place_id, note) VALUES (2, :u, 2, 'coffee')", u=USER_6)
    steps = _plan(engine, USER_6)
    checkin = _one(steps, "checkins", 2)
    assert checkin.outcome == "masked" and checkin.fields == {"note": "redact"}
    place = _one(steps, "places", 2)
    assert place.keys == [2]
    assert place.outcome == "masked" and place.op == "update" and place.shared is False
    assert place.fields == {"label": "null"} and "instead of deleted" in place.reason
    _erase(engine, USER_6)
    assert _sql(engine, "SELECT id, media_id, label FROM places") == [(2, photo[0], None)]
    engine.close()


# -- shared content inside shared content (loop over containers, another pass) ---------------------------
def _reactions(dataset: dict[str, Any]) -> None:
    """Reactions to messages: shared content inside a message (``shared: anonymise``), found
    from the person who reacted; listed in the data map before the messages."""
    colls: list[dict[str, Any]] = dataset["databases"][0]["collections"]
    at = colls.index(_collection(dataset, "messages"))
    colls.insert(at, {"name": "reactions", "erasure": "delete", "shared": "anonymise", "fields": [
        {"name": "id", "primary_key": True},
        {"name": "message_id", "references": [{"field": "main.messages.id"}]},
        {"name": "user_id", "references": [{"field": "main.users.id"}]},
        {"name": "emoji", "categories": ["user.content"]}]})


def _reaction_table(md: MetaData) -> None:
    Table("reactions", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("message_id", Integer, ForeignKey("messages.id"), nullable=False),
          Column("user_id", Integer, ForeignKey("users.id"), nullable=True), Column("emoji", String(10)))


def test_her_reaction_to_her_message_in_someone_elses_conversation_stays(tmp_path: Path) -> None:
    """docs/datamap-format.md, ``shared: anonymise``: content inside containers is deleted when
    every container it links to is erased, anonymised otherwise. User 6's message in user 2's
    conversation stays (user 2's conversation is not erased), so her reaction to that message
    stays as well, anonymised (its emoji nulled), and loses its link to her (``user_id``, a
    nullable link to her row in a table of people, is cut); her reaction to a message in her own
    conversation goes with it."""
    engine = _engine(tmp_path, _schema(), _reactions, _reaction_table)
    _only_her_own_content(engine, USER_6)
    theirs = _ids(engine, "SELECT id FROM conversations WHERE user_id = 2 ORDER BY id")[0]
    hers = _ids(engine, "SELECT id FROM conversations WHERE user_id = :u ORDER BY id", u=USER_6)[0]
    _run(engine, "INSERT INTO messages (id, conversation_id, author_id, content) VALUES "
                 "(9001, :c, :u, 'hello'), (9002, :h, :u, 'note')", c=theirs, h=hers, u=USER_6)
    _run(engine, "INSERT INTO reactions (id, message_id, user_id, emoji) VALUES "
                 "(1, 9001, :u, 'ok'), (2, 9002, :u, 'hm')", u=USER_6)
    steps = _plan(engine, USER_6)
    message = _one(steps, "messages", 9001)
    assert message.outcome == "masked" and message.detach == ["author_id"]
    reaction = _one(steps, "reactions", 1)
    assert reaction.keys == [1]
    assert reaction.outcome == "masked" and reaction.shared is False
    assert reaction.fields == {"emoji": "null"} and reaction.detach == ["user_id"]
    assert [s.outcome for s in _steps(steps, "reactions") if 2 in s.keys] == ["deleted"]
    _erase(engine, USER_6)
    assert _sql(engine, "SELECT id, message_id, user_id, emoji FROM reactions") == [(1, 9001, None, None)]
    assert _sql(engine, "SELECT id, author_id, content FROM messages WHERE id IN (9001, 9002)") == [
        (9001, None, "hello")]
    engine.close()


def _attachments(dataset: dict[str, Any]) -> None:
    """Attachments: shared content inside a conversation or inside a message (either link may
    be empty), found from the person who attached them."""
    dataset["databases"][0]["collections"].append(
        {"name": "attachments", "erasure": "delete", "shared": "anonymise", "fields": [
            {"name": "id", "primary_key": True},
            {"name": "conversation_id", "references": [{"field": "main.conversations.id"}]},
            {"name": "message_id", "references": [{"field": "main.messages.id"}]},
            {"name": "user_id", "references": [{"field": "main.users.id"}]},
            {"name": "filename", "categories": ["user.content"]}]})


def _attachment_table(md: MetaData) -> None:
    Table("attachments", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("conversation_id", Integer, ForeignKey("conversations.id"), nullable=True),
          Column("message_id", Integer, ForeignKey("messages.id"), nullable=True),
          Column("user_id", Integer, ForeignKey("users.id"), nullable=True), Column("filename", String(100)))


def test_her_attachments_in_containers_that_stay_stay_whichever_link_is_empty(tmp_path: Path) -> None:
    """docs/datamap-format.md, ``shared: anonymise``: content inside containers is deleted when
    every container it links to is erased, anonymised otherwise; an empty link leads to no
    container. User 6 attached one file to her message in user 2's conversation (no
    conversation link) and one to user 2's conversation itself (no message link): both
    containers stay, so both files stay, anonymised (file name nulled) and without their link to
    her; a file attached to her own conversation goes with it."""
    engine = _engine(tmp_path, _schema(), _attachments, _attachment_table)
    theirs = _ids(engine, "SELECT id FROM conversations WHERE user_id = 2 ORDER BY id")[0]
    hers = _ids(engine, "SELECT id FROM conversations WHERE user_id = :u ORDER BY id", u=USER_6)[0]
    _run(engine, "INSERT INTO messages (id, conversation_id, author_id, content) VALUES (9001, :c, :u, 'hello')",
         c=theirs, u=USER_6)
    _run(engine, "INSERT INTO attachments (id, conversation_id, message_id, user_id, filename) VALUES "
                 "(1, NULL, 9001, :u, 'a.png'), (2, :c, NULL, :u, 'b.png'), (3, :h, NULL, :u, 'c.png')",
         c=theirs, h=hers, u=USER_6)
    steps = _plan(engine, USER_6)
    kept = [s for s in _steps(steps, "attachments") if s.outcome != "deleted"]
    assert sorted(k for s in kept for k in s.keys) == [1, 2]
    for step in kept:
        assert step.outcome == "masked" and step.fields == {"filename": "null"} and step.detach == ["user_id"]
    assert [(s.outcome, s.keys) for s in _steps(steps, "attachments") if s.outcome == "deleted"] == [
        ("deleted", [3])]
    _erase(engine, USER_6)
    assert _sql(engine, "SELECT id, conversation_id, message_id, user_id, filename FROM attachments ORDER BY id") == [
        (1, None, 9001, None, None), (2, theirs, None, None, None)]
    engine.close()


# -- a container with a composite key ---------------------------------------------------------------------
def _boards(dataset: dict[str, Any]) -> None:
    """Boards are named by (user_id, slot); pins (``shared: anonymise``) sit on a board, found
    through the board's owner, and are written by someone."""
    colls: list[dict[str, Any]] = dataset["databases"][0]["collections"]
    colls.append({"name": "boards", "erasure": "delete", "fields": [
        {"name": "user_id", "primary_key": True, "references": [{"field": "main.users.id"}]},
        {"name": "slot", "primary_key": True},
        {"name": "title", "categories": ["user.content"]}]})
    colls.append({"name": "pins", "erasure": "delete", "shared": "anonymise", "fields": [
        {"name": "id", "primary_key": True},
        {"name": "board_user", "references": [{"field": "main.boards.user_id"}]},
        {"name": "author_id", "references": [{"field": "main.users.id"}]},
        {"name": "note", "categories": ["user.content"]}]})


def _board_tables(md: MetaData) -> None:
    Table("boards", md, Column("user_id", Integer, ForeignKey("users.id"), primary_key=True, autoincrement=False),
          Column("slot", Integer, primary_key=True, autoincrement=False), Column("title", String(100)))
    Table("pins", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("board_user", Integer, nullable=False), Column("board_slot", Integer, nullable=False),
          Column("author_id", Integer, ForeignKey("users.id"), nullable=True), Column("note", String(100)),
          ForeignKeyConstraint(["board_user", "board_slot"], ["boards.user_id", "boards.slot"]))


def test_other_peoples_pins_on_her_board_go_with_it(tmp_path: Path) -> None:
    """docs/datamap-format.md, ``shared: anonymise``: content inside a container is deleted
    when every container it links to is erased. User 1's board (a composite key: user_id,
    slot) is deleted, so user 2's pin on it goes with it, listed among other people's rows;
    user 2's pin on user 2's own board is not touched."""
    engine = _engine(tmp_path, _schema(), _boards, _board_tables)
    _run(engine, "INSERT INTO boards (user_id, slot, title) VALUES (1, 1, 'mine'), (2, 1, 'theirs')")
    _run(engine, "INSERT INTO pins (id, board_user, board_slot, author_id, note) VALUES "
                 "(1, 1, 1, 2, 'nice'), (2, 2, 1, 2, 'own')")
    steps = _plan(engine, 1)
    board = _steps(steps, "boards")
    assert [(s.outcome, s.keys) for s in board] == [("deleted", [(1, 1)])]
    pins = _steps(steps, "pins")
    assert [(s.outcome, s.keys, s.shared) for s in pins] == [("deleted", [1], True)]
    _erase(engine, 1)
    assert _sql(engine, "SELECT id, board_user, board_slot, author_id, note FROM pins") == [(2, 2, 1, 2, "own")]
    assert _sql(engine, "SELECT user_id, slot FROM boards") == [(2, 1)]
    engine.close()


# -- rows outside the data map -----------------------------------------------------------------------
def _flags(md: MetaData) -> None:
    Table("message_flags", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("message_id", Integer, ForeignKey("messages.id"), nullable=False))


def test_other_peoples_message_a_flag_outside_the_data_map_needs_stays_theirs(tmp_path: Path) -> None:
    """Module contract: a row about to be deleted that a row which stays still points at with a
    NOT NULL link is anonymised instead of deleted. User 3's message in user 1's conversation
    would go with it (shared content inside her container), but a flag row in a table the data
    map does not cover needs it: it stays, and is still other people's row (``Step.shared``
    "marks rows of other people"): nothing in it changes, so the report lists it among the rows of
    other people left as they are (``others``), not among her kept rows. The conversation it
    needs stays too."""
    engine = _engine(tmp_path, _schema(), _unchanged, _flags)
    conv = _ids(engine, "SELECT id FROM conversations WHERE user_id = 1 ORDER BY id")[0]
    _run(engine, "INSERT INTO messages (id, conversation_id, author_id, content) VALUES (9001, :c, 3, 'hi')", c=conv)
    _run(engine, "INSERT INTO message_flags (id, message_id) VALUES (1, 9001)")
    steps = _plan(engine, 1)
    message = _one(steps, "messages", 9001)
    assert message.outcome != "deleted" and message.shared is True
    assert _one(steps, "conversations", conv).outcome != "deleted"
    report = _erase(engine, 1)
    assert [e for e in report["others"] if 9001 in e["ids"]]  # nothing in it changes
    assert not [e for e in report["retained"] if 9001 in e["ids"]]
    assert _sql(engine, "SELECT id, conversation_id, author_id, content FROM messages WHERE id = 9001") == [
        (9001, conv, 3, "hi")]
    engine.close()


def _shares(md: MetaData) -> None:
    Table("shares", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("sender_id", Integer, ForeignKey("users.id"), nullable=True),
          Column("recipient_id", Integer, ForeignKey("users.id"), nullable=True),
          Column("media_id", Integer, ForeignKey("media.id"), nullable=True))


def test_a_share_outside_the_data_map_loses_every_link_to_her_rows(tmp_path: Path) -> None:
    """Module contract: rows that stay drop their nullable links to erased rows, and "a link
    from a row that stays to the person's own row in a table of people is always cut when it
    can be". User 1 shared her photo with user 2, recorded in a table the data map does not
    cover: the share stays (it is not hers alone: it names user 2), reported among other
    people's rows, and loses both links to her (sender and photo), not user 2's. Her workspace
    stays anonymised for its other members, which changes nothing of this."""
    engine = _engine(tmp_path, _schema(), _unchanged, _shares)
    photo = _ids(engine, "SELECT id FROM media WHERE user_id = 1")[0]
    _run(engine, "INSERT INTO shares (id, sender_id, recipient_id, media_id) VALUES (1, 1, 2, :m)", m=photo)
    steps = _plan(engine, 1)
    assert _one(steps, "workspaces", 1).outcome == "masked"
    share = _one(steps, "shares", 1)
    assert share.keys == [1]
    assert share.outcome == "masked" and share.op == "update" and share.shared is True
    assert share.detach == ["media_id", "sender_id"] and share.fields == {}
    assert isinstance(share.reason, str) and "cut" in share.reason
    assert _one(steps, "media", photo).outcome == "deleted"
    report = _erase(engine, 1)
    assert [e for e in report["shared"] if e["collection"] == "main.shares"]
    assert _sql(engine, "SELECT id, sender_id, recipient_id, media_id FROM shares") == [(1, None, 2, None)]
    assert _sql(engine, "SELECT count(*) FROM media WHERE id = :m", m=photo) == [(0,)]
    engine.close()


def test_every_plan_here_ends(tmp_path: Path) -> None:
    """The closure repeats until nothing changes, and must end: the plan of the small
    platform itself (user 1: a kept invoice, a workspace others use) is made in time."""
    engine = _engine(tmp_path, _schema(), _unchanged)
    steps = _plan(engine, 1)
    assert _one(steps, "users", 1).outcome == "masked"
    engine.close()
