"""Load: mixed requests through the API to omni-one on PostgreSQL, carried out by 2 workers.

    .venv/bin/python bench/load.py [--requests 1000] [--kill-batch 300] [--users 2000]

Everything is real: a fresh omni-one platform and a fresh Pledge store on the local
PostgreSQL, ``pledge serve`` with ``PLEDGE_BROKER_URL`` on the local Redis (its own
queue), and 2 ``pledge worker`` processes. It

1. submits ``--requests`` mixed requests (access, portability, erasure, rectification,
   restriction, objection, consent withdrawal), each for a different person, through
   ``POST /v1/requests`` with a platform sign-in token, then approves or runs each
   through the API (the API answers at once; the workers carry them out), from 8
   client threads; waits for all of them and prints the throughput;
2. submits ``--kill-batch`` more and SIGKILLs one worker when about half of those are
   done; the other worker picks up the killed one's task once Redis hands it out again
   and its lease has run out;
3. checks: no request lost (every one ``completed`` or ``partially_completed``), a
   sample checked against the platform's data (the access package's rows are the rows
   the person has; erased people are gone; rectified names are set; restrictions,
   objections and withdrawals are recorded), and nothing done twice in a way that
   changes the outcome: one ``request.completed`` entry per request, one erasure-ledger
   intent per erasure, erasure reports that count the rows they erased.

Exit status 0 when every check passes. ``run_load`` is also what tests/test_load.py
calls, smaller.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import psycopg
from sqlalchemy import func, select, text

from pledge.keys import keyring_env

ROOT = Path(__file__).resolve().parents[1]
PLEDGE = str(ROOT / ".venv" / "bin" / "pledge")
EXAMPLE = ROOT / "examples" / "omni-one"
for _var, _value in keyring_env().items():  # fresh random keys for this run; serve and workers inherit them
    os.environ.setdefault(_var, _value)
SCOPES = ["requests:write", "requests:read", "requests:approve", "exports:read"]
#: the mix: kind -> weight
MIX = {"access": 30, "portability": 5, "erasure": 25, "rectification": 15, "restriction": 10, "objection": 5,
       "withdraw_consent": 10}
FINAL = ("completed", "partially_completed")
LIST_LIMIT = 500  # GET /v1/requests answers at most this many


@dataclass
class Ask:
    kind: str
    email: str
    params: dict[str, Any]
    id: str = ""
    submitted: float = 0.0
    done: float = 0.0
    state: str = ""


@dataclass
class Report:
    phase_a: dict[str, Any] = field(default_factory=dict)
    phase_b: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def _spare_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh_db(server: str, name: str) -> str:
    """Drop and create ``name`` on ``server`` (``postgresql://user@host:port``)."""
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return f"{server.replace('postgresql://', 'postgresql+psycopg://')}/{name}"


def drop_db(server: str, name: str) -> None:
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class Cluster:
    """``pledge serve`` and ``n`` ``pledge worker``s on one config, one broker queue."""

    def __init__(self, work: Path, config: Path, broker: str, workers: int, *, lease: int = 8,
                 visibility: int = 8) -> None:
        self.work = work
        self.config = config
        self.env = {**os.environ, "PLEDGE_BROKER_URL": broker, "PLEDGE_JOBS_QUEUE": f"pledge-load-{uuid.uuid4().hex[:8]}",
                    "PLEDGE_ENVIRONMENT": "development", "PLEDGE_SMTP_PORT": "9",
                    "PLEDGE_JOBS_LEASE": str(lease), "PLEDGE_JOBS_VISIBILITY": str(visibility),
                    "PLEDGE_RETENTION_SWEEP": "off"}
        for var in ("PLEDGE_DATABASE_URL", "PLEDGE_PLATFORM_URL"):
            self.env.pop(var, None)
        self.port = _spare_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.n = workers
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def _start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.work / f"{name}.log").open("wb")
        proc = subprocess.Popen([PLEDGE, *args, "-c", str(self.config)], env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = proc
        return proc

    def start(self, timeout: float = 60) -> None:
        for i in range(self.n):
            self._start(f"worker-{i}", ["worker", "--pool", "solo", "--loglevel", "info"])
        self._start("serve", ["serve", "--port", str(self.port)])
        deadline = time.monotonic() + timeout
        while True:
            dead = [n for n, p in self.procs.items() if p.poll() is not None]
            if dead:
                raise RuntimeError(f"{dead[0]} exited: {(self.work / f'{dead[0]}.log').read_text()[-2000:]}")
            ready = all(b"ready" in (self.work / f"worker-{i}.log").read_bytes() for i in range(self.n))
            try:
                up = httpx.get(f"{self.base}/docs", timeout=2).status_code == 200
            except httpx.HTTPError:
                up = False
            if ready and up:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster did not start in {timeout:.0f} s (logs in {self.work})")
            time.sleep(0.2)

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for name, proc in self.procs.items():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill(name)


class Client:
    """The API as a platform uses it: an API key, and sign-in tokens for its users."""

    def __init__(self, base: str, key: str, platform_secret: str) -> None:
        self.base = base
        self.secret = platform_secret
        self.local = threading.local()
        self.key = key

    @property
    def http(self) -> httpx.Client:
        if not hasattr(self.local, "http"):
            self.local.http = httpx.Client(base_url=self.base, timeout=120,
                                           headers={"Authorization": f"Bearer {self.key}"})
        return self.local.http  # type: ignore[no-any-return]

    def call(self, method: str, path: str, **kw: Any) -> Any:
        for attempt in range(5):
            try:
                r = self.http.request(method, path, **kw)
            except httpx.TransportError:
                if attempt == 4:
                    raise
                time.sleep(0.5)
                continue
            if r.status_code >= 400:
                raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:500]}")
            return r.json()
        raise AssertionError("unreachable")

    def submit(self, ask: Ask) -> None:
        exp = int((datetime.now(UTC) + timedelta(minutes=30)).timestamp())
        token = jwt.encode({"email": ask.email, "aud": "pledge", "exp": exp}, self.secret, algorithm="HS256")
        ask.submitted = time.monotonic()
        view = self.call("POST", "/v1/requests", json={"kind": ask.kind, "email": ask.email,
                                                       "platform_token": token, "params": ask.params})["request"]
        ask.id = view["id"]
        action = "approve" if view["state"] == "awaiting_approval" else "run"
        ask.state = self.call("POST", f"/v1/requests/{ask.id}/{action}")["state"]

    def executing(self) -> set[str] | None:
        """Ids of requests still executing, or None when the queue listing is cut at its limit."""
        views = self.call("GET", "/v1/requests", params={"state": "executing"})
        return None if len(views) >= LIST_LIMIT else {v["id"] for v in views}

    def status(self, request_id: str) -> dict[str, Any]:
        out: dict[str, Any] = self.call("GET", f"/v1/requests/{request_id}")
        return out

    def download(self, url: str) -> bytes:
        r = self.http.get(url)
        r.raise_for_status()
        return r.content


