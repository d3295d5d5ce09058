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
import pstats
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import psycopg
from fastapi.testclient import TestClient

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402

from pledge.engine import Engine  # noqa: E402
from pledge.settings import Settings, load_config  # noqa: E402
from pledge.web.app import create_app  # noqa: E402

SECRET = "bench-secret-not-for-production-0123456789"


def fresh(server: str, name: str) -> str:
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return f"{server}/{name}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432", help="PostgreSQL server (no db).")
    ap.add_argument("--customers", type=int, default=100_000, help="Shop size.")
    ap.add_argument("-n", type=int, default=20, help="Profiled requests.")
    ap.add_argument("--kind", default="access", choices=["access", "erasure"], help="Request kind.")
    ap.add_argument("--top", type=int, default=40, help="Rows of the profile to print.")
    ap.add_argument("--reuse", action="store_true", help="Keep the shop loaded by an earlier run.")
    ap.add_argument("--out", default="", help="Also dump the raw profile here (for snakeviz etc.).")
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
    settings = Settings(secret_key=SECRET, environment="development", smtp_port=9)
    engine = Engine(load_config(cfg, settings), settings)
    key = engine.admins.create_api_key("profile", ["requests:write", "requests:read", "requests:approve",
                                                   "exports:read"], actor="profile")
    secret = engine.requests.verifier.platform_secret()
    people = generate.emails(shop, random.Random(3).sample(range(1, args.customers + 1), args.n + 3))
    with TestClient(create_app(engine), headers={"Authorization": f"Bearer {key}"}) as client:
        def submit(email: str) -> str:
            exp = int((datetime.now(UTC) + timedelta(minutes=30)).timestamp())
            token = jwt.encode({"email": email, "aud": "pledge", "exp": exp}, secret, algorithm="HS256")
            res = client.post("/v1/requests", json={"kind": args.kind, "email": email, "platform_token": token})
            return str(res.json()["request"]["id"])

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
        half = len(ids) // 2
        times = [approve(rid) for rid in ids[:half]]  # through the API, timed
        # the API handler runs in another thread, out of cProfile's sight: profile what it calls
        prof = cProfile.Profile()
        for rid in ids[half:]:
            t0 = time.perf_counter()
            prof.enable()
            engine.requests.approve(rid, actor="profile")
            prof.disable()
            times.append(time.perf_counter() - t0)
    engine.close()
    print(f"{args.kind}: median {statistics.median(times) * 1000:.1f} ms over {len(times)} "
          f"(min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f})")
    if args.out:
        prof.dump_stats(args.out)
    pstats.Stats(prof).sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
