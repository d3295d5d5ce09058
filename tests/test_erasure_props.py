"""Erasure properties on generated schemas, on SQLite, PostgreSQL and MariaDB (issue #15).

Hypothesis builds small platforms: a table of people with mixed-case emails, and up to
four tables with random keys (one column, composite, or none: a declared unique key),
NOT NULL and nullable links to people, a second person in the same row (shared rows),
identity columns holding someone's email, containers (a foreign key to an earlier table,
composite when its key is), a random erasure strategy and sometimes a declared ``owner``.
For a random person A, erased by their email in a random case:

1. **Complete**: no column holds A's email (compared case-insensitively) or name; A's id
   stays only in rows the report lists (a row others still need, anonymised).
2. **Isolated**: every other person's access package is unchanged, except rows that are
   A's own and links to A (A's id, A's email, a container of A's).
3. **Truthful**: the report equals the before/after diff, field by field.
4. **Durable**: restoring an earlier snapshot (before a rectification of someone else, or
   before A's email changed) and replaying the ledger makes (1) hold again, and brings the
   rectification back.

Whose a row is, for the oracle: its owner fields (the declared ``owner``, else every link
to a person) name A and nobody else; a row with none set is its container's.

Runtime is bounded by the ``erasure`` hypothesis profile (``PLEDGE_ERASURE_PROFILE``:
``ci`` 20 examples per engine by default, ``quick`` 5, ``deep`` 200).
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    UniqueConstraint,
    update,
)

from pledge.retention.replay import replay
from pledge.rights.erasure import erase
from pledge.rights.locate import locate
from pledge.rights.rectify import rectify
from tests.erasure_exact_support import Snap, assert_report_is_diff, entries_rows, make_engine, restore, snap
from tests.services import database_url

settings.register_profile("erasure-ci", max_examples=20, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("erasure-quick", max_examples=5, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("erasure-deep", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PROFILE = settings.get_profile("erasure-" + os.environ.get("PLEDGE_ERASURE_PROFILE", "ci"))

BASE = datetime(2026, 11, 1, tzinfo=UTC)
CASES = (str.lower, str.upper, str.title, lambda s: s[:1].upper() + s[1:])


# -- the generated world ---------------------------------------------------------------------------
@dataclass
class Tab:
    name: str
    key: str  # id | composite | declared
    owner_nullable: bool
    other: bool
    contact: bool
    contact_nullable: bool
    copy: bool
    copy_nullable: bool
    parent: int | None
    parent_nullable: bool
    erasure: str
    owner_declared: bool
    #: per row: owner, other, contact (person index or None), copy case, parent row index or None
    rows: list[dict[str, Any]] = field(default_factory=list)

    def keycols(self) -> list[str]:
        return ["id"] if self.key == "id" else ["k1", "k2"]

    def rowkey(self, i: int) -> Any:
        return i + 1 if self.key == "id" else (i + 1, f"k{i % 3}")


@dataclass
class World:
    people: list[tuple[str, str]]  # (email as stored, name)
    tables: list[Tab]
    victim: int
    request_case: int
    rectified: int
    change_email: bool
    restore_to: int  # 0: before everything, 1: after the rectification, 2: after the email change


@st.composite
def worlds(draw: st.DrawFn) -> World:
    n = draw(st.integers(2, 4))
    people = [(CASES[draw(st.integers(0, 3))](f"p{i}.mail@example.org"), f"Zname{i}Q") for i in range(n)]
    tables: list[Tab] = []
    for t in range(draw(st.integers(1, 4))):
        parents = [j for j, tab in enumerate(tables) if tab.key != "declared"]
        parent: int | None = None
        if draw(st.booleans()) and parents:
            parent = draw(st.sampled_from(parents))
        tab = Tab(
            name=f"t{t}", key=draw(st.sampled_from(["id", "composite", "declared"])),
            owner_nullable=draw(st.booleans()), other=draw(st.booleans()), contact=draw(st.booleans()),
            contact_nullable=draw(st.booleans()), copy=draw(st.booleans()), copy_nullable=draw(st.booleans()),
            parent=parent,
            parent_nullable=draw(st.booleans()), erasure=draw(st.sampled_from(["delete", "null", "redact", "hmac"])),
            owner_declared=draw(st.booleans()))
        person = st.integers(0, n - 1)
        for _ in range(draw(st.integers(1, 5))):
            owner = draw(st.none() | person) if tab.owner_nullable else draw(person)
            row: dict[str, Any] = {"owner": owner,
                                   "other": draw(st.none() | person) if tab.other else None,
                                   "contact": (draw(st.none() | person) if tab.contact_nullable else draw(person))
                                   if tab.contact else None,
                                   "case": draw(st.integers(0, 3)), "parent": None}
            if tab.parent is not None:
                count = len(tables[tab.parent].rows)
                row["parent"] = draw(st.none() | st.integers(0, count - 1)) if tab.parent_nullable \
                    else draw(st.integers(0, count - 1))
            tab.rows.append(row)
        tables.append(tab)
    victim = draw(st.integers(0, n - 1))
    return World(people, tables, victim, draw(st.integers(0, 3)),
                 draw(st.sampled_from([i for i in range(n) if i != victim])), draw(st.booleans()),
                 draw(st.integers(0, 2)))


def schema(world: World) -> MetaData:
    md = MetaData()
    Table("people", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("email", String(120), nullable=False), Column("name", String(60), nullable=False))
    for tab in world.tables:
        cols: list[Any] = []
        if tab.key == "id":
            cols.append(Column("id", Integer, primary_key=True, autoincrement=False))
        else:
            declared = tab.key == "declared"
            cols += [Column("k1", Integer, primary_key=not declared, nullable=False, autoincrement=False),
                     Column("k2", String(10), primary_key=not declared, nullable=False)]
            if declared:
                cols.append(UniqueConstraint("k1", "k2"))
        cols.append(Column("owner_id", Integer, ForeignKey("people.id"), nullable=tab.owner_nullable))
        if tab.other:
            cols.append(Column("other_id", Integer, ForeignKey("people.id"), nullable=True))
        if tab.contact:
            cols.append(Column("contact", String(120), nullable=tab.contact_nullable))
        if tab.copy:
            cols.append(Column("copy", String(120), nullable=tab.copy_nullable))
        if tab.parent is not None:
            parent = world.tables[tab.parent]
            if parent.key == "id":
                cols.append(Column("p_id", Integer, ForeignKey(f"{parent.name}.id"), nullable=tab.parent_nullable))
            else:
                cols += [Column("p_k1", Integer, nullable=tab.parent_nullable),
                         Column("p_k2", String(10), nullable=tab.parent_nullable),
                         ForeignKeyConstraint(["p_k1", "p_k2"], [f"{parent.name}.k1", f"{parent.name}.k2"])]
        cols += [Column("note", String(200)), Column("amount", Numeric(8, 2), nullable=False)]
        Table(tab.name, md, *cols)
    return md


def email_of(world: World, person: int, case: int = 0) -> str:
    return CASES[case](world.people[person][0])


def rows_of(world: World) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {
        "people": [{"id": i + 1, "email": e, "name": n} for i, (e, n) in enumerate(world.people)]}
    for tab in world.tables:
        rows = []
        for i, r in enumerate(tab.rows):
            key = tab.rowkey(i)
            row: dict[str, Any] = {"id": key} if tab.key == "id" else {"k1": key[0], "k2": key[1]}
            row["owner_id"] = None if r["owner"] is None else r["owner"] + 1
            if tab.other:
                row["other_id"] = None if r["other"] is None else r["other"] + 1
            if tab.contact:
                row["contact"] = None if r["contact"] is None else email_of(world, r["contact"], r["case"])
            if tab.copy:  # the owner's email again (a billing address), or a placeholder
                row["copy"] = email_of(world, r["owner"], 3 - r["case"]) if r["owner"] is not None else (
                    None if tab.copy_nullable else "nobody@example.org")
            if tab.parent is not None:
                parent = world.tables[tab.parent]
                pkey = None if r["parent"] is None else parent.rowkey(r["parent"])
                if parent.key == "id":
                    row["p_id"] = pkey
                else:
                    row["p_k1"], row["p_k2"] = (None, None) if pkey is None else pkey
            row["note"] = f"note {i}"
            row["amount"] = 10 + i
            rows.append(row)
        out[tab.name] = rows
    return out


def dataset(world: World) -> dict[str, Any]:
    colls: list[dict[str, Any]] = [{"name": "people", "erasure": "delete", "fields": [
        {"name": "id", "primary_key": True, "identity": "user_id"},
        {"name": "email", "identity": "email", "categories": ["user.contact.email"], "erasure": "hmac"},
        {"name": "name", "categories": ["user.name"], "rectifiable": True}]}]
    for tab in world.tables:
        fields: list[dict[str, Any]] = [{"name": c, "primary_key": True} for c in tab.keycols()]
        fields.append({"name": "owner_id", "references": [{"field": "people.id"}]})
        if tab.other:
            fields.append({"name": "other_id", "references": [{"field": "people.id"}]})
        if tab.contact:
            fields.append({"name": "contact", "identity": "email", "categories": ["user.contact.email"]})
        if tab.copy:
            fields.append({"name": "copy", "identity": "email", "categories": ["user.contact.email"]})
        if tab.parent is not None:
            parent = world.tables[tab.parent]
            if parent.key == "id":  # a container the traversal walks into
                fields.append({"name": "p_id", "references": [{"field": f"{parent.name}.id"}]})
        fields += [{"name": "note", "categories": ["user.content"]}, {"name": "amount"}]
        coll: dict[str, Any] = {"name": tab.name, "erasure": tab.erasure, "fields": fields}
        if tab.owner_declared:
            coll["owner"] = ["owner_id"]
        colls.append(coll)
    return {"name": "generated", "databases": [{"name": "main", "collections": colls}]}


POLICY = {"version": "1", "controller": {"name": "Generated Ltd", "country": "PL"}}


# -- the oracle -------------------------------------------------------------------------------------
def owns(world: World, person: int) -> set[tuple[str, Any]]:
    """Rows that are ``person``'s own, by the rules (independent of the implementation)."""
    out: set[tuple[str, Any]] = {("people", person + 1)}
    for tab in world.tables:
        for i, r in enumerate(tab.rows):
            named = [r["owner"]] if tab.owner_declared else [
                r["owner"], r["other"], r["contact"], r["owner"] if tab.copy else None]
            named = [p for p in named if p is not None]
            if named:
                mine = person in named and all(p == person for p in named)
            elif r["parent"] is not None:
                parent = world.tables[tab.parent]  # type: ignore[index]
                mine = (parent.name, parent.rowkey(r["parent"])) in out
            else:
                mine = False
            if mine:
                out.add((tab.name, tab.rowkey(i)))
    return out


