"""Operations: structured logs without personal data, request ids, /healthz, /metrics, tracing.

The log test plays a whole data-subject request over real HTTP (create, verify with the
emailed code, approve with an officer's key, download) plus the consent calls a platform
makes, with logging configured as ``pledge serve`` configures it, and then looks for the
person's email address and name (read from the platform database) in everything logged.
"""

from __future__ import annotations

import io
import json
import logging
import re
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi import FastAPI

from pledge import logs
from pledge.retention import sweep
from pledge.web import tracing
from tests.attacks.support import Target, served
from tests.obs_support import captured_logs
from tests.requests_support import START, Clock

SRC = Path(__file__).resolve().parents[1] / "src" / "pledge"


def _person(target: Target) -> dict[str, str]:
    return target.platform_rows("SELECT email, name FROM users WHERE status = 'active' AND name IS NOT NULL "
                                "ORDER BY id LIMIT 1")[0]


def _key(target: Target, *scopes: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {target.engine.admins.create_api_key('test', list(scopes))}"}


# -- logs --------------------------------------------------------------------------------------
def test_a_full_request_flow_logs_no_email_and_no_name(tmp_path: Path) -> None:
    with served(tmp_path, "sqlite") as target, target.client() as http, captured_logs() as cap:
        person = _person(target)
        email, name = person["email"], person["name"]
        officer = _key(target, "requests:read", "requests:approve", "exports:read")
        platform = _key(target, "decisions:read", "consent:write", "activity:write")

        made = http.post("/v1/requests", json={"kind": "access", "email": email})
        assert made.status_code == 201, made.text
        rid = made.json()["request"]["id"]
        verified = http.post(f"/v1/requests/{rid}/verify", json={"code": target.code_for(email)})
        assert verified.status_code == 200, verified.text
        token = verified.json()["status_token"]
        approved = http.post(f"/v1/requests/{rid}/approve", headers={**officer, "X-Request-ID": "flow-approve-1"})
        assert approved.status_code == 200, approved.text
        status = http.get(f"/v1/requests/{rid}", params={"token": token})
        link = status.json()["download_url"]
        assert link, status.json()
        package = http.get(link)
        assert package.status_code == 200
        inside = zipfile.ZipFile(io.BytesIO(package.content))
        assert any(email.lower() in inside.read(n).decode("utf-8", "replace").lower() for n in inside.namelist())

        assert http.post("/v1/consent", headers=platform, json={"subject": email, "purpose": "marketing_email",
                                                                  "state": "given"}).status_code == 200
        assert http.get("/v1/decisions", headers=platform,
                        params={"subject": email, "purpose": "service"}).status_code == 200
        assert http.post("/v1/activity", headers=platform, json={"email": email}).status_code == 200
        http.get(f"/v1/requests/{rid}?token=not-a-token")  # a refused token in a query string

    everything = cap.text().lower()
    for secret in (email.lower(), quote(email.lower(), safe=""), name.lower()):
        assert secret not in everything, f"{secret!r} was logged"
    assert token.lower() not in everything and "not-a-token" not in everything  # query strings are never logged

    requests_logged = [line for line in cap.lines if line["logger"] == "pledge.web.request"]
    routes = {(line["method"], line["route"], line["status"]) for line in requests_logged}
    assert ("POST", "/v1/requests", 201) in routes
    assert ("GET", "/v1/requests/{request_id}/download", 200) in routes
    assert all(re.fullmatch(r"[0-9a-f]{32}|flow-approve-1", line["request_id"]) for line in requests_logged)
    jobs = [line for line in cap.lines if line["logger"] == "pledge.jobs" and line.get("request_id") == "flow-approve-1"]
    assert {line["event"] for line in jobs} >= {"job.start", "job.done"}, "the request's job logs under its request id"
    done = next(line for line in jobs if line["event"] == "job.done" and line["job"] == "requests.execute")
    approve = next(line for line in requests_logged if line["request_id"] == "flow-approve-1")
    # the run took real time, inside the HTTP request that carried it out in-process
    assert done["state"] == "completed" and 0 < done["duration_ms"] <= approve["duration_ms"]


def test_request_ids_come_back_and_bad_ones_are_replaced(tmp_path: Path) -> None:
    with served(tmp_path, "sqlite") as target, target.client() as http:
        assert http.get("/healthz", headers={"X-Request-ID": "lb-42.a_b"}).headers["x-request-id"] == "lb-42.a_b"
        for bad in ("has space", "x" * 65, "ünïcode", "a\tb"):
            got = http.get("/healthz", headers={"X-Request-ID": bad.encode("utf-8")}).headers["x-request-id"]
            assert re.fullmatch(r"[0-9a-f]{32}", got), got
        assert http.get("/no-such-page").headers["x-request-id"]


def test_the_redaction_guard_masks_emails_and_key_secrets() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.Redact())
    lg = logging.getLogger("pledge.test.redact")
    lg.addHandler(handler)
    lg.setLevel(logging.INFO)
    lg.propagate = False
    try:
        with logs.bind(request_id="r1"):
            lg.info("mail for %s failed", "Ada.Lovelace@Example.COM",
                    extra={"to": ["bob@example.org"], "url": "/x?subject=eve%40example.net"})
            try:
                raise ValueError("no account for zed@example.com, key plk_0a1b2c_SECRETsecret-123")
            except ValueError:
                lg.exception("lookup failed")
    finally:
        lg.removeHandler(handler)
    text = out.getvalue()
    for secret in ("lovelace", "bob@", "eve%40", "zed@", "SECRETsecret"):
        assert secret.lower() not in text.lower(), secret
    first = json.loads(text.splitlines()[0])
    assert first["msg"] == "mail for [email] failed" and first["request_id"] == "r1" and first["to"] == ["[email]"]
    assert "plk_0a1b2c_" in text  # the key's prefix names it; only the secret is masked


