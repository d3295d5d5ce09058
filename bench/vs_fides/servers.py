"""The bench's own throwaway servers: PostgreSQL and Redis on spare 127.0.0.1 ports.

Each server is started as a child process and stopped by its PID (never by name).
PostgreSQL refuses to run as root, so when the bench runs as root the data directory
is handed to the ``postgres`` system user and the server runs as that user.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg


def spare_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for root in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (root / name).exists():
            return str(root / name)
    raise SystemExit(f"{name} not found: install PostgreSQL (apt-get install postgresql)")


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


def _wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout:.0f} s")


@dataclass
class Servers:
    """PostgreSQL and Redis for one bench run; ``stop()`` ends both by PID."""

    workdir: Path
    pg_port: int = 0
    redis_port: int = 0
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _pgdata: Path | None = None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._start_postgres()
        self._start_redis()

    def _start_postgres(self) -> None:
        self._pgdata = Path(tempfile.mkdtemp(prefix="pgdata-", dir="/tmp"))
        if os.geteuid() == 0:
            shutil.chown(self._pgdata, "postgres", "postgres")
        subprocess.run(_as_postgres([_pg_bin("initdb"), "-D", str(self._pgdata), "-U", "postgres",
                                     "--auth=trust", "-E", "UTF8", "--no-sync"]),
                       check=True, stdout=subprocess.DEVNULL)
        self.pg_port = spare_port()
        log = open(self.workdir / "postgres.log", "wb")  # noqa: SIM115 - lives as long as the server
        self.procs["postgres"] = subprocess.Popen(
            _as_postgres([_pg_bin("postgres"), "-D", str(self._pgdata), "-p", str(self.pg_port),
                          "-h", "127.0.0.1", "-k", str(self._pgdata), "-c", "fsync=off",
                          "-c", "max_connections=200", "-c", "shared_buffers=256MB"]),
            stdout=log, stderr=subprocess.STDOUT)
        _wait_port(self.pg_port, 30, self.procs["postgres"], "postgres")
        for _ in range(50):
            try:
                psycopg.connect(self.dsn("postgres")).close()
                return
            except psycopg.OperationalError:
                time.sleep(0.1)

    def _start_redis(self) -> None:
        self.redis_port = spare_port()
        self.procs["redis"] = subprocess.Popen(
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--requirepass", "benchredis"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.redis_port, 15, self.procs["redis"], "redis")

    @property
    def pg_pid(self) -> int:
        """The PID whose process tree is the PostgreSQL server (``runuser`` when run as root)."""
        return self.procs["postgres"].pid

    def dsn(self, db: str, driver: str = "postgresql") -> str:
        return f"{driver}://postgres@127.0.0.1:{self.pg_port}/{db}"

    def create_db(self, name: str, template: str | None = None) -> None:
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))

    def stop(self) -> None:
        for name in ("redis", "postgres"):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            # postgres runs under runuser: signal the real server (the child) too
            for pid in _children(proc.pid) + [proc.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGINT if name == "postgres" else signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if self._pgdata is not None:
            shutil.rmtree(self._pgdata, ignore_errors=True)
            self._pgdata = None


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(x) for x in path.read_text().split()]
    except OSError:
        return []


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) used so far by process ``root`` and all its descendants,
    those that exited and were waited for included (``cutime``/``cstime``): e.g. the
    PostgreSQL postmaster and every backend, or a server and its workers."""
    stats: dict[int, tuple[int, float]] = {}  # pid -> (parent, cpu seconds)
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after the command: state ppid pgrp ... utime(12) stime(13) cutime(14) cstime(15)
        stats[int(entry)] = (int(fields[1]), sum(int(f) for f in fields[11:15]) / tick)
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += stats[pid][1]
        todo.extend(children.get(pid, []))
    return total
