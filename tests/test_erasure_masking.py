"""Masking strategies on the three real engines: set-based, idempotent, keys untouched."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Date,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    event,
    select,
)

from pledge.dataplane.masking import (
    MaskingError,
    delete_rows,
    hmac_pseudonym,
    mask_rows,
    reflect_table,
)
from pledge.store import make_sa_engine

SECRET = "test-secret"


def _schema(url: str) -> Any:
    eng = make_sa_engine(url)
    md = MetaData()
    Table("users", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("email", String(120), nullable=False, unique=True),
          Column("name", String(80), nullable=False),
          Column("phone", String(40)),
          Column("birth_date", Date),
          Column("bio", Text))
    Table("notes", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("user_id", Integer, ForeignKey("users.id"), nullable=True),
          Column("body", Text))
    md.create_all(eng)
    with eng.begin() as conn:
        conn.execute(md.tables["users"].insert(), [
            {"id": i, "email": f"u{i}@example.com", "name": f"Name {i}", "phone": f"+4850010020{i}",
             "birth_date": date(1990, 1, i), "bio": f"bio {i}"} for i in range(1, 8)])
        conn.execute(md.tables["notes"].insert(), [{"id": i, "user_id": i, "body": "x"} for i in range(1, 8)])
    return eng


def _rows(eng: Any, name: str) -> dict[int, dict[str, Any]]:
    with eng.connect() as conn:
        t = reflect_table(conn, name)
        return {r.id: dict(r._mapping) for r in conn.execute(select(t))}


def test_every_strategy_one_update_per_batch(any_db_url: str) -> None:
    eng = _schema(any_db_url)
    before = _rows(eng, "users")
    statements: list[str] = []
    event.listen(eng, "before_cursor_execute",
                 lambda *a: statements.append(a[2].split()[0].upper()))
    with eng.begin() as conn:
        users = reflect_table(conn, "users")
        statements.clear()
        res = mask_rows(conn, users, [1, 2, 3, 4, 5], {
            "email": "hmac", "name": "redact", "phone": "fake", "birth_date": "null", "bio": "null",
            "id": "null",
        }, secret=SECRET, batch_size=2)
    # 3 batches: a SELECT (hmac needs the old values) and one UPDATE each
    assert statements.count("UPDATE") == 3 and statements.count("SELECT") == 3
    assert res.rows == 5
    assert res.skipped == {"id": "primary or foreign key: never masked"}
    assert res.applied["name"] == "redact" and res.applied["birth_date"] == "null"
    after = _rows(eng, "users")
    for i in range(1, 6):
        row = after[i]
        assert row["email"] == hmac_pseudonym(SECRET, before[i]["email"], 120)
        assert row["name"] == "[redacted]"
        assert row["phone"] and row["phone"] != before[i]["phone"]
        assert row["birth_date"] is None and row["bio"] is None
    for i in (6, 7):  # other rows untouched
        assert after[i] == before[i]
    # distinct emails stay distinct (the column is UNIQUE)
    assert len({after[i]["email"] for i in range(1, 8)}) == 7


def test_masking_twice_is_a_no_op(any_db_url: str) -> None:
    eng = _schema(any_db_url)
    strategies = {"email": "hmac", "name": "fake", "phone": "redact", "bio": "null"}
    with eng.begin() as conn:
        mask_rows(conn, reflect_table(conn, "users"), [2, 3], strategies, secret=SECRET)
    once = _rows(eng, "users")
    with eng.begin() as conn:
        mask_rows(conn, reflect_table(conn, "users"), [2, 3], strategies, secret=SECRET)
    assert _rows(eng, "users") == once


def test_not_null_falls_back_and_fk_detaches(any_db_url: str) -> None:
    eng = _schema(any_db_url)
    with eng.begin() as conn:
        users = reflect_table(conn, "users")
        res = mask_rows(conn, users, [1], {"name": "null", "email": "redact"}, secret=SECRET)
        notes = reflect_table(conn, "notes")
        res2 = mask_rows(conn, notes, [1], {"user_id": "null", "body": "null"}, secret=SECRET,
                         detach=["user_id"])
        delete_rows(conn, users, [1])  # no FK breaks: the note was detached
    assert res.applied == {"name": "redact", "email": "redact"}
    after = _rows(eng, "users")
    assert 1 not in after
    assert res2.skipped == {"user_id": "primary or foreign key: never masked"}
    assert _rows(eng, "notes")[1] == {"id": 1, "user_id": None, "body": None}


def test_unknown_strategy_is_refused(tmp_path: Any) -> None:
    eng = _schema(f"sqlite:///{tmp_path / 'p.db'}")
    with eng.begin() as conn, pytest.raises(MaskingError, match="unknown strategy"):
        mask_rows(conn, reflect_table(conn, "users"), [1], {"name": "shred"}, secret=SECRET)


def test_pseudonym_is_keyed() -> None:
    assert hmac_pseudonym("a", "x@example.com") != hmac_pseudonym("b", "x@example.com")
    p = hmac_pseudonym("a", "x@example.com")
    assert hmac_pseudonym("a", p) == p and p.startswith("pz_")