def plan_asks(emails: list[str], n: int, seed: int) -> list[Ask]:
    rnd = random.Random(seed)
    kinds = rnd.choices(list(MIX), weights=list(MIX.values()), k=n)
    asks = []
    for i, (kind, email) in enumerate(zip(kinds, emails, strict=False)):
        params: dict[str, Any] = {}
        if kind == "rectification":
            params = {"changes": {"name": f"Load Tester {i}"}}
        elif kind == "objection":
            params = {"purpose": "marketing_email"}
        asks.append(Ask(kind, email, params))
    return asks


def run_batch(client: Client, asks: list[Ask], *, threads: int = 8, timeout: float = 900, poll: float = 1.0,
              during: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Submit ``asks`` from ``threads`` threads and wait until every one is final.

    The wait asks the API for the executing requests every ``poll`` seconds: each answer
    renders up to 500 requests, so this monitoring costs the server CPU that is not the
    requests' own work (at 0.25 s it was 2,000 views a second while the queue was long)."""
    t0 = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(client.submit, asks))
    submitted = time.monotonic() - t0
    deadline = time.monotonic() + timeout
    while True:
        running = client.executing()
        now = time.monotonic()
        if running is not None:  # the rest have left ``executing``: confirm each once
            for a in asks:
                if not a.done and a.id not in running:
                    a.state = client.status(a.id)["state"]
                    if a.state in FINAL:
                        a.done = now
        left = [a for a in asks if not a.done]
        if during is not None:
            during(len(asks) - len(left), len(asks))
        if not left or now > deadline:
            break
        time.sleep(poll)
    total = time.monotonic() - t0
    lat = [a.done - a.submitted for a in asks if a.done]
    return {"requests": len(asks), "completed": sum(1 for a in asks if a.done), "submit_s": round(submitted, 1),
            "total_s": round(total, 1), "throughput_per_s": round(len(lat) / total, 2),
            "latency_median_s": round(statistics.median(lat), 2) if lat else None,
            "kinds": dict(Counter(a.kind for a in asks)), "lost": [a.id for a in asks if not a.done]}