def test_formats_follow_the_terminal_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    try:
        for stream, fmt, want in ((io.StringIO(), None, logs.JsonFormatter), (Tty(), None, logs.TextFormatter),
                                  (Tty(), "json", logs.JsonFormatter), (io.StringIO(), "text", logs.TextFormatter)):
            monkeypatch.delenv("PLEDGE_LOG_FORMAT", raising=False)
            if fmt:
                monkeypatch.setenv("PLEDGE_LOG_FORMAT", fmt)
            handler = logs.configure(stream=stream)
            assert isinstance(handler.formatter, want)
            assert [h for h in root.handlers if h.get_name() == "pledge"] == [handler]  # replaced, never added twice
        assert logging.getLogger("sqlalchemy").level == logging.WARNING  # statements carry parameters
        with pytest.raises(ValueError, match="PLEDGE_LOG_FORMAT"):
            logs.configure(fmt="xml")
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]


def test_activity_logs_start_end_and_failure() -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    lg = logging.getLogger("pledge.test.activity")
    lg.addHandler(Keep())
    lg.setLevel(logging.INFO)
    with logs.activity(lg, "job", job="x") as counts:
        counts["rows"] = 3
    with pytest.raises(KeyError), logs.activity(lg, "job", job="y"):
        raise KeyError("boom")
    events = [(r.event, getattr(r, "rows", None)) for r in records]  # type: ignore[attr-defined]
    assert events == [("job.start", None), ("job.done", 3), ("job.start", None), ("job.failed", None)]


def test_no_thread_locals_in_the_source() -> None:
    """Context (request ids) lives in contextvars: thread-locals lose it across await and threads."""
    found = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if "threading.local" in p.read_text(encoding="utf-8")
             or re.search(r"from threading import .*\blocal\b", p.read_text(encoding="utf-8"))]
    assert found == []


# -- health and metrics ------------------------------------------------------------------------------
def test_healthz_and_readyz_answer(tmp_path: Path) -> None:
    with served(tmp_path, "sqlite") as target, target.client() as http:
        assert http.get("/healthz").json() == {"status": "ok", "platform": "omni-one"}
        ready = http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "checks": {"store": "ok", "database:main": "ok"}}


