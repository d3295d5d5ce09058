"""Two versions of Pledge side by side, requests interleaved one by one (old/new A/B).

    git archive <rev> src | tar -x -C /tmp/old
    .venv/bin/python bench/vs_fides/profile_pledge.py --customers 20000 -n 1   # loads prof_shop once
    .venv/bin/python bench/vs_fides/ab_pledge.py --old-src /tmp/old/src --kind access -n 100

Starts two ``pledge serve`` (the bench's Pledge side: its dataset and policy, SMTP on a
closed port), one with ``--old-src`` first on ``PYTHONPATH``, each on a fresh store
database, both on the shop ``profile_pledge.py`` loaded (``prof_shop``). Submits the
requests (platform-token verification), warms each up, then times approve → completed
alternately on the two servers, so both see the same machine at the same moments (on a
shared machine, runs minutes apart differ more than the code does). Prints per version the
median and mean time and the server's CPU per request (its process, every thread: the
request, HTTP, the mail sender). Erasure uses different people on each side.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402
import pledge_side  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (every thread), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old-src", required=True, help="The old version's src/ (first on its PYTHONPATH).")
    ap.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432", help="PostgreSQL server.")
    ap.add_argument("--kind", default="access", choices=["access", "erasure"])
    ap.add_argument("-n", type=int, default=100, help="Timed requests per version.")
    ap.add_argument("--customers", type=int, default=20_000, help="The size prof_shop was loaded with.")
    ap.add_argument("--seed", type=int, default=1, help="Which customers.")
    args = ap.parse_args()
    if not Path(args.old_src, "pledge").is_dir():
        raise SystemExit(f"{args.old_src} has no pledge/ package")
    shop = f"{args.server}/prof_shop"
    servers: dict[str, pledge_side.Pledge] = {}
    try:
        for name in ("old", "new"):
            with psycopg.connect(f"{args.server}/postgres", autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS ab_{name} WITH (FORCE)")
                conn.execute(f"CREATE DATABASE ab_{name}")
            driver = args.server.replace("postgresql://", "postgresql+psycopg://")
            side = pledge_side.Pledge(Path(f"/tmp/pledge-ab-{name}"), f"{driver}/prof_shop", f"{driver}/ab_{name}")
            if name == "old":
                side.env["PYTHONPATH"] = args.old_src
            side.start()
            servers[name] = side
        per_side = args.n + 5
        sample = random.Random(args.seed).sample(range(1, args.customers + 1), 3 * per_side + 60)
        people = [e for e in generate.emails(shop, sample) if e]  # erased people have no email
        ids: dict[str, list[str]] = {}
        for i, (name, side) in enumerate(servers.items()):
            mine = people[i * per_side:(i + 1) * per_side] if args.kind == "erasure" else people[:per_side]
            if len(mine) < per_side:
                raise SystemExit(f"only {len(mine)} people left for {name}; use another --seed or reload the shop")
            ids[name] = [side.submit(email, args.kind) for email in mine]
        for name, side in servers.items():
            for rid in ids[name][:5]:
                side.approve_and_wait(rid)
        time.sleep(1)  # the warm-up's mail goes out before the timing
        times: dict[str, list[float]] = {name: [] for name in servers}
        assert all(side.proc is not None for side in servers.values())
        cpu0 = {name: cpu_seconds(side.proc.pid) for name, side in servers.items()}  # type: ignore[union-attr]
        for j in range(5, per_side):
            for name in (list(servers) if j % 2 else list(reversed(servers))):
                times[name].append(servers[name].approve_and_wait(ids[name][j])[0])
        cpu1 = {name: cpu_seconds(side.proc.pid) for name, side in servers.items()}  # type: ignore[union-attr]
        for name in servers:
            print(f"{args.kind} {name}: median {statistics.median(times[name]) * 1000:.1f} ms, mean "
                  f"{statistics.mean(times[name]) * 1000:.1f} ms, server CPU "
                  f"{(cpu1[name] - cpu0[name]) / args.n * 1000:.1f} ms per request")
        print(f"load average {os.getloadavg()[0]:.2f} (2 cores shared)")
    finally:
        for side in servers.values():
            side.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