def check_sample(engine: Any, client: Client, asks: list[Ask], sample: int, seed: int) -> dict[str, int]:
    """Check a sample of finished requests against the platform's data; returns checks per kind."""
    from pledge.rights.locate import locate
    from pledge.rights.restrict import active_objections, active_restrictions, subject_key_for

    rnd = random.Random(seed)
    picked = rnd.sample(asks, min(sample, len(asks)))
    done: Counter[str] = Counter()
    platform = engine.platform_engine("main")
    for a in picked:
        if a.kind == "access":
            status = client.status(a.id)
            with zipfile.ZipFile(io.BytesIO(client.download(status["download_url"]))) as z:
                data = json.loads(z.read("data.json"))
            got = {c: {r["id"] for r in v["rows"]} for c, v in data["collections"].items()}
            found = locate(engine, {"email": a.email})
            now = {c: {k[0] for k in found.keys(c)} for c in found.collections()}
            # other people's erasures may since have removed shared rows (a workspace), never added any
            extra = {c: ids - got.get(c, set()) for c, ids in now.items() if ids - got.get(c, set())}
            assert not extra, f"access {a.id}: the platform holds rows the package lacks: {extra}"
            user = data["collections"]["main.users"]["rows"]
            assert [u["email"] for u in user] == [a.email], f"access {a.id}: users rows {user}"
        elif a.kind == "erasure":
            with platform.connect() as conn:
                left = conn.execute(text("SELECT count(*) FROM users WHERE email = :e"), {"e": a.email}).scalar()
            assert left == 0, f"erasure {a.id}: the user is still there"
            summary = engine.requests.get(a.id).result["summary"]
            assert summary["deleted"] + summary["masked"] > 0, f"erasure {a.id} reports nothing erased: {summary}"
        elif a.kind == "rectification":
            with platform.connect() as conn:
                name = conn.execute(text("SELECT name FROM users WHERE email = :e"), {"e": a.email}).scalar()
            assert name == a.params["changes"]["name"], f"rectification {a.id}: name is {name!r}"
        elif a.kind == "restriction":
            assert active_restrictions(engine, subject_key_for(engine, a.email)), f"restriction {a.id} not recorded"
        elif a.kind == "objection":
            objs = active_objections(engine, subject_key_for(engine, a.email))
            assert [o["purpose"] for o in objs] == ["marketing_email"], f"objection {a.id}: {objs}"
        elif a.kind == "withdraw_consent":
            history = engine.consent.history(a.email)
            assert any("withdrawn" in json.dumps(h, default=str) for h in history), f"withdrawal {a.id}: {history}"
        elif a.kind == "portability":
            assert client.status(a.id).get("download_url"), f"portability {a.id}: no package"
        done[a.kind] += 1
    return dict(done)


def check_once(engine: Any, asks: list[Ask]) -> dict[str, Any]:
    """Nothing done twice in a way that changes the outcome (see the module docstring)."""
    from pledge.store.tables.core import audit_log, erasure_ledger
    from pledge.store.tables.jobs import job_runs

    ids = [a.id for a in asks]
    wanted = set(ids)
    deadline = time.monotonic() + 90
    while True:  # a killed worker's task that had finished its request is closed on redelivery
        with engine.store.connect() as conn:
            rows = conn.execute(select(job_runs.c.payload, job_runs.c.state)
                                .where(job_runs.c.name == "requests.execute")).all()
        open_ = [r for r in rows if r.payload.get("request_id") in wanted and r.state != "done"]
        if not open_ or time.monotonic() > deadline:
            break
        time.sleep(1)
    with engine.store.connect() as conn:
        completed = Counter(dict(conn.execute(
            select(audit_log.c.target, func.count()).where(audit_log.c.action.in_(("request.completed",
                                                                                   "request.partially_completed")))
            .group_by(audit_log.c.target)).all()))
        intents = Counter(dict(conn.execute(select(erasure_ledger.c.reference, func.count())
                                            .group_by(erasure_ledger.c.reference)).all()))
        runs = conn.execute(select(job_runs.c.payload, job_runs.c.attempts, job_runs.c.runs, job_runs.c.state)
                            .where(job_runs.c.name == "requests.execute")).all()
    twice = [i for i in ids if completed[f"request:{i}"] != 1]
    assert not twice, f"{len(twice)} requests closed other than once, e.g. {twice[:3]}"
    erasures = [a for a in asks if a.kind == "erasure"]
    double = [a.id for a in erasures if intents[f"request:{a.id}"] != 1]
    assert not double, f"{len(double)} erasures with other than one ledger intent, e.g. {double[:3]}"
    for a in erasures:
        summary = engine.requests.get(a.id).result["summary"]
        assert summary["deleted"] + summary["masked"] > 0, f"erasure {a.id} reports nothing erased: {summary}"
    mine = [r for r in runs if r.payload.get("request_id") in wanted]
    assert len(mine) == len(ids), f"{len(mine)} request tasks for {len(ids)} requests"
    stuck = [r.payload["request_id"] for r in mine if r.state != "done"]
    assert not stuck, f"{len(stuck)} request tasks not done, e.g. {stuck[:3]}"
    return {"request_tasks": len(mine), "taken_over": sum(1 for r in mine if r.attempts > 1),
            "task_runs_max": max((r.runs for r in mine), default=0)}


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system, waited-for children included) of one live process."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _tree_cpu(root: int) -> float:
    """CPU seconds of ``root`` and every live descendant (a server and its threads' children)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parents.setdefault(int(fh.read().rsplit(")", 1)[1].split()[1]), []).append(int(entry))
            except OSError:
                continue
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += _proc_cpu(pid)
        todo.extend(parents.get(pid, []))
    return total


def _backends(server: str, dbs: tuple[str, ...]) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving ``dbs`` (the server is local)."""
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        pids = [int(r[0]) for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = ANY(%s)",
                                                (list(dbs),))]
    return {pid: _proc_cpu(pid) for pid in pids}


