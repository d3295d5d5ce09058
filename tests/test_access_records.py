"""Art. 15: what Pledge itself holds about a person goes into their access package."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

from sqlalchemy import text

from pledge.engine import Engine
from pledge.platforms import create_platform
from pledge.rights.access import write_access_zip
from pledge.rights.restrict import object_to
from pledge.settings import Settings

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "omni-one"


def test_access_package_holds_consent_history_and_objections(tmp_path: Path) -> None:
    for name in ("policy.yaml", "dataset.yaml", "pledge.yaml", "logo.svg"):  # the branding names its logo
        shutil.copy(EXAMPLE / name, tmp_path / name)
    create_platform("omni-one", f"sqlite:///{tmp_path / 'platform.db'}", users=20, progress=False)
    engine = Engine.from_config_file(tmp_path / "pledge.yaml", Settings(environment="test"))
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
