"""Shared fixtures. Keep this file small: helpers live in tests/services.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pledge.keys import generate_keyring
from tests.services import database_url

# Every test session gets its own random keys (nothing in the source is ever a key); worker
# processes and CLI runs started by tests inherit them through the environment.
for _purpose, _var in (("signing", "PLEDGE_SECRET_KEY"), ("subject", "PLEDGE_SUBJECT_KEY"),
                       ("audit", "PLEDGE_AUDIT_KEY"), ("encryption", "PLEDGE_ENCRYPTION_KEYS")):
    os.environ.setdefault(_var, generate_keyring()[_purpose])

#: fixtures shared by the request tests (sink, clock, engine on a module's ``cfg``), and the
#: session's S3 server for the blob tests (s3_server, s3_bucket), and one chromium for the
#: browser tests (tests/browser.py: chromium)
pytest_plugins = ["tests.requests_support", "tests.blob_services", "tests.browser"]

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SEEDS = ROOT.parent / "shared" / "seeds"
ENGINES = ["sqlite", "postgresql", "mariadb"]


@pytest.fixture(params=ENGINES)
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh empty database on each of the three engines in turn."""
    with database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    with database_url("postgresql", tmp_path) as url:
        yield url


@pytest.fixture
def mariadb_url(tmp_path: Path) -> Iterator[str]:
    with database_url("mariadb", tmp_path) as url:
        yield url
