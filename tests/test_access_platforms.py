"""Access on the three example platforms, on SQLite, PostgreSQL and MariaDB.

For 20 random people (seeded) the rows that access finds must be exactly the rows that
plain SQL joins find (tests/access_support.py): an independent ground truth, per platform.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text

from pledge.engine import Engine
from pledge.rights.access import write_access_zip
from pledge.rights.locate import locate
from pledge.settings import Settings
from tests.access_support import TRUTH, check_access, people
from tests.conftest import EXAMPLES

USERS = 120


def platform_engine(name: str, url: str, tmp_path: Path) -> Engine:
    from pledge.platforms import create_platform

    dataset = EXAMPLES / name / "dataset.yaml"
    for needed in (dataset, EXAMPLES / name / "policy.yaml"):
        if not needed.exists():
            pytest.skip(f"{needed} is not written yet")
    create_platform(name, url, users=USERS, progress=False)
    cfg = tmp_path / "pledge.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": name, "platform": name, "policy": str(EXAMPLES / name / "policy.yaml"),
        "dataset": str(dataset), "platform_url": url, "store_url": f"sqlite:///{tmp_path / 'store.db'}",
    }))
    return Engine.from_config_file(cfg, Settings(environment="test"))


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_access_equals_sql_ground_truth(name: str, any_db_url: str, tmp_path: Path) -> None:
    engine = platform_engine(name, any_db_url, tmp_path)
    queries, table = TRUTH[name]
    try:
        seen_tables = check_access(engine, any_db_url, name, people(any_db_url, table), locate)
        # the sample is rich enough to exercise most of the map
        assert len(seen_tables) >= len(queries) // 2
    finally:
        engine.close()


def test_onestepai_person_in_face_tags_gets_access(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'onestepai.db'}"
    engine = platform_engine("onestepai", url, tmp_path)
    try:
        eng = create_engine(url)
        with eng.connect() as conn:
            tag = conn.execute(text("SELECT person_tag FROM face_tags WHERE person_tag IS NOT NULL "
                                    "ORDER BY id LIMIT 1")).scalar_one()
            ids = {r[0] for r in conn.execute(text("SELECT id FROM face_tags WHERE person_tag = :t"), {"t": tag})}
            users = {r[0] for r in conn.execute(text("SELECT email FROM users"))}
        eng.dispose()
        out = tmp_path / "tagged.zip"
        export = write_access_zip(engine, {"person_tag": tag}, out)
        assert {k[0] for k in export.located.keys("main.face_tags")} == ids
        assert "main.users" not in export.located.counts()  # not a user, and no user's account leaks
        with zipfile.ZipFile(out) as zf:
            data = json.loads(zf.read("data.json"))
            page = zf.read("index.html").decode()
            assert "csv/main.face_tags.csv" in zf.namelist()
        rows = data["collections"]["main.face_tags"]["rows"]
        assert {r["id"] for r in rows} == ids and all(r["person_tag"] == tag for r in rows)
        assert not users.intersection(json.dumps(data).split('"'))
        assert data["information"]["purposes"], "the policy's purposes for face data are stated"
        assert "Your rights" in page
    finally:
        engine.close()


def test_omni_one_access_page_names_purposes_recipients_retention(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'omni.db'}"
    engine = platform_engine("omni-one", url, tmp_path)
    try:
        eng = create_engine(url)
        with eng.connect() as conn:
            email = conn.execute(text("SELECT u.email FROM users u JOIN invoices i ON i.user_id = u.id "
                                      "ORDER BY u.id LIMIT 1")).scalar_one()
        eng.dispose()
        out = tmp_path / "omni.zip"
        export = write_access_zip(engine, {"email": email}, out)
        info = export.information
        with zipfile.ZipFile(out) as zf:
            page = zf.read("index.html").decode()
            names = zf.namelist()
        assert {"data.json", "index.html", "csv/main.users.csv", "csv/main.invoices.csv"} <= set(names)
        assert info["purposes"] and info["recipients"] and info["retention"]
        for item in (*info["purposes"][:3], *info["recipients"][:3], *info["retention"][:3]):
            assert str(item["name"]) in page or str(item["name"]).replace("&", "&amp;") in page
        assert any(e["key"] == "tax_records" for e in info["exemptions"])
    finally:
        engine.close()