class CpuMeter:
    """CPU seconds of the API server, the workers and the database during a phase (#19).

    The database's share is the CPU of the backends serving this run's two databases (the
    local server is shared with other work, so its whole CPU would not say it); a backend
    that exits during the phase takes its CPU with it, so that figure is a lower bound."""

    def __init__(self, cluster: Cluster, server: str, dbs: tuple[str, ...]) -> None:
        self.cluster, self.server, self.dbs = cluster, server, dbs
        self.start: dict[str, Any] = {}

    def _now(self) -> dict[str, Any]:
        procs = {n: p.pid for n, p in self.cluster.procs.items() if p.poll() is None}
        return {"server": _tree_cpu(procs["serve"]) if "serve" in procs else 0.0,
                "workers": {n: _tree_cpu(pid) for n, pid in procs.items() if n.startswith("worker")},
                "db": _backends(self.server, self.dbs)}

    def begin(self) -> None:
        self.start = self._now()

    def end(self, requests: int) -> dict[str, float]:
        now = self._now()
        workers = sum(v - self.start["workers"].get(n, 0.0) for n, v in now["workers"].items())
        db = sum(v - self.start["db"].get(pid, 0.0) for pid, v in now["db"].items())
        server = now["server"] - self.start["server"]
        per = max(1, requests)
        return {"server_cpu_s": round(server, 2), "workers_cpu_s": round(workers, 2), "db_cpu_s": round(db, 2),
                "server_cpu_ms_per_request": round(server / per * 1000, 1),
                "workers_cpu_ms_per_request": round(workers / per * 1000, 1),
                "db_cpu_ms_per_request": round(db / per * 1000, 1)}


def active_emails(engine: Any, n: int) -> list[str]:
    with engine.platform_engine("main").connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT email FROM users WHERE status = 'active' ORDER BY id LIMIT :n"),
                                           {"n": n})]