def links_to(world: World, person: int, table: str, row: dict[str, Any], own: set[tuple[str, Any]],
             emails: set[str]) -> set[str]:
    """Columns of ``row`` that link to ``person`` (their id, their email, a row of theirs)."""
    out = {c for c in ("owner_id", "other_id") if row.get(c) == person + 1}
    out |= {c for c in ("contact", "copy") if isinstance(row.get(c), str) and row[c].lower() in emails}
    tab = next((t for t in world.tables if t.name == table), None)
    if tab is not None and tab.parent is not None:
        parent = world.tables[tab.parent]
        cols = ["p_id"] if parent.key == "id" else ["p_k1", "p_k2"]
        value = row[cols[0]] if len(cols) == 1 else tuple(row[c] for c in cols)
        if (parent.name, value) in own:
            out |= set(cols)
    return out


def declared_keys(world: World) -> dict[str, list[str]]:
    return {t.name: ["k1", "k2"] for t in world.tables if t.key == "declared"}


def package(engine: Any, person: int) -> dict[tuple[str, Any], dict[str, Any]]:
    found = locate(engine, {"user_id": person + 1})
    out: dict[tuple[str, Any], dict[str, Any]] = {}
    for coll in found.collections():
        name = coll.split(".", 1)[1]
        pk = found.primary_keys[coll]
        for row in found.rows[coll]:
            key = row[pk[0]] if len(pk) == 1 else tuple(row[c] for c in pk)
            out[(name, key)] = row
    return out


