"""Rights benchmark: omni-one at up to 1,000,000 users on SQLite and PostgreSQL.

    .venv/bin/python bench/rights.py                      # 1,000,000 users, sqlite + postgresql
    .venv/bin/python bench/rights.py --users 10000 --backend sqlite   # a quick run

Access: p50/p95 latency of a full access lookup (every row about the person, every
column) over 50 random people, and rows returned per second. The platform is generated
once per size with ``pledge.platforms.create_platform`` and reused: SQLite files live in
/tmp (``/tmp/omni1m.db`` for 1M users), PostgreSQL databases are named
``pledge_bench_omni_<users>``. ``bench_access`` is a plain function so that other
halves of the benchmark (erasure) can run beside it on the same engine and people.

Erasure: p50/p95 of a whole erasure request over the same 50 people, run on a copy of
the platform (an SQLite backup in a temporary directory, or a PostgreSQL database
made from the original as a template), and rows touched per second.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from pledge.engine import Engine  # noqa: E402
from pledge.platforms import create_platform  # noqa: E402
from pledge.rights.locate import locate  # noqa: E402
from pledge.settings import Settings  # noqa: E402

EXAMPLE = ROOT / "examples" / "omni-one"
POSTGRES_ADMIN = os.environ.get("PLEDGE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def sqlite_url(users: int) -> str:
    path = "/tmp/omni1m.db" if users == 1_000_000 else f"/tmp/pledge_bench_omni_{users}.db"
    return f"sqlite:///{path}"


def postgres_url(users: int) -> str:
    """A PostgreSQL database for this size, created when missing."""
    name = f"pledge_bench_omni_{users}"
    base = make_url(POSTGRES_ADMIN)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
            conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def ensure_platform(url: str, users: int) -> None:
    eng = create_engine(url)
    try:
        has_tables = bool(inspect(eng).get_table_names())
    finally:
        eng.dispose()
    if not has_tables:
        print(f"generating omni-one with {users:,} users at {make_url(url).render_as_string()} …", flush=True)
        create_platform("omni-one", url, users=users, progress=True)


def bench_engine(url: str, workdir: Path) -> Engine:
    """An engine on the omni-one example's policy and dataset, pointed at ``url``."""
    cfg = workdir / "pledge.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "omni-one-bench", "platform": "omni-one",
        "policy": str(EXAMPLE / "policy.yaml"), "dataset": str(EXAMPLE / "dataset.yaml"),
        "platform_url": url, "store_url": f"sqlite:///{workdir / 'store.db'}",
    }))
    return Engine.from_config_file(cfg, Settings(environment="test"))


def pick_people(engine: Engine, n: int, seed: int = 1) -> list[str]:
    """``n`` random users' emails (seeded), chosen by id without scanning the table."""
    with engine.platform_engine("main").connect() as conn:
        top = int(conn.execute(text("SELECT max(id) FROM users")).scalar_one())
        rnd = random.Random(seed)
        ids = rnd.sample(range(1, top + 1), min(n, top))
        rows = conn.execute(text("SELECT id, email FROM users WHERE id IN :ids")
                            .bindparams(_expanding("ids")), {"ids": ids}).all()
    by_id = {r.id: r.email for r in rows}
    return [by_id[i] for i in ids if i in by_id]


def _expanding(name: str) -> Any:
    from sqlalchemy import bindparam

    return bindparam(name, expanding=True)


def timed(fn: Callable[[str], int], people: list[str]) -> dict[str, float]:
    """Run ``fn`` once per person; latency percentiles and rows per second."""
    times: list[float] = []
    rows = 0
    for person in people:
        start = time.perf_counter()
        rows += fn(person)
        times.append(time.perf_counter() - start)
    total = sum(times)
    times.sort()
    return {
        "people": len(people), "p50": statistics.median(times),
        "p95": times[max(0, int(len(times) * 0.95) - 1)], "max": times[-1],
        "rows": rows, "rows_per_s": rows / total if total else 0.0,
    }


def bench_access(engine: Engine, people: list[str]) -> dict[str, float]:
    """Access p50 over ``people`` (emails): every row about each, every column."""
    locate(engine, {"email": people[0]})  # warm: reflection and connection pool
    return timed(lambda email: locate(engine, {"email": email}).total, people)


def copy_platform(url: str, workdir: Path) -> str:
    """A throwaway copy of the platform to erase on (the original stays intact).

    SQLite: an online backup into ``workdir``. PostgreSQL: a database made from the
    original as a template (``pledge_bench_erase_<n>``, dropped by :func:`drop_copy`).
    """
    if url.startswith("sqlite"):
        import sqlite3

        target = workdir / "erase-copy.db"
        src = sqlite3.connect(make_url(url).database or "")
        dst = sqlite3.connect(str(target))
        with dst:
            src.backup(dst)
        src.close()
        dst.close()
        return f"sqlite:///{target}"
    base = make_url(url)
    name = f"pledge_bench_erase_{os.getpid()}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f'CREATE DATABASE {name} TEMPLATE "{base.database}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def drop_copy(url: str) -> None:
    if url.startswith("sqlite"):
        return
    base = make_url(url)
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {base.database} WITH (FORCE)"))
    admin.dispose()


def bench_erasure(engine: Engine, people: list[str]) -> dict[str, float]:
    """Erasure p50 over ``people`` (emails) on a copy: the whole request (locate, plan,
    ledger and audit, checkpoints, every UPDATE and DELETE); rows touched = rows
    deleted, masked, or retained with fields masked or links cut."""
    from pledge.rights.erasure import erase

    def one(email: str) -> int:
        rep = erase(engine, {"email": email}, actor="bench")
        kept_changed = sum(e["rows"] for e in rep["retained"] if e.get("fields") or e.get("detached"))
        return int(rep["totals"]["deleted"] + rep["totals"]["masked"] + kept_changed)

    return timed(one, people)


def report(backend: str, users: int, what: str, r: dict[str, float]) -> None:
    print(f"{backend:<10} {users:>9,} users  {what:<8} p50 {r['p50'] * 1000:8.1f} ms  "
          f"p95 {r['p95'] * 1000:8.1f} ms  max {r['max'] * 1000:8.1f} ms  "
          f"{int(r['rows']):>7} rows  {r['rows_per_s']:>10,.0f} rows/s", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=1_000_000, help="platform size (default 1,000,000)")
    ap.add_argument("--backend", action="append", choices=["sqlite", "postgresql"],
                    help="repeat for several (default: both)")
    ap.add_argument("--people", type=int, default=50, help="random people per measurement")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip-erasure", action="store_true", help="measure access only")
    args = ap.parse_args(argv)
    for backend in args.backend or ["sqlite", "postgresql"]:
        url = sqlite_url(args.users) if backend == "sqlite" else postgres_url(args.users)
        ensure_platform(url, args.users)
        with tempfile.TemporaryDirectory() as tmp:
            engine = bench_engine(url, Path(tmp))
            try:
                people = pick_people(engine, args.people, args.seed)
                report(backend, args.users, "access", bench_access(engine, people))
            finally:
                engine.close()
            if not args.skip_erasure:
                copy = copy_platform(url, Path(tmp))
                engine = bench_engine(copy, Path(tmp))
                try:
                    report(backend, args.users, "erasure", bench_erasure(engine, people))
                finally:
                    engine.close()
                    drop_copy(copy)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
