"""Jobs: requests and sweeps split into tasks give the in-process results; re-delivery is harmless.

The Celery tests start real ``pledge worker`` processes on the local Redis and RabbitMQ,
with the store on PostgreSQL shared by all of them.
"""

from __future__ import annotations

import io
import json
import os
import time
import uuid
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from pledge.engine import Engine
from pledge.jobs.celery import CeleryJobs, JobSettings
from pledge.jobs.local import LocalJobs
from pledge.platforms import REFERENCE
from pledge.retention import sweep
from pledge.retention.fanout import key_ranges, sweep_fanout
from pledge.rights.access import access
from pledge.rights.erasure import erase
from pledge.rights.export import json_rows
from pledge.rights.fanout import access_rows, erase_fanout
from pledge.store.tables.jobs import job_runs
from pledge.tasks import ClaimRefused, claim_rows, execute
from pledge.web.app import create_app
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
    with twins(tmp_path, jobs=LocalJobs) as t:
        _check_equal_results(t)
        with t.dist.store.connect() as conn:
            runs = conn.execute(select(job_runs.c.state, job_runs.c.runs)).all()
        assert runs and all(r.state == "done" and r.runs == 1 for r in runs)


def test_task_delivered_twice_changes_nothing(tmp_path: Path) -> None:
    with twins(tmp_path, jobs=LocalJobs) as t:
        email = emails(t.dist, 1)[0]
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
        # the same task submitted again keeps its row as it is (still held)
        assert claim_rows(t.dist, "b", "rights.fetch_rows", [{"database": "main", "collection": "users",
                                                              "pk": "id", "keys": [1]}]) == [tid]
        with pytest.raises(ClaimRefused):
            execute(t.dist, tid, "rights.fetch_rows", {})


@pytest.mark.parametrize("broker", sorted(BROKERS))
def test_celery_workers_equal_in_process(broker: str, tmp_path: Path) -> None:
    require(broker, "127.0.0.1", 6379 if broker == "redis" else 5672)
    queue = f"pledge-test-{uuid.uuid4().hex[:10]}"
    env = worker_env(BROKERS[broker], queue, "")
    settings = JobSettings(broker_url=BROKERS[broker], jobs_queue=queue, jobs_timeout=90)
    with twins(tmp_path, jobs=lambda e: CeleryJobs(e, settings=settings)) as t:
        env["PLEDGE_DATABASE_URL"] = t.store_url
        with workers(2, t.dist_config, env, tmp_path) as started:
            runner = t.dist.jobs
            assert isinstance(runner, CeleryJobs)
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


# -- requests through the API: carried out by workers with a broker, in-process without ---------------------
API_SCOPES = ["requests:write", "requests:read", "requests:approve", "exports:read"]


def _submit(client: TestClient, engine: Engine, kind: str, email: str, params: dict[str, Any]) -> str:
    token = jwt.encode({"email": email, "aud": "pledge", "exp": int((REFERENCE + timedelta(minutes=30)).timestamp())},
                       engine.requests.verifier.platform_secret(), algorithm="HS256")
    res = client.post("/v1/requests", json={"kind": kind, "email": email, "platform_token": token, "params": params})
    assert res.status_code == 201, res.text
    view = res.json()["request"]
    action = "approve" if view["state"] == "awaiting_approval" else "run"
    started = client.post(f"/v1/requests/{view['id']}/{action}")
    assert started.status_code == 200, started.text
    return str(view["id"])


def _finished(client: TestClient, ids: list[str], timeout: float = 90) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        got = {i: client.get(f"/v1/requests/{i}").json() for i in ids}
        if all(v["state"] in ("completed", "partially_completed") for v in got.values()):
            return got
        assert time.monotonic() < deadline, {i: v["state"] for i, v in got.items()}
        time.sleep(0.2)


def _outcome(client: TestClient, engine: Engine, views: dict[str, dict[str, Any]]) -> list[Any]:
    out: list[Any] = []
    for v in views.values():
        item: list[Any] = [v["kind"], v["state"], engine.requests.get(v["id"]).result.get("summary")]
        if v.get("download_url"):
            with zipfile.ZipFile(io.BytesIO(client.get(v["download_url"]).content)) as z:
                item.append(json.loads(z.read("data.json"))["collections"])
        out.append(item)
    return out


def test_requests_via_the_api_run_on_workers_with_in_process_results(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    require("redis", "127.0.0.1", 6379)
    queue = f"pledge-test-{uuid.uuid4().hex[:10]}"
    env = worker_env(BROKERS["redis"], queue, "")
    settings = JobSettings(broker_url=BROKERS["redis"], jobs_queue=queue)
    with twins(tmp_path, jobs=lambda e: CeleryJobs(e, settings=settings)) as t:
        env["PLEDGE_DATABASE_URL"] = t.store_url
        people = emails(t.inline, 4)
        asks: list[tuple[str, str, dict[str, Any]]] = [
            ("access", people[0], {}), ("erasure", people[1], {}),
            ("rectification", people[2], {"changes": {"name": "Rose Tyler"}}), ("restriction", people[3], {})]
        key_a = t.inline.admins.create_api_key("jobs", API_SCOPES, actor="test")
        key_b = t.dist.admins.create_api_key("jobs", API_SCOPES, actor="test")
        with TestClient(create_app(t.inline), headers={"Authorization": f"Bearer {key_a}"}) as a:
            done_a = {i: a.get(f"/v1/requests/{i}").json() for i in [_submit(a, t.inline, *x) for x in asks]}
            want = _outcome(a, t.inline, done_a)
        assert all(v["state"] in ("completed", "partially_completed") for v in done_a.values())  # in-process: done
        with workers(2, t.dist_config, env, tmp_path), \
                TestClient(create_app(t.dist), headers={"Authorization": f"Bearer {key_b}"}) as b:
            got = _outcome(b, t.dist, _finished(b, [_submit(b, t.dist, *x) for x in asks]))
        assert got == want and want[0][3] and want[1][2]["deleted"] + want[1][2]["masked"] > 0
        assert t.snapshots()[0] == t.snapshots()[1]
        with t.dist.store.connect() as conn:  # each request ran once, on a worker, not in this process
            runs = conn.execute(select(job_runs.c.claimed_by, job_runs.c.runs, job_runs.c.state)
                                .where(job_runs.c.name == "requests.execute")).all()
        assert len(runs) == len(asks) and all(r.runs == 1 and r.state == "done" for r in runs)
        assert not any(r.claimed_by.endswith(f":{os.getpid()}") for r in runs)
        # with a broker the in-process sweep steps aside (the engine's builder picks the runner:
        # tests/test_cli_jobs.py)
        monkeypatch.setenv("PLEDGE_RETENTION_SWEEP", "3600")
        t.dist.settings.broker_url = BROKERS["redis"]
        with TestClient(create_app(t.dist)) as client:
            assert client.app.state.retention_scheduler is None  # type: ignore[attr-defined]
        t.inline.settings.broker_url = None  # (the twins share one Settings)
        with TestClient(create_app(t.inline)) as client:
            assert client.app.state.retention_scheduler is not None  # type: ignore[attr-defined]