def run_load(server: str, broker: str, *, requests: int, kill_batch: int, users: int, sample: int = 60,
             seed: int = 11, work: Path | None = None, log: Callable[[str], None] = print,
             keep: bool = False, poll: float = 1.0) -> Report:
    """The whole load test (see the module docstring); raises AssertionError on a failed check."""
    from pledge.engine import Engine
    from pledge.platforms import create_platform
    from pledge.settings import Settings, load_config

    tag = uuid.uuid4().hex[:8]
    work = work or Path(tempfile.mkdtemp(prefix="pledge-load-"))
    names = (f"load_platform_{tag}", f"load_store_{tag}")
    platform_url, store_url = fresh_db(server, names[0]), fresh_db(server, names[1])
    cluster: Cluster | None = None
    engine: Engine | None = None
    try:
        t0 = time.monotonic()
        create_platform("omni-one", platform_url, users=users, seed=seed, progress=False)
        cfg = work / "pledge.yaml"
        cfg.write_text(f"name: load\nplatform: omni-one\npolicy: {EXAMPLE / 'policy.yaml'}\n"
                       f"dataset: {EXAMPLE / 'dataset.yaml'}\nplatform_url: {platform_url}\nstore_url: {store_url}\n")
        settings = Settings(environment="development", smtp_port=9)
        engine = Engine(load_config(cfg, settings), settings)
        key = engine.admins.create_api_key("load", SCOPES, actor="load")
        emails = active_emails(engine, requests + kill_batch)
        if len(emails) < requests + kill_batch:
            raise SystemExit(f"only {len(emails)} active users for {requests + kill_batch} requests: raise --users")
        log(f"omni-one with {users:,} users on PostgreSQL in {time.monotonic() - t0:.0f} s; work in {work}")
        cluster = Cluster(work, cfg, broker, 2)
        cluster.start()
        client = Client(cluster.base, key, engine.requests.verifier.platform_secret())
        report = Report()
        asks = plan_asks(emails[:requests], requests, seed)
        log(f"phase 1: {requests} mixed requests through the API, 2 workers")
        meter = CpuMeter(cluster, server, names)
        meter.begin()
        report.phase_a = run_batch(client, asks, poll=poll)
        report.phase_a["cpu"] = meter.end(requests)
        log(f"  {report.phase_a}")
        killed: list[float] = []

        def kill_midway(done: int, total: int) -> None:
            if not killed and done >= total // 2:
                cluster.kill("worker-1")  # type: ignore[union-attr]
                killed.append(time.monotonic())
                log(f"  SIGKILL worker-1 with {done}/{total} done")

        more = plan_asks(emails[requests:], kill_batch, seed + 1) if kill_batch else []
        if more:
            log(f"phase 2: {kill_batch} more, one worker SIGKILLed midway")
            meter.begin()
            report.phase_b = run_batch(client, more, poll=poll, during=kill_midway)
            report.phase_b["cpu"] = meter.end(kill_batch)  # the killed worker's CPU is not in it
            report.phase_b["killed"] = bool(killed)
            log(f"  {report.phase_b}")
        lost = report.phase_a["lost"] + report.phase_b.get("lost", [])
        assert not lost, f"{len(lost)} requests never completed, e.g. {lost[:3]}"
        report.checks["sample"] = check_sample(engine, client, asks + more, sample, seed)
        report.checks["once"] = check_once(engine, asks + more)
        log(f"checks: {report.checks}")
        return report
    finally:
        if cluster is not None:
            cluster.stop()
        if engine is not None:
            engine.close()
        if not keep:
            for name in names:
                drop_db(server, name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=1000, help="Requests in the first phase.")
    ap.add_argument("--kill-batch", type=int, default=300, help="Requests in the phase with a worker killed.")
    ap.add_argument("--users", type=int, default=2000, help="omni-one users to generate (more than requests).")
    ap.add_argument("--sample", type=int, default=100, help="Finished requests checked against the data.")
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432", help="PostgreSQL server (no db).")
    ap.add_argument("--broker", default="redis://127.0.0.1:6379/0", help="Broker URL (Redis or RabbitMQ).")
    ap.add_argument("--poll", type=float, default=1.0, help="Seconds between the client's looks at the queue.")
    ap.add_argument("--keep", action="store_true", help="Keep the databases afterwards.")
    args = ap.parse_args()
    try:
        report = run_load(args.pg, args.broker, requests=args.requests, kill_batch=args.kill_batch,
                          users=args.users, sample=args.sample, keep=args.keep, poll=args.poll)
    except AssertionError as exc:
        print(f"FAILED: {exc}")
        return 1
    a, b = report.phase_a, report.phase_b
    print(f"\n{a['requests']} requests: all completed in {a['total_s']} s, "
          f"{a['throughput_per_s']} requests/s, median {a['latency_median_s']} s from submission")
    if b:
        print(f"{b['requests']} more with a worker SIGKILLed midway: all completed in {b['total_s']} s, "
              f"{b['throughput_per_s']} requests/s; {report.checks['once']['taken_over']} request task(s) "
              "taken over from the killed worker")
    for name, phase in (("phase 1", a), ("phase 2", b)):
        if phase.get("cpu"):
            c = phase["cpu"]
            print(f"{name} CPU per request: server {c['server_cpu_ms_per_request']} ms, workers "
                  f"{c['workers_cpu_ms_per_request']} ms, PostgreSQL backends {c['db_cpu_ms_per_request']} ms "
                  f"(totals {c['server_cpu_s']} / {c['workers_cpu_s']} / {c['db_cpu_s']} s)")
    print(f"sample checked against the data: {report.checks['sample']}")
    print(f"load average: {os.getloadavg()[0]:.1f} (2 cores shared)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
