"""Jobs: requests and sweeps split into tasks give the in-process results; re-delivery is harmless.

The Celery tests start real ``pledge worker`` processes on the local Redis and RabbitMQ,
with the store on PostgreSQL shared by all of them.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from pledge.jobs.celery import CeleryJobs, JobSettings
from pledge.jobs.local import LocalJobs
from pledge.retention import sweep
from pledge.retention.fanout import key_ranges, sweep_fanout
from pledge.rights.access import access
from pledge.rights.erasure import erase
from pledge.rights.export import json_rows
from pledge.rights.fanout import access_rows, erase_fanout
from pledge.store.tables.jobs import job_runs
from pledge.tasks import ClaimRefused, claim_rows, execute
from tests.jobs_support import BROKERS, Twins, emails, twins, worker_env, workers
from tests.services import require


def _check_equal_results(t: Twins) -> None:
    people = emails(t.inline, 3)
    for email in people:  # access: the same rows, collection by collection
        want = {c: json_rows(rows) for c, rows in access(t.inline, {"email": email}).located.rows.items() if rows}
        assert access_rows(t.dist, {"email": email}) == want
        assert sum(len(r) for r in want.values()) > 1
    for email in people[:2]:  # erasure: the same report and the same platform afterwards
        a = erase(t.inline, {"email": email})
        b = erase_fanout(t.dist, {"email": email})
        assert a["totals"] == b["totals"] and a["totals"]["deleted"] + a["totals"]["masked"] > 0
    before_a, before_b = t.snapshots()
    assert before_a == before_b
    got_a = sweep.run(t.inline)  # retention: one sweep against key-range tasks
    got_b = sweep_fanout(t.dist, parts=3)
    assert got_b["status"] == "done" and len(got_b["ranges"]) == 3
    assert got_a["total_rows"] == got_b["total_rows"] > 0
    after_a, after_b = t.snapshots()
    assert after_a == after_b != before_b


def test_key_ranges_cover_every_key() -> None:
    ranges = key_ranges(10, 3)
    assert ranges == [(1, 4), (5, 8), (9, 12)]
    assert key_ranges(0, 4) == [(1, 1)]


def test_local_jobs_equal_in_process(tmp_path: Path) -> None:
    with twins(tmp_path) as t:
        t.dist.jobs = LocalJobs(t.dist)
        _check_equal_results(t)
        with t.dist.store.connect() as conn:
            runs = conn.execute(select(job_runs.c.state, job_runs.c.runs)).all()
        assert runs and all(r.state == "done" and r.runs == 1 for r in runs)


def test_task_delivered_twice_changes_nothing(tmp_path: Path) -> None:
    with twins(tmp_path) as t:
        email = emails(t.dist, 1)[0]
        t.dist.jobs = LocalJobs(t.dist)
        erase_fanout(t.dist, {"email": email})
        with t.dist.store.connect() as conn:
            done = conn.execute(select(job_runs).where(job_runs.c.name == "rights.erase_step")).all()
        assert done
        before = t.snapshots()[1]
        for row in done:  # the broker hands every step over again
            again = execute(t.dist, row.task_id, row.name, row.payload, batch=row.batch)
            assert again == row.result
        assert t.snapshots()[1] == before
        with t.dist.store.connect() as conn:
            assert set(conn.execute(select(job_runs.c.runs).where(job_runs.c.name == "rights.erase_step"))
                       .scalars()) == {1}
        # a claim under a live lease is refused; the worker retries later
        [tid] = claim_rows(t.dist, "b", "rights.fetch_rows", [{"database": "main", "collection": "users",
                                                                "pk": "id", "keys": [1]}])
        with t.dist.store.begin() as conn:
            conn.execute(job_runs.update().where(job_runs.c.task_id == tid).values(
                state="running", lease_until=t.dist.now().replace(year=2100)))
        with pytest.raises(ClaimRefused):
            execute(t.dist, tid, "rights.fetch_rows", {})


@pytest.mark.parametrize("broker", sorted(BROKERS))
def test_celery_workers_equal_in_process(broker: str, tmp_path: Path) -> None:
    require(broker, "127.0.0.1", 6379 if broker == "redis" else 5672)
    queue = f"pledge-test-{uuid.uuid4().hex[:10]}"
    env = worker_env(BROKERS[broker], queue, "")
    with twins(tmp_path) as t:
        env["PLEDGE_DATABASE_URL"] = t.store_url
        with workers(2, t.dist_config, env, tmp_path) as started:
            runner = CeleryJobs(t.dist, settings=JobSettings(broker_url=BROKERS[broker], jobs_queue=queue,
                                                             jobs_timeout=90))
            t.dist.jobs = runner
            _check_equal_results(t)
            with t.dist.store.connect() as conn:
                rows = conn.execute(select(job_runs)).all()
            assert {r.claimed_by for r in rows} and all(r.state == "done" for r in rows)
            # duplicate delivery through the broker: every erasure step sent again
            before = t.snapshots()[1]
            steps = [r for r in rows if r.name == "rights.erase_step"]
            for r in steps:
                runner.send(r.task_id, r.name, r.payload, r.batch)
            time.sleep(3)
            assert t.snapshots()[1] == before
            with t.dist.store.connect() as conn:
                runs = dict(conn.execute(select(job_runs.c.task_id, job_runs.c.runs)
                                         .where(job_runs.c.name == "rights.erase_step")).all())
            assert set(runs.values()) == {1}
            assert all(w.proc.poll() is None for w in started)
