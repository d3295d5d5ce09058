"""Time travel: six years of each example platform, the clock moved on, one sweep.

Each platform is generated with rows a day and an hour either side of every retention
cutoff at the sweep's moment. Afterwards no row is older than its rule allows and no row
inside its period is gone or changed (checked with SQL written from the seed's words, not
with the sweep's own selection), nothing under a hold or an exemption was removed,
anonymised rows keep no direct identifiers, and a second sweep changes nothing. The
checks are in tests/retention_checks.py (the Celery tests run them too).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.retention_checks import NOW, check_time_travel
from tests.retention_support import deployment


def time_travel(tmp_path: Path, platform: str, url: str) -> None:
    engine = deployment(tmp_path, platform, url, now=NOW, boundary=True)
    try:
        check_time_travel(engine, platform)
    finally:
        engine.close()


@pytest.mark.parametrize("platform", ["omni-one", "onetagger", "onestepai"])
def test_time_travel_sqlite(tmp_path: Path, platform: str) -> None:
    time_travel(tmp_path, platform, f"sqlite:///{tmp_path / 'platform.db'}")


@pytest.mark.postgres
def test_time_travel_omni_one_postgres(tmp_path: Path, postgres_url: str) -> None:
    time_travel(tmp_path, "omni-one", postgres_url)


@pytest.mark.mariadb
def test_time_travel_omni_one_mariadb(tmp_path: Path, mariadb_url: str) -> None:
    time_travel(tmp_path, "omni-one", mariadb_url)