def assert_complete(after: Snap, emails: set[str], name: str, uid: int, allowed: set[tuple[str, Any]]) -> None:
    for table, rows in after.items():
        for key, row in rows.items():
            for col, value in row.items():
                if isinstance(value, str):
                    assert value.lower() not in emails and name not in value, (table, key, col, value)
                is_id = col in ("owner_id", "other_id") or (table == "people" and col == "id")
                if is_id and value == uid:
                    assert (table, key) in allowed, (table, key, col)


# -- the property -----------------------------------------------------------------------------------
def check_world(world: World, url: str, base: Path, moment: datetime) -> None:
    md = schema(world)
    engine = make_engine(base, url, dataset(world), POLICY, moment)
    eng = engine.platform_engine("main")
    try:
        md.drop_all(eng)
        md.create_all(eng)
        data = rows_of(world)
        with eng.begin() as conn:
            for t in md.sorted_tables:
                if data[t.name]:
                    conn.execute(t.insert(), data[t.name])
        keys = declared_keys(world)
        snaps = [snap(eng, keys)]
        a, uid = world.victim, world.victim + 1
        # someone else corrects their name; A's email may change on the platform afterwards
        rectify(engine, {"user_id": world.rectified + 1}, {"name": f"Fixed{world.rectified}Name"})
        snaps.append(snap(eng, keys))
        emails = {world.people[a][0].lower()}
        if world.change_email:
            new = CASES[world.request_case](f"p{a}.renamed@example.org")
            emails.add(new.lower())
            people = md.tables["people"]
            with eng.begin() as conn:
                conn.execute(update(people).where(people.c.id == uid).values(email=new))
                for tab in world.tables:  # the platform updates its copies too
                    t = md.tables[tab.name]
                    for col in ("contact", "copy"):
                        if col in t.c:
                            conn.execute(update(t).where(t.c[col].in_(
                                [c(world.people[a][0]) for c in CASES])).values({col: new}))
        snaps.append(snap(eng, keys))
        before = snaps[-1]
        others = [p for p in range(len(world.people)) if p != a]
        packages = {p: package(engine, p) for p in others}
        own = owns(world, a)
        request = CASES[world.request_case](sorted(emails)[-1] if world.change_email else world.people[a][0])
        report = erase(engine, {"email": request})
        after = snap(eng, keys)
        # 3. truthful
        assert_report_is_diff(report, before, after)
        # 1. complete
        allowed = set(entries_rows(report, "masked", "retained", "others"))
        assert_complete(after, emails, world.people[a][1], uid, allowed)
        # 2. isolated
        for p, pkg in packages.items():
            for (table, key), row in pkg.items():
                if (table, key) in own:
                    continue
                assert key in after[table], (p, table, key, "gone")
                changed = {c for c, v in row.items() if after[table][key][c] != v}
                assert changed <= links_to(world, a, table, row, own, emails), (p, table, key, changed)
        # 4. durable: an earlier snapshot comes back, the ledger is replayed
        restore(eng, snaps[world.restore_to])
        out = replay(engine, moment - timedelta(hours=1))
        again = snap(eng, keys)
        assert out["rectified"] == 1, out
        assert again["people"][world.rectified + 1]["name"] == f"Fixed{world.rectified}Name"
        assert_complete(again, emails, world.people[a][1], uid, allowed)
    finally:
        engine.close()
        md.drop_all(eng)
        eng.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "mariadb"])
def test_erasure_properties(kind: str, tmp_path: Path) -> None:
    counter = itertools.count()
    # the server engines run 3/5 of SQLite's worlds (12 of 20 in CI): the properties are the
    # engine's, the dialect differences show in the first worlds, and each world there costs
    # about twice what it costs on SQLite
    runs = PROFILE.max_examples if kind == "sqlite" else max(1, PROFILE.max_examples * 3 // 5)
    with database_url(kind, tmp_path) as url:
        @settings(PROFILE, max_examples=runs)
        @given(world=worlds())
        def check(world: World) -> None:
            n = next(counter)
            # each example has its own moment, so replays never see another example's ledger
            check_world(world, url, tmp_path / f"ex{n}", BASE + timedelta(days=n))

        check()
        ran = next(counter)
        assert ran >= runs // 2, f"only {ran} examples ran"
