"""The Rights and Retention correctness checks, run in Celery mode on Redis and on RabbitMQ.

For each broker and example platform (generated as the retention tests generate it), the
platform sits on PostgreSQL with its own PostgreSQL store, served by two real
``pledge worker`` processes on a queue of their own (a worker serves one deployment, so
they start once per broker and platform). The test side drives the work through
``engine.jobs`` (``access_located``, ``erase_fanout``, ``sweep_fanout``) and applies the
assertions of the in-process tests (tests/access_support.py, tests/erasure_support.py,
tests/retention_checks.py).

Each platform has an identical twin run in-process (same seed, same keys, same clock),
and every phase ends by comparing the two: Celery mode must give the in-process results.
The phases run in order on one platform: access (read only), erasure of a few people,
then the retention sweep (whose checks read the data as they find it).

One test per broker and platform, each self-contained: pytest 9.2 with xdist 3.8 ignores
``xdist_group`` (pytest-dev/pytest-xdist#1386), so tests sharing workers through a
module fixture would each start their own under ``-n 2``.
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from pledge.engine import Engine, JobsFactory
from pledge.jobs.celery import CeleryJobs, JobSettings
from pledge.platforms import create_platform, get_platform
from pledge.retention.fanout import sweep_fanout
from pledge.rights.erasure import erase
from pledge.rights.export import json_rows
from pledge.rights.fanout import access_located, erase_fanout
from pledge.rights.locate import locate
from pledge.settings import Settings
from pledge.store.tables.jobs import job_runs
from tests.access_support import TRUTH, check_access, people
from tests.erasure_support import erase_and_check, listed, snapshot
from tests.jobs_support import BROKERS, worker_env, workers
from tests.retention_checks import NOW, check_time_travel
from tests.services import fresh_database, require

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PLATFORMS = sorted(TRUTH)
USERS = 120  # as the retention tests generate them: their checks need old closed accounts
SEED = 3
PEOPLE = 3  # data subjects checked per platform


@dataclass
class Deployment:
    """One platform served by workers (``dist``) and its in-process twin (``inline``)."""

    name: str
    url: str
    dist: Engine
    inline: Engine

    def snapshots(self) -> tuple[Any, Any]:
        return snapshot(self.dist.platform_engine("main")), snapshot(self.inline.platform_engine("main"))


def _config(tmp: Path, name: str, platform_url: str, store_url: str) -> Path:
    cfg = tmp / f"{name}-{uuid.uuid4().hex[:6]}.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": name, "platform": name, "policy": str(EXAMPLES / name / "policy.yaml"),
        "dataset": str(EXAMPLES / name / "dataset.yaml"), "platform_url": platform_url, "store_url": store_url}))
    return cfg


def _engine(cfg: Path, jobs: JobsFactory | None = None) -> Engine:
    return Engine.from_config_file(cfg, Settings(environment="test"), clock=lambda: NOW, jobs=jobs)


@contextmanager
def celery_deployment(broker: str, name: str, tmp: Path) -> Iterator[Deployment]:
    """The platform on PostgreSQL, its PostgreSQL store and two ``pledge worker``s on a queue
    of their own; its twin with an SQLite store, run in-process."""
    require(broker, "127.0.0.1", 6379 if broker == "redis" else 5672)
    with ExitStack() as stack:
        url, twin_url, store = (stack.enter_context(fresh_database("postgresql")) for _ in range(3))
        for target in (url, twin_url):
            create_platform(name, target, users=USERS, seed=SEED, progress=False, boundary=NOW)
        cfg = _config(tmp, name, url, store)
        queue = f"pledge-test-{uuid.uuid4().hex[:10]}"
        dist = _engine(cfg, lambda e: CeleryJobs(e, settings=JobSettings(broker_url=BROKERS[broker], jobs_queue=queue,
                                                                         jobs_timeout=90)))
        stack.callback(dist.close)
        inline = _engine(_config(tmp, name, twin_url, f"sqlite:///{tmp / 'inline-store.db'}"))
        stack.callback(inline.close)
        _ = dist.store  # migrated before the workers start
        stack.enter_context(workers(2, cfg, worker_env(BROKERS[broker], queue, store), tmp))
        yield Deployment(name, url, dist, inline)


def _ran_on_workers(engine: Engine, name: str) -> None:
    """Every ``name`` task is done, and was claimed by a worker process, not by this one."""
    with engine.store.connect() as conn:
        rows = conn.execute(job_runs.select().where(job_runs.c.name == name)).all()
    assert rows and all(r.state == "done" and r.runs == 1 for r in rows), name
    assert not any(str(r.claimed_by).endswith(f":{os.getpid()}") for r in rows)


def _located_rows(engine: Engine, identities: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {c: json_rows(rows) for c, rows in locate(engine, identities).rows.items() if rows}


def check_access_phase(d: Deployment) -> None:
    """Access: rows fetched by workers equal the SQL ground truth and the in-process rows."""
    name = d.name
    queries, table = TRUTH[name]
    emails = people(d.url, table, n=PEOPLE)
    seen = check_access(d.dist, d.url, name, emails, access_located)
    assert len(seen) >= 3, seen
    for email in emails:  # whole rows, as the in-process locate reads them
        got = access_located(d.dist, {"email": email})
        assert {c: got.rows[c] for c in got.collections()} == _located_rows(d.inline, {"email": email})
    _ran_on_workers(d.dist, "rights.fetch_rows")


def check_erasure_phase(d: Deployment) -> None:
    """Erasure by workers: no identifier left but in listed exempt rows; the twin's result."""
    name = d.name
    users_table = get_platform(name).users_table
    before = d.snapshots()
    assert before[0] == before[1]
    # bulk people only (ids up to USERS): the boundary rows after them stay for the retention phase
    uids = random.Random(name).sample(sorted(k for k in before[0][users_table] if k <= USERS), PEOPLE)
    for uid in uids:
        got = erase_and_check(d.dist, users_table, uid, erase_fanout)
        want = erase_and_check(d.inline, users_table, uid, erase)
        assert got["totals"] == want["totals"]
        for outcome in ("deleted", "masked", "retained"):
            assert listed(got, outcome) == listed(want, outcome)
    after = d.snapshots()
    assert after[0] == after[1] != before[0]
    _ran_on_workers(d.dist, "rights.erase_step")


