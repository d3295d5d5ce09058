"""Consent decisions benchmark: in-process decisions per second, and HTTP requests per
second with p50/p99 latency on loopback against a real uvicorn in its own process.

    .venv/bin/python bench/decisions.py                 # defaults: 2,000 people, 20,000 requests
    .venv/bin/python bench/decisions.py --people 500 --requests 5000 --concurrency 16

The deployment is the omni-one example (its policy.yaml and dataset.yaml) with a small
``users`` table of generated people (``person<N>@example.test``; no real data). The
in-process figure is the cached path (one dict lookup); the cold figure, where every
decision reads the store and the platform once, is printed beside it. The HTTP client
is a small asyncio HTTP/1.1 keep-alive client, bounded in count and in time; like a
platform's mailer it sends an API key with the ``decisions:read`` scope
(``Authorization: Bearer plk_…``), made in the bench's store. The in-process cost of a
remembered key check is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from pledge.engine import Engine  # noqa: E402
from pledge.settings import Settings  # noqa: E402

EXAMPLE = ROOT / "examples" / "omni-one"
PURPOSES = ["marketing_email", "email_tracking", "analytics_cookies", "service", "security"]


def deployment(folder: Path, people: int) -> tuple[Path, str]:
    for f in ("policy.yaml", "dataset.yaml"):
        shutil.copyfile(EXAMPLE / f, folder / f)
    cfg = folder / "pledge.yaml"
    cfg.write_text(yaml.safe_dump({"name": "bench", "policy": "policy.yaml", "dataset": "dataset.yaml",
                                   "platform_url": "sqlite:///platform.db", "store_url": "sqlite:///store.db"}))
    engine = Engine.from_config_file(cfg, Settings(environment="test"))
    with engine.platform_engine("main").begin() as conn:
        conn.execute(text("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, birth_date DATE, "
                          "status TEXT NOT NULL, closed_at TIMESTAMP)"))
        conn.execute(text("CREATE INDEX ix_users_email ON users (lower(email))"))
        conn.execute(text("INSERT INTO users (email, birth_date, status) VALUES (:e, '1990-01-01', 'active')"),
                     [{"e": f"person{i}@example.test"} for i in range(people)])
    rng = random.Random(7)
    for i in range(people):
        if rng.random() < 0.5:
            engine.consent.record(f"person{i}@example.test", "marketing_email",
                                  rng.choice(["given", "withdrawn", "refused"]))
    key = engine.admins.create_api_key("bench", ["decisions:read"], actor="bench")
    engine.close()
    return cfg, key


def key_checks(cfg: Path, key: str, calls: int = 200_000) -> float:
    """Remembered API key checks per second (the fast path's first step)."""
    engine = Engine.from_config_file(cfg, Settings(environment="test"))
    check = engine.admins.check_api_key
    if check(key, "decisions:read") is None:
        raise RuntimeError("the bench's API key is not accepted")
    t0 = time.perf_counter()
    for _ in range(calls):
        check(key, "decisions:read")
    rate = calls / (time.perf_counter() - t0)
    engine.close()
    return rate


def in_process(cfg: Path, people: int, calls: int) -> tuple[float, float]:
    engine = Engine.from_config_file(cfg, Settings(environment="test"))
    pairs = [(f"person{i}@example.test", p) for i in range(people) for p in PURPOSES]
    t0 = time.perf_counter()
    for email, purpose in pairs:  # cold: every person and purpose once
        engine.may(email, purpose)
    cold = len(pairs) / (time.perf_counter() - t0)
    rng = random.Random(1)
    order = [pairs[rng.randrange(len(pairs))] for _ in range(min(calls, 200_000))]
    may = engine.may
    done = 0
    t0 = time.perf_counter()
    while done < calls:
        for email, purpose in order:
            may(email, purpose)
        done += len(order)
    warm = done / (time.perf_counter() - t0)
    engine.close()
    return cold, warm


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SERVER = """
import sys, uvicorn
from pledge.engine import Engine
from pledge.web.app import create_app
from pledge.settings import Settings
engine = Engine.from_config_file(sys.argv[1], Settings(environment="test"))
engine.store
uvicorn.run(create_app(engine), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning",
            access_log=False)
"""


async def one_connection(port: int, key: str, paths: list[str], deadline: float, lat: list[float]) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    n = 0
    try:
        for path in paths:
            if time.perf_counter() > deadline:
                break
            t0 = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {key}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            body = await reader.readexactly(length)
            lat.append(time.perf_counter() - t0)
            if not head.startswith(b"HTTP/1.1 200") or b'"allowed"' not in body:
                raise RuntimeError(f"bad response: {head[:40]!r} {body[:80]!r}")
            n += 1
    finally:
        writer.close()
    return n


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to show capacity per core."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


async def http_load(port: int, pid: int, key: str, people: int, requests: int, concurrency: int,
                    seconds: float) -> tuple[int, float, list[float], float]:
    rng = random.Random(2)
    paths = [f"/v1/decisions?subject=person{rng.randrange(people)}%40example.test&purpose={rng.choice(PURPOSES)}"
             for _ in range(requests)]
    # warm the server's cache with one pass over everyone
    warm = [f"/v1/decisions?subject=person{i}%40example.test&purpose={p}" for i in range(people) for p in PURPOSES]
    await asyncio.gather(*(one_connection(port, key, warm[k::concurrency], time.perf_counter() + 120, [])
                           for k in range(concurrency)))
    lat: list[float] = []
    cpu0 = cpu_seconds(pid)
    t0 = time.perf_counter()
    deadline = t0 + seconds
    counts = await asyncio.gather(*(one_connection(port, key, paths[k::concurrency], deadline, lat)
                                    for k in range(concurrency)))
    return sum(counts), time.perf_counter() - t0, lat, cpu_seconds(pid) - cpu0


def http_bench(cfg: Path, key: str, people: int, requests: int, concurrency: int,
               seconds: float) -> tuple[float, float, float, float]:
    port = free_port()
    # the server only answers decisions: no retention sweep competing for the CPU
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PLEDGE_RETENTION_SWEEP": "off"}
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(cfg), str(port)], env=env)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        done, elapsed, lat, cpu = asyncio.run(http_load(port, proc.pid, key, people, requests, concurrency,
                                                              seconds))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    lat.sort()
    p50 = statistics.median(lat) * 1000
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
    return done / elapsed, p50, p99, done / cpu if cpu > 0 else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, default=2000, help="generated people in the users table")
    ap.add_argument("--calls", type=int, default=1_000_000, help="in-process decisions to time")
    ap.add_argument("--requests", type=int, default=20_000, help="HTTP requests at most")
    ap.add_argument("--seconds", type=float, default=20.0, help="HTTP phase time limit")
    ap.add_argument("--concurrency", type=int, default=16, help="keep-alive connections")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="pledge-bench-decisions-") as tmp:
        cfg, key = deployment(Path(tmp), args.people)
        cold, warm = in_process(cfg, args.people, args.calls)
        print(f"in-process: {warm:,.0f} decisions/s cached (target >= 200,000); {cold:,.0f}/s cold")
        print(f"in-process: {key_checks(cfg, key):,.0f} API key checks/s (a remembered key)")
        rps, p50, p99, per_cpu = http_bench(cfg, key, args.people, args.requests, args.concurrency, args.seconds)
        print(f"HTTP GET /v1/decisions with an API key: {rps:,.0f} req/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms "
              f"(targets >= 3,000 req/s, p99 < 20 ms; {args.concurrency} connections, loopback)")
        print(f"server capacity: {per_cpu:,.0f} requests per CPU-second of the uvicorn process; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
