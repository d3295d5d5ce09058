"""Fides, driven only through its REST API: install, configure, start, run requests.

Facts used (from Fides's documentation and its OpenAPI routes): ``fides webserver``
reads ``fides.toml`` from ``FIDES__CONFIG_PATH`` and wants empty ``data/saas/config``,
``data/saas/icon`` and ``data/saas/dataset`` folders in its working directory; the OAuth
root client from the toml gets a token at ``POST /api/v1/oauth/token``; a postgres
connection is ``PATCH /api/v1/connection`` plus ``PUT .../secret``; datasets go to
``PATCH /api/v1/connection/{key}/dataset``; requests are ``POST /api/v1/privacy-request``
and, with ``require_manual_request_approval``, ``PATCH
/api/v1/privacy-request/administrate/approve``. The default policies
``default_access_policy`` and ``default_erasure_policy`` (null rewrite) are used as they
come. Access results land in the local ``fides_uploads`` folder (JSON format set through
``PUT /api/v1/storage/default``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from servers import spare_port

FIDES_NEW = "2.86.2"  # needs Python 3.13
FIDES_OLD = "2.78.2"  # the newest that installs on Python 3.11
ROOT_ID = "benchroot"
ROOT_SECRET = "benchroot-secret-0123456789"
DONE = {"complete", "error", "canceled", "denied"}


def _python313() -> str | None:
    try:
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    found = sorted(Path(root, "versions").glob("3.13*/bin/python"))
    return str(found[-1]) if found else None


def install(work: Path) -> tuple[Path, str]:
    """A venv under ``work`` with ethyca-fides; returns (venv, version installed)."""
    venv = work / "venv"
    py313 = _python313()
    wanted = FIDES_NEW if py313 else FIDES_OLD
    if not (venv / "bin" / "fides").exists():
        base = py313 or (sys.executable if sys.version_info[:2] == (3, 11) else "python3.11")
        print(f"installing ethyca-fides=={wanted} with {base} (a few minutes, once)", flush=True)
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"ethyca-fides=={wanted}"], check=True)
    out = subprocess.run([str(venv / "bin" / "python"), "-c",
                          "import importlib.metadata as m; print(m.version('ethyca-fides'))"],
                         capture_output=True, text=True, check=True).stdout.strip()
    return venv, out


TOML = """\
[database]
server = "127.0.0.1"
port = "{pg_port}"
user = "postgres"
password = "postgres"
db = "fides"

[redis]
host = "127.0.0.1"
port = {redis_port}
password = "benchredis"
db_index = 0

[security]
env = "dev"
app_encryption_key = "benchbenchbenchbenchbenchbench32"
oauth_root_client_id = "{root_id}"
oauth_root_client_secret = "{root_secret}"
request_rate_limit = "100000/minute"
auth_rate_limit = "100000/minute"

[execution]
require_manual_request_approval = true

[celery]
task_always_eager = true

[logging]
level = "WARNING"

[user]
analytics_opt_out = true