class FanoutSweeper:
    """``sweep_fanout`` in 3 key ranges, ``shift`` after the moment asked for."""

    def __init__(self, shift: timedelta = timedelta(0)) -> None:
        self.shift = shift

    def __call__(self, engine: Engine, now: datetime) -> dict[str, Any]:
        report: dict[str, Any] = sweep_fanout(engine, now + self.shift, parts=3)
        assert report["status"] == "done" and len(report["ranges"]) == 3
        return report


def check_retention_phase(d: Deployment) -> None:
    """Retention time travel, swept in key ranges by workers; the twin's result."""
    name = d.name
    assert d.snapshots()[0] == d.snapshots()[1]
    first = FanoutSweeper()
    # The second sweep must be a new batch: a sweep at the very same instant over the same
    # key ranges is the same batch of tasks, whose stored reports come back without running.
    check_time_travel(d.dist, name, first, again_sweeper=FanoutSweeper(timedelta(microseconds=1)))
    check_time_travel(d.inline, name)
    got, want = d.snapshots()
    assert got == want
    first(d.dist, NOW)  # the same instant again (stored reports or new ranges): nothing changes
    assert d.snapshots()[0] == got
    _ran_on_workers(d.dist, "retention.sweep_range")


#: each example once, the brokers taking turns (both brokers are also checked against the
#: in-process result by tests/test_jobs.py): six runs would repeat the same checks
CASES = [(name, sorted(BROKERS, reverse=True)[i % len(BROKERS)]) for i, name in enumerate(PLATFORMS)]


@pytest.mark.parametrize(("name", "broker"), CASES)
def test_celery_mode_passes_correctness_checks(broker: str, name: str, tmp_path: Path) -> None:
    with celery_deployment(broker, name, tmp_path) as d:
        check_access_phase(d)  # read only
        check_erasure_phase(d)
        check_retention_phase(d)  # its checks read the data as they find it
