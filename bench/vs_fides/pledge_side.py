"""Pledge, driven through its JSON API (``/v1/requests``), on the same shop database.

``pledge serve`` runs as a child process on a spare port with its store on the bench's
PostgreSQL. Requests are made with an API key and a platform sign-in token (the path a
platform takes for a signed-in user), so they wait for approval exactly like the Fides
ones; the timed part is ``POST /v1/requests/{id}/approve`` until the request is
``completed``. Access rows are read back from the downloaded package's ``data.json``.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
from servers import spare_port

from pledge.keys import keyring_env

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
# fresh random keys for this run (nothing in the source is a key); `pledge serve` inherits them
for _var, _value in keyring_env().items():
    os.environ.setdefault(_var, _value)


class Pledge:
    def __init__(self, work: Path, platform_dsn: str, store_dsn: str) -> None:
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        self.config = work / "pledge.yaml"
        self.config.write_text(
            f"name: bench-shop\npolicy: {HERE / 'policy.yaml'}\ndataset: {HERE / 'dataset.yml'}\n"
            f"platform_url: {platform_dsn}\nstore_url: {store_dsn}\n")
        self.env = {**os.environ, "PLEDGE_ENVIRONMENT": "development",
                    "PLEDGE_SMTP_PORT": "9"}
        for var in ("PLEDGE_DATABASE_URL", "PLEDGE_PLATFORM_URL", "PLEDGE_BROKER_URL"):
            self.env.pop(var, None)
        self.port = spare_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(timeout=120)
        self.platform_secret = ""

    def _engine(self) -> Any:
        from pledge.engine import Engine
        from pledge.settings import Settings

        return Engine.from_config_file(self.config, Settings(environment="development"))

    def start(self, timeout: float = 60) -> float:
        engine = self._engine()
        try:
            _ = engine.store  # migrations
            key = engine.admins.create_api_key("bench", ["requests:write", "requests:read", "requests:approve",
                                                         "exports:read"], actor="bench")
            self.platform_secret = engine.requests.verifier.platform_secret()
        finally:
            engine.close()
        self.http.headers["Authorization"] = f"Bearer {key}"
        log = open(self.work / "pledge.log", "wb")  # noqa: SIM115 - lives as long as the server
        t0 = time.monotonic()
        self.proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "pledge"), "serve", "-c", str(self.config),
                                      "--port", str(self.port)], env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pledge serve exited with {self.proc.returncode}; see {self.work}/pledge.log")
            try:
                if self.http.get(f"{self.base}/docs", timeout=2).status_code == 200:
                    return time.monotonic() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"pledge did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None
        self.http.close()

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        r = self.http.request(method, f"{self.base}{path}", **kw)
        if r.status_code >= 400:
            raise RuntimeError(f"pledge {method} {path}: {r.status_code} {r.text[:800]}")
        return r.json()

    def submit(self, email: str, kind: str) -> str:
        token = jwt.encode({"email": email, "aud": "pledge",
                            "exp": int((datetime.now(UTC) + timedelta(minutes=30)).timestamp())},
                           self.platform_secret, algorithm="HS256")
        res = self._call("POST", "/v1/requests", json={"kind": kind, "email": email, "platform_token": token})
        state = res["request"]["state"]
        if state != "awaiting_approval":
            raise RuntimeError(f"pledge request for {kind} is {state}, expected awaiting_approval")
        return str(res["request"]["id"])

    def approve_and_wait(self, request_id: str, timeout: float = 600) -> tuple[float, dict[str, Any]]:
        t0 = time.perf_counter()
        out = self._call("POST", f"/v1/requests/{request_id}/approve")
        while out["state"] not in ("completed", "partially_completed"):
            if time.perf_counter() - t0 > timeout or out["state"] in ("denied", "expired"):
                raise RuntimeError(f"pledge request {request_id} is {out['state']}")
            time.sleep(0.02)
            out = self._call("GET", f"/v1/requests/{request_id}")
        return time.perf_counter() - t0, out

    def access_result(self, status: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        r = self.http.get(f"{self.base}{status['download_url']}")
        r.raise_for_status()
        with zipfile.ZipFile(io.BytesIO(r.content)) as z:
            data = json.loads(z.read("data.json"))
        return {name.split(".", 1)[1]: coll["rows"] for name, coll in data["collections"].items()}
