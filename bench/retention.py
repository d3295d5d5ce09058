"""Retention sweep benchmark: N expired omni-one messages, Pledge's sweep vs a bulk DELETE.

    .venv/bin/python bench/retention.py --rows 10000000 --engine sqlite
    .venv/bin/python bench/retention.py --rows 200000 --engine postgresql

Builds a small omni-one platform, then fills ``messages`` with N rows older than the
rule's 30 days using one INSERT … SELECT (a recursive CTE on SQLite, generate_series on
PostgreSQL). Pledge sweeps them with a one-rule policy (``main.messages``, created_at,
P30D, delete); the same data is then rebuilt and removed with one hand-written
``DELETE FROM messages WHERE created_at < :cutoff``. Prints both rates in rows/s, their
ratio (target ≥ 0.7) and Pledge's peak memory (target < 300 MB).

The sweep runs in a fresh (spawned) process that does nothing else, so its peak resident
memory (ru_maxrss) is Pledge's alone: imports, engine, sweep. Its clock covers the whole
``sweep.run`` call — reflecting the platform's tables, compiling the rules, ledger intents,
audit entries and checkpoints included; only the store's schema migration (done once when
Pledge is installed) happens before the clock starts. The platform's tables are filled by
the parent process, outside both clocks.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import yaml
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pledge.engine import Engine  # noqa: E402
from pledge.platforms import REFERENCE, create_platform  # noqa: E402
from pledge.retention import sweep  # noqa: E402
from pledge.settings import Settings  # noqa: E402

OLD = (REFERENCE - timedelta(days=400)).replace(tzinfo=None).isoformat(sep=" ")
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def fill(url: str, rows: int) -> None:
    eng = create_engine(url)
    with eng.begin() as conn:
        conn.execute(text("DELETE FROM messages"))
        conv = conn.execute(text("SELECT min(id) FROM conversations")).scalar()
        if url.startswith("sqlite"):
            conn.execute(text(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rows) "
                "INSERT INTO messages (id, created_at, conversation_id, author_id, role, content) "
                "SELECT i, :old, :conv, NULL, 'user', 'bench message' FROM n"), {"rows": rows, "old": OLD,
                                                                                 "conv": conv})
        else:
            conn.execute(text(
                "INSERT INTO messages (id, created_at, conversation_id, author_id, role, content) "
                "SELECT i, CAST(:old AS timestamptz), :conv, NULL, 'user', 'bench message' "
                "FROM generate_series(1, :rows) AS i"), {"rows": rows, "old": OLD + "+00", "conv": conv})
    if url.startswith("sqlite"):
        with eng.connect() as conn:  # fold the fill's WAL into the file: both clocks start alike
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    eng.dispose()
    os.sync()  # the fill's writes reach the disk before a clock starts, not during it


def pledge_sweep(config: str, batch_size: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """In a spawned process: one sweep, its time, its report and this process's peak memory."""
    from sqlalchemy import func, select

    from pledge.store.tables.core import audit_log, erasure_ledger

    engine = Engine.from_config_file(Path(config), Settings(), clock=lambda: REFERENCE)
    assert engine.store is not None  # the store's schema exists before the clock starts
    start, cpu = time.perf_counter(), os.times()
    report = sweep.run(engine, REFERENCE, batch_size=batch_size)
    seconds = time.perf_counter() - start
    cpu_after = os.times()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with engine.store.connect() as conn:
        intents = conn.execute(select(func.count()).select_from(erasure_ledger)).scalar()
        audits = conn.execute(select(func.count()).select_from(audit_log)).scalar()
    engine.close()
    target = report["targets"][0]
    out.put({"cpu": cpu_after.user + cpu_after.system - cpu.user - cpu.system, "seconds": seconds, "rows": target["rows"], "batches": target["batches"], "peak_mb": peak_mb,
             "intents": intents, "audits": audits})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--batch-size", type=int, default=20_000,
                    help="the sweep's first batch; plain deletes grow it while batches are fast")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pledge-bench-retention-"))
    if args.engine == "sqlite":
        url = f"sqlite:///{tmp / 'platform.db'}"
    else:
        name = f"pledge_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        url = PG.rsplit("/", 1)[0] + "/" + name
    create_platform("omni-one", url, users=20, progress=False)
    policy = yaml.safe_load((ROOT / "examples/omni-one/policy.yaml").read_text())
    policy["retention"] = [{"key": "bench_messages", "name": "Expired messages", "collections": ["main.messages"],
                            "trigger": "created_at", "period": "P30D", "action": "delete", "cascade": False}]
    (tmp / "policy.yaml").write_text(yaml.safe_dump(policy, allow_unicode=True))
    (tmp / "pledge.yaml").write_text(
        f"name: bench\npolicy: policy.yaml\ndataset: {ROOT / 'examples/omni-one/dataset.yaml'}\n"
        f"platform_url: {url}\nstore_url: sqlite:///{tmp / 'store.db'}\n")

    fill(url, args.rows)
    Engine.from_config_file(tmp / "pledge.yaml", Settings()).store.dispose()  # migrate the store once
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=pledge_sweep, args=(str(tmp / "pledge.yaml"), args.batch_size, queue))
    child.start()
    got = queue.get()
    child.join()
    pledge_s, swept, peak_mb = got["seconds"], got["rows"], got["peak_mb"]

    fill(url, args.rows)
    eng = create_engine(url)
    start, cpu = time.perf_counter(), os.times()
    with eng.begin() as conn:
        bulk = conn.execute(text("DELETE FROM messages WHERE created_at < :cut"),
                            {"cut": (REFERENCE - timedelta(days=30)).replace(tzinfo=None).isoformat(sep=" ")
                             if args.engine == "sqlite" else REFERENCE - timedelta(days=30)}).rowcount
    bulk_s = time.perf_counter() - start
    cpu_after = os.times()
    bulk_cpu = cpu_after.user + cpu_after.system - cpu.user - cpu.system
    eng.dispose()
    pledge_rate, bulk_rate = swept / pledge_s, bulk / bulk_s
    print(f"engine {args.engine}: {args.rows} expired messages")
    print(f"pledge sweep : {swept} rows in {pledge_s:.2f} s = {pledge_rate:,.0f} rows/s "
          f"({got['batches']} batches, {got['intents']} ledger intent(s), {got['audits']} audit entries; "
          f"CPU {got['cpu']:.1f} s)")
    print(f"bulk DELETE  : {bulk} rows in {bulk_s:.2f} s = {bulk_rate:,.0f} rows/s"
          + (f" (CPU {bulk_cpu:.1f} s)" if args.engine == "sqlite" else ""))
    print(f"ratio        : {pledge_rate / bulk_rate:.2f} (target >= 0.7)")
    print(f"peak memory  : {peak_mb:.0f} MB (target < 300 MB)")
    if args.engine == "postgresql":
        admin = create_engine(PG, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)"))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
