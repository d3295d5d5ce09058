"""Erasure on the three example platforms, on SQLite, PostgreSQL and MariaDB.

Each platform is generated small (pledge.platforms.create_platform) with its own
examples/<platform>/dataset.yaml and policy.yaml. For random people: after erasure no
row anywhere holds their email, phone, name or user id, except the retained rows the
report lists; every row the report does not list is byte-for-byte unchanged; foreign
keys stay enforced throughout.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pledge.engine import Engine
from pledge.platforms import create_platform, get_platform
from pledge.rights.erasure import erase
from pledge.settings import Settings, load_config
from tests.conftest import EXAMPLES
from tests.erasure_support import check_erased, erase_and_check, fk_enforced, listed, snapshot

NOW = datetime(2026, 11, 1, tzinfo=UTC)
PLATFORMS = ["omni-one", "onetagger", "onestepai"]


def platform_engine(tmp_path: Path, name: str, url: str, users: int = 25) -> Engine:
    create_platform(name, url, users=users, seed=7, progress=False)
    settings = Settings(environment="test", platform_url=url,
                        database_url=f"sqlite:///{tmp_path / 'store.db'}")
    cfg = load_config(EXAMPLES / name / "pledge.yaml", settings)
    return Engine(cfg, settings, clock=lambda: NOW)


@pytest.mark.parametrize("name", PLATFORMS)
def test_erase_random_people(any_db_url: str, tmp_path: Path, name: str) -> None:
    engine = platform_engine(tmp_path, name, any_db_url)
    users_table = get_platform(name).users_table
    eng = engine.platform_engine(engine.dataset.databases[0].name)
    rnd = random.Random(name)
    people = rnd.sample(sorted(snapshot(eng)[users_table]), 2)
    for uid in people:
        erase_and_check(engine, users_table, uid, erase)
    engine.close()


def test_onestepai_person_in_face_tags_only(any_db_url: str, tmp_path: Path) -> None:
    engine = platform_engine(tmp_path, "onestepai", any_db_url)
    eng = engine.platform_engine(engine.dataset.databases[0].name)
    before = snapshot(eng)
    tags = sorted(before["face_tags"].values(), key=lambda r: r["id"])
    tag = tags[len(tags) // 2]
    emails = {u["email"] for u in before["users"].values()}
    assert tag["person_tag"] not in emails
    report = erase(engine, {"person_tag": tag["person_tag"]})
    after = snapshot(eng)
    assert ("face_tags", tag["id"]) in listed(report, "deleted", "masked")
    check_erased(engine, "", before, after, {"person_tag": tag["person_tag"]}, report)
    assert fk_enforced(eng)
    engine.close()


def test_omni_one_crash_between_tables_then_rerun(any_db_url: str, tmp_path: Path,
                                                  request: pytest.FixtureRequest) -> None:
    """A crash after the Nth table, then a re-run, ends where an uninterrupted run on an
    identical copy ends: the whole database compared."""
    from tests.services import database_url

    kind = request.node.callspec.params["any_db_url"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with database_url(kind, tmp_path / "b") as twin_url:
        crashed = platform_engine(tmp_path / "a", "omni-one", any_db_url, users=15)
        clean = platform_engine(tmp_path / "b", "omni-one", twin_url, users=15)
        a, b = crashed.platform_engine("main"), clean.platform_engine("main")
        assert snapshot(a) == snapshot(b)
        email = sorted(u["email"] for u in snapshot(b)["users"].values())[4]
        steps = erase(clean, {"email": email}, plan=True)
        n_steps = sum(len(steps[o]) for o in ("deleted", "masked", "retained"))
        assert n_steps >= 4

        class Crash(RuntimeError):
            pass

        def hook(index: int, _step: Any) -> None:
            if index == n_steps // 2:
                raise Crash

        with pytest.raises(Crash):
            erase(crashed, {"email": email}, on_step=hook)
        assert snapshot(a) != snapshot(b)  # half done
        resumed = erase(crashed, {"email": email})
        erase(clean, {"email": email})
        assert resumed["resumed"] is True
        assert snapshot(a) == snapshot(b)
        assert fk_enforced(a)
        crashed.close()
        clean.close()
