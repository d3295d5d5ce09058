"""Load, in the suite: 200 mixed requests through the API, 2 real workers on Redis, PostgreSQL.

The same run as ``bench/load.py`` (which makes 1,000 and prints the figures), smaller:
120 requests, then 80 more with one worker SIGKILLed midway. Every request must complete,
a sample is checked against the platform's data, and nothing is done twice in a way that
changes the outcome.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.services import require

ROOT = Path(__file__).resolve().parents[1]


def _bench_load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pledge_bench_load", ROOT / "bench" / "load.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.postgres
def test_200_mixed_requests_on_two_workers_survive_a_killed_worker(tmp_path: Path) -> None:
    require("redis", "127.0.0.1", 6379)
    require("postgresql", "127.0.0.1", 5432)
    load = _bench_load()
    server = os.environ.get("PLEDGE_TEST_POSTGRES_SERVER", "postgresql://postgres@127.0.0.1:5432")
    report = load.run_load(server, "redis://127.0.0.1:6379/0", requests=120, kill_batch=80, users=260, sample=40,
                           work=tmp_path, log=lambda _msg: None)
    a, b = report.phase_a, report.phase_b
    assert a["completed"] == a["requests"] == 120 and not a["lost"]
    assert b["completed"] == b["requests"] == 80 and not b["lost"] and b["killed"]
    assert sum(report.checks["sample"].values()) == 40
    assert report.checks["sample"].get("access") and report.checks["sample"].get("erasure")
    once = report.checks["once"]
    assert once["request_tasks"] == 200 and once["task_runs_max"] == 1
    assert a["throughput_per_s"] > 0.5
