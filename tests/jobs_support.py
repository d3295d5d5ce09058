"""Helpers for the job tests: twin omni-one platforms on PostgreSQL, real `pledge worker`s."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pledge.engine import Engine, JobsFactory
from pledge.platforms import REFERENCE, create_platform
from pledge.settings import Settings
from tests.erasure_support import snapshot
from tests.services import fresh_database

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PLEDGE = str(Path(sys.executable).with_name("pledge"))
BROKERS = {"redis": "redis://127.0.0.1:6379/0", "rabbitmq": "amqp://guest:guest@127.0.0.1:5672//"}


def write_config(tmp: Path, name: str, platform_url: str, store_url: str) -> Path:
    cfg = tmp / f"{name}.yaml"
    cfg.write_text(f"name: {name}\nplatform: omni-one\npolicy: {EXAMPLES / 'omni-one' / 'policy.yaml'}\n"
                   f"dataset: {EXAMPLES / 'omni-one' / 'dataset.yaml'}\n"
                   f"platform_url: {platform_url}\nstore_url: {store_url}\n", encoding="utf-8")
    return cfg


@dataclass
class Twins:
    """Two identical omni-one platforms: ``inline`` for in-process runs, ``dist`` for tasks."""

    inline: Engine
    dist: Engine
    dist_config: Path
    store_url: str

    def snapshots(self) -> tuple[Any, Any]:
        return snapshot(self.inline.platform_engine("main")), snapshot(self.dist.platform_engine("main"))


@contextmanager
def twins(tmp: Path, users: int = 60, jobs: JobsFactory | None = None) -> Iterator[Twins]:
    """``jobs`` builds the ``dist`` engine's runner (in-process without it), on first use."""
    with ExitStack() as stack:
        a = stack.enter_context(fresh_database("postgresql"))
        b = stack.enter_context(fresh_database("postgresql"))
        store = stack.enter_context(fresh_database("postgresql"))
        for url in (a, b):
            create_platform("omni-one", url, users=users, seed=5, progress=False)
        settings = Settings(environment="test")
        inline = Engine.from_config_file(write_config(tmp, "inline", a, f"sqlite:///{tmp / 'inline-store.db'}"),
                                         settings, clock=lambda: REFERENCE)
        cfg = write_config(tmp, "dist", b, store)
        dist = Engine.from_config_file(cfg, settings, clock=lambda: REFERENCE, jobs=jobs)
        _ = dist.store  # migrated before any worker starts
        try:
            yield Twins(inline, dist, cfg, store)
        finally:
            inline.close()
            dist.close()


def emails(engine: Engine, n: int) -> list[str]:
    with engine.platform_engine("main").connect() as conn:
        from sqlalchemy import text

        return [r[0] for r in conn.execute(text("SELECT email FROM users WHERE status = 'active' "
                                                "ORDER BY id LIMIT :n"), {"n": n})]


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def worker_env(broker: str, queue: str, store_url: str) -> dict[str, str]:
    return {**os.environ, "PLEDGE_BROKER_URL": broker, "PLEDGE_JOBS_QUEUE": queue, "PLEDGE_DATABASE_URL": store_url,
            "PLEDGE_ENVIRONMENT": "test", "PLEDGE_JOBS_LEASE": "3",
            "PLEDGE_JOBS_VISIBILITY": "5", "PLEDGE_JOBS_TIMEOUT": "60"}


@contextmanager
def workers(n: int, config: Path, env: dict[str, str], tmp: Path) -> Iterator[list[Worker]]:
    """``n`` real ``pledge worker`` processes (solo pool), killed by PID at the end."""
    started: list[Worker] = []
    try:
        for i in range(n):
            log = tmp / f"worker-{i}.log"
            proc = subprocess.Popen([PLEDGE, "worker", "-c", str(config), "--pool", "solo", "--loglevel", "info"],
                                    env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                                    start_new_session=True)
            started.append(Worker(proc, log))
        deadline = time.monotonic() + 40
        while not all(b"ready" in w.log.read_bytes() for w in started):
            dead = [w for w in started if w.proc.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(("worker did not start: " + dead[0].log.read_text()[-2000:]) if dead
                                   else "workers not ready in 40 s")
            time.sleep(0.2)
        yield started
    finally:
        for w in started:
            if w.proc.poll() is None:
                os.killpg(w.proc.pid, signal.SIGTERM)
        for w in started:
            try:
                w.proc.wait(15)
            except subprocess.TimeoutExpired:
                w.kill()
