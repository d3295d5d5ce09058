"""Art. 15: what Pledge itself holds about a person goes into their access package."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import event, text

from pledge.engine import Engine
from pledge.platforms import create_platform
from pledge.rights.access import pledge_records, write_access_zip
from pledge.rights.restrict import lift_restriction, object_to, restrict, withdraw_objection
from pledge.settings import Settings

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "omni-one"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store on SQLite (expanding IN), and on PostgreSQL (``= ANY`` arrays, on the driver
    directly)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("postgres_url"))


def _engine(tmp_path: Path, store_url: str) -> Engine:
    for name in ("policy.yaml", "dataset.yaml", "pledge.yaml", "logo.svg"):  # the branding names its logo
        shutil.copy(EXAMPLE / name, tmp_path / name)
    create_platform("omni-one", f"sqlite:///{tmp_path / 'platform.db'}", users=20, progress=False)
    return Engine.from_config_file(tmp_path / "pledge.yaml", Settings(environment="test", database_url=store_url))


def test_access_package_holds_consent_history_and_objections(tmp_path: Path, store_url: str) -> None:
    engine = _engine(tmp_path, store_url)
    with engine.platform_engine("main").connect() as conn:
        email, other = [r[0] for r in conn.execute(text("SELECT email FROM users ORDER BY id LIMIT 2"))]
    engine.consent.record(email, "marketing_email", "given", method="form", channel="web")
    engine.consent.record(email, "marketing_email", "withdrawn", method="form", channel="web")
    engine.consent.record(other, "email_tracking", "given", method="form", channel="web")
    objectable = next(p.key for p in engine.policy.purposes if p.objectable)
    object_to(engine, email, objectable, reason="test")

    buf = io.BytesIO()
    write_access_zip(engine, {"email": email}, buf)
    with zipfile.ZipFile(buf) as z:
        data = json.loads(z.read("data.json"))
        names = z.namelist()
    records = data["pledge_records"]
    assert [(r["purpose"], r["state"]) for r in records["consent_history"]] == [
        ("marketing_email", "given"), ("marketing_email", "withdrawn")]
    assert [o["purpose"] for o in records["objections"]] == [objectable]
    assert records["restrictions"] == []
    assert "csv/pledge.consent_history.csv" in names
    engine.close()


def test_each_kind_of_record_is_read_when_the_person_has_it_and_only_then(tmp_path: Path, store_url: str) -> None:
    """#19: one look says which of the three a person has; a person with none costs one
    statement, and each kind is still found on its own (no other kind needed to find it)."""
    engine = _engine(tmp_path, store_url)
    with engine.platform_engine("main").connect() as conn:
        a, b, c = [r[0] for r in conn.execute(text("SELECT email FROM users ORDER BY id LIMIT 3"))]
    statements: list[str] = []
    event.listen(engine.store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    assert pledge_records(engine, {"email": a}) == {"consent_history": [], "restrictions": [], "objections": []}
    assert len(statements) == 1, statements

    purpose = next(p.key for p in engine.policy.purposes if p.objectable)
    restrict(engine, a, purpose, reason="accuracy contested")
    object_to(engine, b, purpose, reason="test")
    engine.consent.record(c, "marketing_email", "given", method="form", channel="web")
    got = {e: pledge_records(engine, {"email": e}) for e in (a, b, c)}
    assert [(r["purpose"], r["reason"]) for r in got[a]["restrictions"]] == [(purpose, "accuracy contested")]
    assert got[a]["objections"] == [] and got[a]["consent_history"] == []
    assert [o["purpose"] for o in got[b]["objections"]] == [purpose]
    assert got[b]["restrictions"] == [] and got[b]["consent_history"] == []
    assert [(r["purpose"], r["state"]) for r in got[c]["consent_history"]] == [("marketing_email", "given")]
    assert got[c]["restrictions"] == [] and got[c]["objections"] == []

    # no longer in force: not in the package
    lift_restriction(engine, a, purpose)
    withdraw_objection(engine, b, purpose)
    assert pledge_records(engine, {"email": a})["restrictions"] == []
    assert pledge_records(engine, {"email": b})["objections"] == []
    engine.close()
