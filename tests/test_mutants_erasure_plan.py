"""Tests written for mutants of ``pledge.rights.erasure_plan`` that survived the suite (docs/mutation.md)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from pledge.datamap.model import Collection, DataField
from pledge.policy.model import Exemption
from pledge.rights.erasure import erase
from pledge.rights.erasure_plan import Step, _naive, exempt_strategies
from tests.erasure_support import snapshot
from tests.test_erasure import make_engine


def test_rows_kept_for_an_exemption_still_lose_what_it_does_not_cover() -> None:
    invoices = Collection(name="invoices", fields=[
        DataField(name="id", primary_key=True),
        DataField(name="billing_name", categories=["user.name"]),
        DataField(name="tax_id", categories=["user.financial"]),
        DataField(name="email", categories=["user.contact.email"]),          # not covered: nulled
        DataField(name="notes", categories=["user.content"], erasure="delete"),  # a field's delete is null
        DataField(name="ip", categories=["user.device.ip_address"], erasure="hmac"),  # its own strategy
        DataField(name="signature", categories=["user.name"], erasure="retain"),  # never touched
    ])
    tax = Exemption(key="tax", name="Tax", law="a tax law", period="P5Y",
                    categories=["user.name", "user.financial"], collections=["main.invoices"])
    assert exempt_strategies(invoices, ["id"], tax) == {"email": "null", "notes": "null", "ip": "hmac"}


def test_a_step_read_back_from_json_names_composite_keys_as_tuples() -> None:
    """A stored plan (JSON) turns a composite key's tuple into a list; reading it back gives
    the tuples again, so the keys still name the same rows."""
    step = Step(database="main", collection="invoice_lines", outcome="deleted", op="delete",
                keys=[(1, 1), (1, 2), 7], reason="r")
    back = Step.from_dict(json.loads(json.dumps(step.to_dict())))
    assert back.keys == [(1, 1), (1, 2), 7]
    assert back == step


def test_a_row_anonymised_instead_of_deleted_says_whose_rows_still_need_it(tmp_path: Path) -> None:
    """User 1's account row stays (anonymised) because her invoice, kept for the tax law, points
    at it; her workspace stays because other people's memberships point at it. Each reason
    names whose rows those are and the link."""
    engine = make_engine(tmp_path, f"sqlite:///{tmp_path / 'p.db'}")
    user = snapshot(engine.platform_engine("main"))["users"][1]
    dry = erase(engine, {"email": user["email"]}, plan=True)
    reasons = {e["collection"]: e["reason"] for e in dry["masked"] if "instead of deleted" in e["reason"]}
    assert reasons == {
        "main.users": "still referenced by the person's kept rows in invoices (invoices.user_id -> users): "
                      "anonymised instead of deleted",
        "main.workspaces": "still referenced by other people's rows in memberships "
                           "(memberships.workspace_id -> workspaces): anonymised instead of deleted"}
    # face tags are shared content inside media (shared: anonymise): the tags on her photos go with them,
    # listed as other people's content
    with engine.platform_engine("main").connect() as conn:
        on_her_media = [r[0] for r in conn.execute(text(
            "SELECT ft.id FROM face_tags ft JOIN media m ON ft.media_id = m.id WHERE m.user_id = 1 ORDER BY ft.id"))]
    shared = {e["collection"]: e for e in dry["shared"]}
    assert set(shared) == {"main.face_tags", "main.messages"}
    assert shared["main.face_tags"]["ids"] == on_her_media
    for entry in shared.values():
        assert entry["shared"] is True
        assert entry["reason"] == "shared content inside the person's containers: erased with them"
    assert [e for e in dry["deleted"] if e.get("shared")] == dry["shared"]
    engine.close()


def test_exemption_cutoffs_are_naive_utc_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The platform stores naive UTC: an aware moment becomes its UTC wall time, a naive one is
    already UTC. The machine's own zone must not leak in (here Tokyo, UTC+9)."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        assert _naive(datetime(2026, 1, 1, 12, tzinfo=UTC)) == datetime(2026, 1, 1, 12)
        assert _naive(datetime(2026, 1, 1, 21, tzinfo=timezone(timedelta(hours=9)))) == datetime(2026, 1, 1, 12)
        assert _naive(datetime(2026, 1, 1, 12)) == datetime(2026, 1, 1, 12)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_an_exempt_row_is_kept_up_to_the_end_of_its_period_and_one_without_a_date_is_not(tmp_path: Path) -> None:
    """The tax exemption keeps an invoice for 5 years from its issue (``Art. 86``), and a row
    is expired only when its clock is *before* the cutoff (docs/retention.md, "the boundary"): an invoice
    issued exactly 5 years before the erasure is still kept, one issued a second earlier is
    not. An invoice without an issue date cannot be shown to fall under the exemption, so it
    is erased. The plan says so in its notes, with the counts, and the run does what the plan
    says (checked with SQL)."""
    from tests.test_erasure import NOW, _fill, _schema

    md = _schema()
    md.tables["invoices"].c.issued_at.nullable = True
    engine = make_engine(tmp_path, f"sqlite:///{tmp_path / 'p.db'}", fill=False)
    eng = engine.platform_engine("main")
    md.create_all(eng)
    _fill(eng, md)
    five_years_before = datetime(2021, 11, 1)  # NOW is 2026-11-01 00:00 UTC
    assert NOW.replace(tzinfo=None) == datetime(2026, 11, 1)
    planted = {101: five_years_before, 102: five_years_before - timedelta(seconds=1),
               103: five_years_before + timedelta(seconds=1), 104: None,
               105: five_years_before - timedelta(days=1), 106: None, 107: None}
    with eng.begin() as conn:
        for inv, issued in planted.items():
            conn.execute(text("INSERT INTO invoices (id, user_id, number, amount, issued_at, billing_name, billing_email)"
                              " VALUES (:i, 1, :n, 10, :t, 'B', 'b@example.com')"),
                         {"i": inv, "n": f"INV-{inv}", "t": issued})
        recent = conn.execute(text("SELECT id FROM invoices WHERE user_id = 1 AND issued_at > :t"),
                              {"t": datetime(2026, 1, 1)}).scalars().all()
    assert recent == [1]  # the generated recent invoice, issued 100 days before NOW
    email = snapshot(eng)["users"][1]["email"]
    dry = erase(engine, {"email": email}, plan=True)
    kept = {e["collection"]: e for e in dry["masked"] if e.get("exemption")}
    assert sorted(kept["main.invoices"]["ids"]) == [1, 101, 103]
    deleted = sorted(i for e in dry["deleted"] if e["collection"] == "main.invoices" for i in e["ids"])
    assert deleted == [102, 104, 105, 106, 107]
    assert dry["notes"] == [
        "main.invoices: 2 row(s) past the tax_records period are erased normally",
        "main.invoices: 3 row(s) have no invoices.issued_at, so the tax_records exemption cannot be shown "
        "to apply: erased normally"]
    erase(engine, {"email": email})
    with eng.connect() as conn:
        left = conn.execute(text("SELECT id, billing_email FROM invoices WHERE user_id = 1 ORDER BY id")).all()
    assert [(r[0], r[1]) for r in left] == [(1, None), (101, None), (103, None)]
    engine.close()
