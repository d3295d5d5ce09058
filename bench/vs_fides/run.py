"""Pledge against Fides, side by side, on the same data: one command.

    bash bench/vs_fides/run.sh                      # 10,000 and 100,000 customers
    python bench/vs_fides/run.py --sizes 10000 -n 5 --repeats 3

What it does, in order (everything it starts, it stops by PID at the end):

1. installs ``ethyca-fides`` into ``bench/vs_fides/.work/venv`` (2.86.2 on pyenv's
   Python 3.13, else 2.78.2 on 3.11) and prints the version used;
2. starts its own PostgreSQL (initdb into a throwaway directory) and Redis on spare
   127.0.0.1 ports;
3. per size: loads the shop (``schema.sql``, ``generate.py``, ``indexes.sql``) once and
   copies it twice (``CREATE DATABASE … TEMPLATE``), one copy per tool, so both start from
   identical rows and indexes;
4. configures Fides through its REST API with ``dataset.yml`` and points Pledge at the
   same file (Pledge reads Fides datasets);
5. warms both up, then times N access and N erasure requests per tool and repeat, from
   approval to completion, each on a different customer (the same customers for both); a
   Fides request its own worker drops is made again, at most twice, and only the attempt
   that completes is timed (the report counts them);
6. checks the results are equivalent: the same rows exported (personal fields per
   collection), and after the erasures the two copies are identical, table by table;
7. prints seconds per request per tool and the ratio, writes ``results.json`` and
   ``plot.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bare  # noqa: E402
import generate  # noqa: E402
from fides_side import Dropped, Fides, install  # noqa: E402
from pledge_side import Pledge  # noqa: E402
from servers import Servers, tree_cpu  # noqa: E402

WORK = HERE / ".work"


def _personal_fields(dataset: dict[str, Any]) -> dict[str, list[str]]:
    return {c["name"]: [f["name"] for f in c["fields"] if f.get("data_categories")]
            for c in dataset["collections"]}


def _projection(rows_by_coll: dict[str, list[dict[str, Any]]], fields: dict[str, list[str]]) -> dict[str, Counter[tuple[Any, ...]]]:
    out: dict[str, Counter[tuple[Any, ...]]] = {}
    for coll, names in fields.items():
        rows = rows_by_coll.get(coll, [])
        out[coll] = Counter(tuple(None if r.get(n) is None else str(r.get(n)) for n in names) for r in rows)
        if not out[coll]:
            del out[coll]
    return out


def _tables_equal(servers: Servers, db_a: str, db_b: str) -> list[str]:
    """Tables whose contents differ between the two copies, each with a sample row pair."""
    diffs = []
    with psycopg.connect(servers.dsn(db_a)) as a, psycopg.connect(servers.dsn(db_b)) as b:
        for table in generate.TABLES:
            q = f"SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM {table} t"
            if a.execute(q).fetchone() == b.execute(q).fetchone():
                continue
            rows_a = dict(a.execute(f"SELECT id, t::text FROM {table} t").fetchall())
            rows_b = dict(b.execute(f"SELECT id, t::text FROM {table} t").fetchall())
            odd = sorted(k for k in rows_a.keys() | rows_b.keys() if rows_a.get(k) != rows_b.get(k))
            sample = odd[0]
            diffs.append(f"{table} ({len(odd)} rows, e.g. fides {rows_a.get(sample)} / pledge {rows_b.get(sample)})")
    return diffs


def _still_there(servers: Servers, db: str, emails: list[str]) -> int:
    with psycopg.connect(servers.dsn(db)) as conn:
        row = conn.execute("SELECT count(*) FROM customers WHERE email = ANY(%s)", (emails,)).fetchone()
    return int(row[0]) if row else 0


def run_size(size: int, n: int, repeats: int, servers: Servers, fides: Fides, dataset: dict[str, Any],
             seed: int) -> dict[str, Any]:
    base, db_f, db_p, db_b = f"shop_{size}", f"shop_{size}_fides", f"shop_{size}_pledge", f"shop_{size}_bare"
    servers.create_db(base)
    t0 = time.monotonic()
    counts = generate.load(servers.dsn(base), size, seed)
    print(f"  loaded {sum(counts.values()):,} rows for {size:,} customers in {time.monotonic() - t0:.1f} s", flush=True)
    servers.create_db(db_f, base)
    servers.create_db(db_p, base)
    servers.create_db(db_b, base)  # the bare lookups' own copy (#19)
    fides.configure("bench_pg", servers.pg_port, db_f, [dataset])
    pledge = Pledge(WORK / f"pledge_{size}", servers.dsn(db_p, "postgresql+psycopg"),
                    servers.dsn(f"pledge_store_{size}", "postgresql+psycopg"))
    servers.create_db(f"pledge_store_{size}")
    pledge.start()
    fields = _personal_fields(dataset)
    rnd = random.Random(seed + size)
    people = rnd.sample(range(1, size + 1), 4 + 2 * n * repeats)
    emails = generate.emails(servers.dsn(base), people)
    warm, rest = emails[:4], emails[4:]
    access_people, erase_people = rest[: n * repeats], rest[n * repeats:]
    times: dict[str, dict[str, list[float]]] = {"fides": {"access": [], "erasure": []},
                                                "pledge": {"access": [], "erasure": []},
                                                "bare": {"access": [], "erasure": []}}
    # CPU seconds per tool and kind: the tool's server process tree (Fides: its webserver and
    # whatever it starts; Pledge: `pledge serve`), the bench's PostgreSQL (every backend), and
    # for the bare lookups this client process
    cpu: dict[str, dict[str, dict[str, float]]] = {t: {k: {"server": 0.0, "db": 0.0} for k in ("access", "erasure")}
                                                   for t in ("fides", "pledge", "bare")}

    def clocks(tool: str) -> tuple[float, float]:
        proc = fides.proc if tool == "fides" else pledge.proc
        own = time.process_time() if tool == "bare" else tree_cpu(proc.pid) if proc is not None else 0.0
        return own, tree_cpu(servers.pg_pid)

    def charge(tool: str, kind: str, before: tuple[float, float]) -> None:
        after = clocks(tool)
        cpu[tool][kind]["server"] += after[0] - before[0]
        cpu[tool][kind]["db"] += after[1] - before[1]
    mismatches: list[str] = []
    retried: list[str] = []  # Fides requests its worker dropped, made again (reported)

    def fides_timed(email: str, kind: str) -> tuple[str, float]:
        """A Fides request approved and waited for; one its worker drops is made again (up to
        twice), and only the attempt that completes is timed and charged."""
        for attempt in range(3):
            fid = fides.submit(email, f"default_{kind}_policy")
            c0 = clocks("fides")
            try:
                took = fides.approve_and_wait(fid)
            except Dropped as exc:
                retried.append(f"{kind} attempt {attempt + 1}: {exc}")
                print(f"  fides dropped a request, made again: {exc}", flush=True)
                continue
            charge("fides", kind, c0)
            return fid, took
        raise RuntimeError(f"fides dropped the {kind} request for one person three times: {retried[-3:]}")

    try:
        # warm-up: both tools' first requests after start are slower
        for email in warm[:3]:
            fides_timed(email, "access")
            pledge.approve_and_wait(pledge.submit(email, "access"))
        fides_timed(warm[3], "erasure")
        pledge.approve_and_wait(pledge.submit(warm[3], "erasure"))
        bare.timed(servers.dsn(db_b), "access", warm[:3])
        bare.timed(servers.dsn(db_b), "erasure", warm[3:4])
        for rep in range(repeats):
            batch = access_people[rep * n:(rep + 1) * n]
            for email in batch:
                fid, took = fides_timed(email, "access")
                times["fides"]["access"].append(took)
                pid = pledge.submit(email, "access")
                c0 = clocks("pledge")
                elapsed, status = pledge.approve_and_wait(pid)
                charge("pledge", "access", c0)
                times["pledge"]["access"].append(elapsed)
                got_f = _projection(fides.access_result(fid), fields)
                got_p = _projection(pledge.access_result(status), fields)
                if got_f != got_p:
                    mismatches.append(f"access {email}: fides {dict((k, sum(v.values())) for k, v in got_f.items())} "
                                      f"pledge {dict((k, sum(v.values())) for k, v in got_p.items())}")
            c0 = clocks("bare")
            times["bare"]["access"].extend(bare.timed(servers.dsn(db_b), "access", batch)[0])
            charge("bare", "access", c0)
            batch = erase_people[rep * n:(rep + 1) * n]
            for email in batch:
                times["fides"]["erasure"].append(fides_timed(email, "erasure")[1])
                pid = pledge.submit(email, "erasure")
                c0 = clocks("pledge")
                times["pledge"]["erasure"].append(pledge.approve_and_wait(pid)[0])
                charge("pledge", "erasure", c0)
            c0 = clocks("bare")
            times["bare"]["erasure"].extend(bare.timed(servers.dsn(db_b), "erasure", batch)[0])
            charge("bare", "erasure", c0)
            print(f"  run {rep + 1}/{repeats}: fides access {statistics.median(times['fides']['access']):.3f} s, "
                  f"pledge access {statistics.median(times['pledge']['access']):.4f} s", flush=True)
    finally:
        pledge.stop()
    diffs = _tables_equal(servers, db_f, db_p)
    if diffs:
        mismatches.append(f"after erasure the copies differ in: {', '.join(diffs)}")
    diffs = _tables_equal(servers, db_b, db_p)  # the bare statements did the same work
    if diffs:
        mismatches.append(f"after erasure the bare copy differs from Pledge's in: {', '.join(diffs)}")
    left = _still_there(servers, db_f, erase_people) + _still_there(servers, db_p, erase_people)
    if left:
        mismatches.append(f"{left} erased customers still findable by email")
    result: dict[str, Any] = {"customers": size, "rows": sum(counts.values()), "n": n, "repeats": repeats,
                              "times": times, "mismatches": mismatches, "load": os.getloadavg(),
                              "fides_retried": retried}
    for kind in ("access", "erasure"):
        f = statistics.median(times["fides"][kind])
        p = statistics.median(times["pledge"][kind])
        b = statistics.median(times["bare"][kind])
        per = {t: {k: v / max(1, len(times[t][kind])) for k, v in cpu[t][kind].items()} for t in cpu}
        result[kind] = {"fides_s": f, "pledge_s": p, "ratio": f / p, "bare_s": b, "pledge_over_bare": p / b,
                        "cpu_s": per}
    for db in (base, db_f, db_p, db_b, f"pledge_store_{size}"):
        servers.create_db(db)  # drop and recreate empty: frees the disk
    return result


def report(fides_version: str, results: list[dict[str, Any]]) -> str:
    lines = [f"Fides {fides_version} vs Pledge, seconds per request from approval to completion (median);",
             "bare: the same lookups and writes by hand in one transaction (psycopg, no HTTP)",
             f"{'customers':>10} {'rows':>10} {'kind':>8} {'fides s':>9} {'pledge s':>9} {'ratio':>7} "
             f"{'bare s':>8} {'pledge/bare':>11}  equivalent"]
    for r in results:
        for kind in ("access", "erasure"):
            k = r[kind]
            lines.append(f"{r['customers']:>10,} {r['rows']:>10,} {kind:>8} {k['fides_s']:>9.3f} {k['pledge_s']:>9.4f} "
                         f"{k['ratio']:>6.1f}x {k['bare_s']:>8.4f} {k['pledge_over_bare']:>10.1f}x  "
                         f"{'yes' if not r['mismatches'] else 'NO'}")
    lines.append("CPU ms per request (server process tree / PostgreSQL, every backend; bare: the client)")
    for r in results:
        for kind in ("access", "erasure"):
            c = r[kind]["cpu_s"]
            lines.append(f"{r['customers']:>10,} {kind:>8} " + "  ".join(
                f"{t} {c[t]['server'] * 1000:.1f} / {c[t]['db'] * 1000:.1f}" for t in ("fides", "pledge", "bare")))
    for r in results:
        if r.get("fides_retried"):
            lines.append(f"{r['customers']:>10,} Fides dropped {len(r['fides_retried'])} request(s), made again "
                         "(only the attempt that completed is timed)")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,100000", help="Customer counts, comma separated.")
    ap.add_argument("-n", type=int, default=5, help="Timed requests per kind, tool and repeat.")
    ap.add_argument("--repeats", type=int, default=3, help="Repeated runs; medians are over all of them.")
    ap.add_argument("--seed", type=int, default=7, help="Generator seed.")
    ap.add_argument("--out", default="results.json",
                    help="Results file beside this script; its plot is written with the same name and .png "
                         "(plot.png for results.json).")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    WORK.mkdir(parents=True, exist_ok=True)
    venv, version = install(WORK)
    print(f"ethyca-fides {version} (in {venv})", flush=True)
    dataset = yaml.safe_load((HERE / "dataset.yml").read_text())["dataset"][0]
    servers = Servers(WORK / "servers")
    fides: Fides | None = None
    results: list[dict[str, Any]] = []
    try:
        servers.start()
        servers.create_db("fides")
        print(f"postgres on {servers.pg_port}, redis on {servers.redis_port}", flush=True)
        fides = Fides(venv, WORK / "fides", servers.pg_port, servers.redis_port)
        print(f"fides answered after {fides.start():.1f} s", flush=True)
        for size in sizes:
            print(f"{size:,} customers", flush=True)
            results.append(run_size(size, args.n, args.repeats, servers, fides, dataset, args.seed))
            print(report(version, results[-1:]), flush=True)
            (HERE / "results.partial.json").write_text(json.dumps(  # kept if a larger size fails
                {"fides_version": version, "when": time.strftime("%Y-%m-%d %H:%M:%S"), "results": results},
                indent=2) + "\n")
    finally:
        if fides is not None:
            fides.stop()
        servers.stop()
    text = report(version, results)
    print(text)
    bad = [m for r in results for m in r["mismatches"]]
    for m in bad:
        print("MISMATCH:", m)
    out = {"fides_version": version, "when": time.strftime("%Y-%m-%d %H:%M:%S"), "results": results}
    target = HERE / Path(args.out).name
    picture = HERE / ("plot.png" if target.name == "results.json" else f"{target.stem}.png")
    target.write_text(json.dumps(out, indent=2) + "\n")
    from plot import plot

    plot(out, picture)
    print(f"wrote {target} and {picture}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