SERIES = ("pledge_requests{", "pledge_requests_overdue{", "pledge_sweep_rows_total", "pledge_sweeps_total{",
          "pledge_decision_latency_seconds_bucket{", "pledge_job_queue_depth{", "pledge_http_requests_total{",
          "pledge_store_up")


def _value(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " ") or line.startswith(series + "{") and line.split(" ")[0] == series:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{series} not in the metrics")


def test_metrics_expose_the_listed_series(tmp_path: Path) -> None:
    clock = Clock(START)
    with served(tmp_path, "sqlite", clock=clock) as target, target.client() as http:
        person = _person(target)
        platform = _key(target, "decisions:read")
        assert http.post("/v1/requests", json={"kind": "erasure", "email": person["email"]}).status_code == 201
        assert http.get("/v1/decisions", headers=platform,
                        params={"subject": person["email"], "purpose": "service"}).status_code == 200
        clock.advance(days=60)  # past the due date, still unverified: overdue
        report = sweep.run(target.engine, clock.now)
        text = http.get("/metrics").text
        for series in SERIES:
            assert series in text, series
        assert _value(text, 'pledge_requests{kind="erasure",state="verifying"}') == 1
        assert _value(text, 'pledge_requests_overdue{kind="erasure"}') == 1
        assert _value(text, 'pledge_requests_overdue{kind="access"}') == 0
        assert _value(text, 'pledge_decision_latency_seconds_count{endpoint="single"}') == 1
        assert _value(text, 'pledge_sweeps_total{status="done"}') == 1
        assert _value(text, "pledge_sweep_rows_total") == report["total_rows"]
        assert _value(text, 'pledge_job_queue_depth{queue="in-process"}') == 0
        assert 'route="/v1/requests",status="201"' in text
        assert "subject=" not in text and person["email"] not in text
        sweep.run(target.engine, clock.now)  # a second sweep counts once more
        assert _value(http.get("/metrics").text, 'pledge_sweeps_total{status="done"}') == 2


def test_metrics_need_loopback_or_the_metrics_scope(tmp_path: Path) -> None:
    with served(tmp_path, "sqlite") as target, target.client() as http:
        assert http.get("/metrics").status_code == 200  # the host itself
        proxied = {"X-Forwarded-For": "203.0.113.9"}
        assert http.get("/metrics", headers=proxied).status_code == 401  # through a proxy: not local
        assert http.get("/metrics", headers={**proxied, **_key(target, "decisions:read")}).status_code == 403
        allowed = http.get("/metrics", headers={**proxied, **_key(target, "metrics:read")})
        assert allowed.status_code == 200 and "pledge_store_up 1.0" in allowed.text


def test_each_app_has_its_own_registry(tmp_path: Path) -> None:
    with served(tmp_path / "a", "sqlite") as one, served(tmp_path / "b", "sqlite") as two, \
            one.client() as a, two.client() as b:
        for _ in range(3):
            a.get("/healthz")
        assert _value(a.get("/metrics").text, 'pledge_http_requests_total{method="GET",route="/healthz",status="200"}') == 3
        assert 'route="/healthz"' not in b.get("/metrics").text


# -- tracing ----------------------------------------------------------------------------------------
def test_tracing_is_optional(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("PLEDGE_OTEL", raising=False)
    assert tracing.install(FastAPI()) is False
    monkeypatch.setenv("PLEDGE_OTEL", "1")
    try:
        import opentelemetry.instrumentation.fastapi  # noqa: F401
    except ImportError:
        with caplog.at_level(logging.WARNING, "pledge.web.tracing"):
            assert tracing.install(FastAPI()) is False  # absent: one warning, no error
        assert "not installed" in caplog.text
    with served(tmp_path, "sqlite") as target, target.client() as http:  # the app starts either way
        assert http.get("/healthz").status_code == 200