[cli]
server_host = "127.0.0.1"
server_port = {port}
analytics_id = "bench"
"""


class Dropped(RuntimeError):
    """A Fides request ended in another state than ``complete`` (at 1,000,000 customers its
    worker sometimes drops one: "stuck without a running task - canceling")."""


class Fides:
    """One running ``fides webserver`` and an authorised client for it."""

    def __init__(self, venv: Path, work: Path, pg_port: int, redis_port: int) -> None:
        self.venv, self.work = venv, work
        self.port = spare_port()
        self.base = f"http://127.0.0.1:{self.port}/api/v1"
        for sub in ("config", "icon", "dataset"):
            (work / "data" / "saas" / sub).mkdir(parents=True, exist_ok=True)
        (work / "fides.toml").write_text(TOML.format(pg_port=pg_port, redis_port=redis_port, port=self.port,
                                                     root_id=ROOT_ID, root_secret=ROOT_SECRET))
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(timeout=120)

    # -- the server -----------------------------------------------------------------------------
    def start(self, timeout: float = 180) -> float:
        env = {**os.environ, "FIDES__CONFIG_PATH": str(self.work / "fides.toml"),
               "FIDES__USER__ANALYTICS_OPT_OUT": "true"}
        log = open(self.work / "fides.log", "wb")  # noqa: SIM115 - lives as long as the server
        t0 = time.monotonic()
        self.proc = subprocess.Popen([str(self.venv / "bin" / "fides"), "webserver", "--port", str(self.port)],
                                     cwd=self.work, env=env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"fides webserver exited with {self.proc.returncode}; see {self.work}/fides.log")
            try:
                if self.http.get(f"{self.base}/../../health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError(f"fides did not answer within {timeout:.0f} s; see {self.work}/fides.log")
        self._login()
        return time.monotonic() - t0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: the server and its children
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None
        self.http.close()

    def _login(self) -> None:
        r = self.http.post(f"{self.base}/oauth/token",
                           data={"client_id": ROOT_ID, "client_secret": ROOT_SECRET,
                                 "grant_type": "client_credentials"})
        r.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        r = self.http.request(method, f"{self.base}{path}", **kw)
        if r.status_code >= 400:
            raise RuntimeError(f"fides {method} {path}: {r.status_code} {r.text[:800]}")
        return r.json() if r.content else None

    # -- configuration ---------------------------------------------------------------------------
    def configure(self, key: str, pg_port: int, dbname: str, datasets: list[dict[str, Any]]) -> None:
        """A postgres connection to ``dbname`` with the given Fides datasets; JSON access results."""
        self._call("PATCH", "/connection", json=[{"name": key, "key": key, "connection_type": "postgres",
                                                  "access": "write"}])
        self._call("PUT", f"/connection/{key}/secret",
                   json={"host": "127.0.0.1", "port": pg_port, "dbname": dbname, "username": "postgres",
                         "password": "postgres"})
        res = self._call("PATCH", f"/connection/{key}/dataset", json=datasets)
        if res.get("failed"):
            raise RuntimeError(f"fides refused the dataset: {json.dumps(res['failed'])[:800]}")
        self._call("PUT", "/storage/default",
                   json={"type": "local", "format": "json", "details": {"naming": "request_id"}})

    # -- requests ----------------------------------------------------------------------------------
    def submit(self, email: str, policy: str) -> str:
        res = self._call("POST", "/privacy-request", json=[{"identity": {"email": email}, "policy_key": policy}])
        if res.get("failed"):
            raise RuntimeError(f"fides refused the request: {json.dumps(res['failed'])[:500]}")
        return str(res["succeeded"][0]["id"])

    def status(self, request_id: str) -> str:
        res = self._call("GET", "/privacy-request", params={"request_id": request_id})
        return str(res["items"][0]["status"])

    def approve_and_wait(self, request_id: str, timeout: float = 600) -> float:
        """Seconds from the approval call to the request's completion (polled every 20 ms)."""
        t0 = time.perf_counter()
        self._call("PATCH", "/privacy-request/administrate/approve", json={"request_ids": [request_id]})
        while True:
            state = self.status(request_id)
            if state in DONE:
                elapsed = time.perf_counter() - t0
                if state != "complete":
                    raise Dropped(f"fides request {request_id} ended {state}; see {self.work}/fides.log")
                return elapsed
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError(f"fides request {request_id} still {state} after {timeout:.0f} s")
            time.sleep(0.02)

    def access_result(self, request_id: str) -> dict[str, list[dict[str, Any]]]:
        """The rows Fides exported, per collection (from its local JSON upload)."""
        found = sorted((self.work / "fides_uploads").glob(f"*{request_id}*"))
        if not found:
            raise RuntimeError(f"no access upload for {request_id} in {self.work}/fides_uploads")
        data = json.loads(found[-1].read_text())
        out: dict[str, list[dict[str, Any]]] = {}
        for key, rows in data.items():
            if ":" in key and isinstance(rows, list):
                out[key.split(":", 1)[1]] = rows
        return out
