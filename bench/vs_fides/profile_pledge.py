"""Profile Pledge's request path as the bench drives it, in one process (cProfile).

    .venv/bin/python bench/vs_fides/profile_pledge.py --dsn postgresql://postgres@127.0.0.1:5432 \
        --customers 100000 -n 20 [--kind access|erasure] [--top 40]

Loads the bench shop into two fresh databases on the given server (``prof_shop`` and
``prof_store``, dropped and recreated), then makes ``n`` requests through the JSON API
(FastAPI's test client: the same handlers ``pledge serve`` runs, without the socket),
and times approve → completed after a warm-up; the second half of the requests call
``engine.requests.approve`` (what the API handler calls) under cProfile. Prints the median time and the
functions with the most cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import psycopg
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine as SAEngine
from sqlalchemy.engine.default import CACHE_HIT
from sqlalchemy.pool import Pool

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402

from pledge.engine import Engine  # noqa: E402
from pledge.keys import keyring_env  # noqa: E402
from pledge.settings import Settings, load_config  # noqa: E402
from pledge.web.app import create_app  # noqa: E402

for _var, _value in keyring_env().items():  # fresh random keys for this run
    os.environ.setdefault(_var, _value)


def fresh(server: str, name: str) -> str:
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return f"{server}/{name}"


class Counter:
    """Round trips seen by SQLAlchemy on every engine (store and platform) while ``on``.

    ``statements`` are cursor executions, ``checkouts`` pool checkouts, ``pings`` the
    pool's liveness checks (a round trip each), ``commits`` committed transactions and
    ``compiled`` statements SQLAlchemy compiled for that execution (not found in its cache),
    ``resets`` connections rolled back on their way back to the pool (a round trip when
    a read left a transaction open; free after a commit).
    """

    def __init__(self, trace: bool = False) -> None:
        self.on = False
        self.trace = trace  # note each round trip's Pledge caller (a stack walk: costly, off unless --sql)
        self.counts = {"statements": 0, "compiled": 0, "checkouts": 0, "pings": 0, "commits": 0, "resets": 0}
        self.log: list[str] = []  # the last request's round trips, with the Pledge line that caused each
        event.listen(SAEngine, "before_cursor_execute", self._hit("statements"))
        event.listen(SAEngine, "commit", self._hit("commits"))
        compiled = self._hit("compiled")

        def cache_miss(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
            if context is not None and context.compiled is not None and context.cache_hit is not CACHE_HIT:
                compiled(conn, cursor, statement)  # compiled for this execution: not found in SQLAlchemy's cache

        event.listen(SAEngine, "before_cursor_execute", cache_miss)
        event.listen(Pool, "reset", self._hit("resets"))
        dialect = type(create_engine("postgresql+psycopg://").dialect)
        ping = self._hit("pings")
        real_ping = dialect.do_ping

        def counted_ping(dialect_self: Any, dbapi_conn: Any) -> bool:
            ping()
            return bool(real_ping(dialect_self, dbapi_conn))

        dialect.do_ping = counted_ping  # type: ignore[method-assign]
        event.listen(Pool, "checkout", self._hit("checkouts"))

    def _hit(self, name: str):  # type: ignore[no-untyped-def]
        def hit(*args: object) -> None:
            if self.on:
                self.counts[name] += 1
                if not self.trace:
                    return
                what = " ".join(str(args[2]).split())[:90] if name == "statements" else name
                self.log.append(f"{what:92} {_caller()}")
        return hit


def _caller() -> str:
    import traceback

    for fr in reversed(traceback.extract_stack()):
        if "/pledge/" in fr.filename and "/store/__init__" not in fr.filename:
            return f"{fr.filename.rsplit('/pledge/', 1)[1]}:{fr.lineno} {fr.name}"
    return "?"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432", help="PostgreSQL server (no db).")
    ap.add_argument("--customers", type=int, default=100_000, help="Shop size.")
    ap.add_argument("-n", type=int, default=20, help="Profiled requests.")
    ap.add_argument("--kind", default="access", choices=["access", "erasure"], help="Request kind.")
    ap.add_argument("--seed", type=int, default=3, help="Which customers (a seeded sample).")
    ap.add_argument("--top", type=int, default=40, help="Rows of the profile to print.")
    ap.add_argument("--reuse", action="store_true", help="Keep the shop loaded by an earlier run.")
    ap.add_argument("--sql", action="store_true", help="List the last request's round trips and their callers.")
    ap.add_argument("--out", default="", help="Also dump the raw profile here (for snakeviz etc.).")
    ap.add_argument("--plain", action="store_true",
                    help="Every request through the API, no cProfile and no counting: for an outside "
                         "profiler such as py-spy.")
    args = ap.parse_args()
    shop = f"{args.dsn}/prof_shop"
    if not args.reuse:
        t0 = time.monotonic()
        generate.load(fresh(args.dsn, "prof_shop"), args.customers)
        print(f"loaded {args.customers:,} customers in {time.monotonic() - t0:.0f} s", flush=True)
    store = fresh(args.dsn, "prof_store")
    work = Path("/tmp") / f"pledge-profile-{args.customers}"
    work.mkdir(exist_ok=True)
    cfg = work / "pledge.yaml"
    cfg.write_text(f"name: profile\npolicy: {HERE / 'policy.yaml'}\ndataset: {HERE / 'dataset.yml'}\n"
                   f"platform_url: {shop.replace('postgresql://', 'postgresql+psycopg://')}\n"
                   f"store_url: {store.replace('postgresql://', 'postgresql+psycopg://')}\n")
    settings = Settings(environment="development", smtp_port=9)
    engine = Engine(load_config(cfg, settings), settings)
    key = engine.admins.create_api_key("profile", ["requests:write", "requests:read", "requests:approve",
                                                   "exports:read"], actor="profile")
    secret = engine.requests.verifier.platform_secret()
    # people an earlier --kind erasure run erased have no email any more: skip them
    sample = random.Random(args.seed).sample(range(1, args.customers + 1), 2 * args.n + 40)
    people = [e for e in generate.emails(shop, sample) if e][: args.n + 3]
    with TestClient(create_app(engine), headers={"Authorization": f"Bearer {key}"}) as client:
        def submit(email: str) -> str:
            exp = int((datetime.now(UTC) + timedelta(minutes=30)).timestamp())
            token = jwt.encode({"email": email, "aud": "pledge", "exp": exp}, secret, algorithm="HS256")
            res = client.post("/v1/requests", json={"kind": args.kind, "email": email, "platform_token": token})
            body = res.json()
            if "request" not in body:
                raise RuntimeError(f"submit {res.status_code}: {body}")
            return str(body["request"]["id"])

        def approve(rid: str) -> float:
            t0 = time.perf_counter()
            out = client.post(f"/v1/requests/{rid}/approve").json()
            while out["state"] not in ("completed", "partially_completed"):
                time.sleep(0.02)
                out = client.get(f"/v1/requests/{rid}").json()
            return time.perf_counter() - t0

        for email in people[:3]:
            approve(submit(email))
        ids = [submit(e) for e in people[3:]]
        half = len(ids) if args.plain else len(ids) // 2
        cpu_api = time.process_time()
        times = [approve(rid) for rid in ids[:half]]  # through the API, timed
        cpu_api = (time.process_time() - cpu_api) / max(1, half)
        # the API handler runs in another thread, out of cProfile's sight: profile what it calls
        prof = cProfile.Profile()
        counter = Counter(trace=args.sql) if not args.plain else None
        cpu0 = time.process_time()
        for rid in ids[half:]:
            assert counter is not None
            t0 = time.perf_counter()
            counter.log.clear()
            counter.on = True
            prof.enable()
            engine.requests.approve(rid, actor="profile")
            prof.disable()
            counter.on = False
            times.append(time.perf_counter() - t0)
        cpu = (time.process_time() - cpu0) / max(1, len(ids) - half)
    engine.close()
    if args.plain:
        print(f"{args.kind}: median {statistics.median(times) * 1000:.1f} ms over {len(times)}, CPU of this "
              f"process per request {cpu_api * 1000:.1f} ms; load average {os.getloadavg()[0]:.2f}")
        return 0
    assert counter is not None
    print(f"{args.kind}: median {statistics.median(times) * 1000:.1f} ms over {len(times)} "
          f"(min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f})")
    profiled = len(ids) - half
    print(f"CPU of this process per request through the API, not profiled: {cpu_api * 1000:.1f} ms "
          f"(median wall {statistics.median(times[:half]) * 1000:.1f} ms)")
    print(f"CPU of this process per profiled request (every thread, cProfile's own cost included): "
          f"{cpu * 1000:.1f} ms; load average {os.getloadavg()[0]:.2f}")
    print("per request (engine.requests.approve): " + ", ".join(
        f"{v / profiled:.1f} {k}" for k, v in counter.counts.items()))
    if args.sql:
        print("\n".join(counter.log))
    if args.out:
        prof.dump_stats(args.out)
    pstats.Stats(prof).sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
