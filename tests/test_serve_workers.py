"""``pledge serve --workers N`` and the ASGI factory it runs on, as real processes."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pledge.devmail import free_port
from tests.browser import serving
from tests.requests_support import deployment

PLEDGE = Path(sys.executable).with_name("pledge")


@pytest.mark.slow
def test_serve_with_two_workers_answers_and_sums_their_metrics(tmp_path: Path) -> None:
    cfg = deployment(tmp_path, users=10)
    port = free_port()
    env = {**os.environ, "PLEDGE_LOG_FORMAT": "json", "PLEDGE_RETENTION_SWEEP": "86400"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    err = tmp_path / "stderr.log"
    with open(err, "wb") as stderr:
        proc = subprocess.Popen([str(PLEDGE), "serve", "-c", str(cfg), "--port", str(port), "--workers", "2"],
                                env=env, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, err.read_text()
            assert time.monotonic() < deadline, "no answer on /healthz: " + err.read_text()[-2000:]
            time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=10) as http:
            for _ in range(20):  # new connections: both workers get some
                assert httpx.get(base + "/healthz", timeout=10).status_code == 200
            assert http.get("/readyz").json()["status"] == "ready"
            assert http.get("/v1/consent/config").status_code == 200
            metrics = http.get("/metrics").text
        healthz = [line for line in metrics.splitlines()
                   if line.startswith('pledge_http_requests_total{method="GET",route="/healthz",status="200"}')]
        assert healthz and float(healthz[0].rsplit(" ", 1)[1]) >= 21  # every worker's count, summed
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and its workers: the session this test started
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    lines = [json.loads(line) for line in err.read_text().splitlines() if line.startswith("{")]
    served = [line for line in lines if line.get("logger") == "pledge.web.request" and line.get("route") == "/v1/consent/config"]
    assert served and served[0]["request_id"], "one JSON line per request, with its id"
    pids = {line["pid"] for line in lines if line.get("msg", "").startswith("another worker")}
    assert len(pids) == 1, "one worker sweeps; the other knows it does not"
    sweeps = [line for line in lines if line.get("event") == "sweep.start"]
    assert len(sweeps) <= 1 and all(line["pid"] not in pids for line in sweeps if "pid" in line)


def test_the_factory_builds_the_app_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pledge.web.asgi import app_factory

    cfg = deployment(tmp_path, users=5)
    monkeypatch.setenv("PLEDGE_CONFIG", str(cfg))
    monkeypatch.setenv("PLEDGE_ENVIRONMENT", "test")
    monkeypatch.setenv("PLEDGE_RETENTION_SWEEP", "3600")
    touched = [logging.getLogger(n) for n in ("", "uvicorn", "uvicorn.error", "uvicorn.access")]
    saved = [(lg, lg.level, list(lg.handlers), lg.propagate) for lg in touched]
    apps = []
    try:
        first = app_factory()
        apps.append(first)
        assert first.state.scheduler_lock is not None and os.environ["PLEDGE_RETENTION_SWEEP"] == "3600"
        second = app_factory()  # another worker on the same host
        apps.append(second)
        assert second.state.scheduler_lock is None and os.environ["PLEDGE_RETENTION_SWEEP"] == "off"
        assert logging.getLogger("uvicorn.access").level == logging.WARNING  # query strings stay out
        with serving(second) as url:
            assert httpx.get(url + "/healthz").json()["platform"] == first.state.engine.config.name
            assert httpx.get(url + "/readyz").status_code == 200
    finally:
        for app in apps:
            if app.state.scheduler_lock is not None:
                app.state.scheduler_lock.close()
            app.state.engine.close()
        for lg, level, handlers, propagate in saved:
            lg.setLevel(level)
            lg.handlers[:] = handlers
            lg.propagate = propagate
