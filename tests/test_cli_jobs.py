"""With a broker set, CLI commands hand work to workers; a worker runs what it receives."""

from __future__ import annotations

from pathlib import Path

import pytest

from pledge.cli.common import load_engine
from pledge.jobs.celery import CeleryJobs

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "omni-one" / "pledge.yaml"


def test_cli_engines_use_the_broker_and_workers_do_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLEDGE_BROKER_URL", "redis://127.0.0.1:6379/15")
    assert isinstance(load_engine(EXAMPLE).jobs, CeleryJobs)
    assert not isinstance(load_engine(EXAMPLE, distributed=False).jobs, CeleryJobs)
    monkeypatch.delenv("PLEDGE_BROKER_URL")
    assert not isinstance(load_engine(EXAMPLE).jobs, CeleryJobs)
