"""``/readyz`` follows the real services: the store going away and coming back, the schema,
the broker. Nothing is mocked: the store is a throwaway PostgreSQL database that stops
accepting connections (its backends terminated), then accepts them again."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from pledge.health import Readiness
from tests.attacks.support import served
from tests.services import POSTGRES_URL, RABBITMQ_URL, REDIS_URL, require


def _wait_for(http: httpx.Client, status: int, within: float) -> tuple[float, httpx.Response]:
    """Poll /readyz until it answers ``status``; (seconds taken, that answer)."""
    started = time.monotonic()
    while True:
        res = http.get("/readyz")
        took = time.monotonic() - started
        if res.status_code == status:
            return took, res
        if took > within:
            raise AssertionError(f"/readyz still {res.status_code} after {took:.1f} s: {res.text}")
        time.sleep(0.1)


@contextmanager
def _admin() -> Iterator[Callable[[str], None]]:
    eng = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as conn:
            yield lambda sql: conn.execute(text(sql)) and None
    finally:
        eng.dispose()


@pytest.mark.postgres
def test_readyz_turns_unready_when_the_store_goes_down_and_ready_when_it_returns(tmp_path: Path) -> None:
    with served(tmp_path, "postgresql") as target, target.client() as http, _admin() as sql:
        db = make_url(target.store_url).database
        took, res = _wait_for(http, 200, 5)
        assert res.json()["checks"]["store"] == "ok"
        for _ in range(3):  # the pool holds live connections, as in a server that has been busy
            assert http.get("/v1/consent/config").status_code == 200
        try:
            sql(f"ALTER DATABASE {db} ALLOW_CONNECTIONS false")
            sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' "
                "AND pid <> pg_backend_pid()")
            down = time.monotonic()
            took, res = _wait_for(http, 503, 5)
            assert took < 5
            body = res.json()
            assert body["status"] == "unready" and "store" in body["failing"]
            assert body["checks"]["database:main"] == "ok"  # the platform database is elsewhere, and fine
            assert "postgres" not in res.text.lower() and "127.0.0.1" not in res.text  # no URLs, no hosts
            assert http.get("/healthz").status_code == 200  # alive all along
            assert time.monotonic() - down < 5
        finally:
            sql(f"ALTER DATABASE {db} ALLOW_CONNECTIONS true")
        took, res = _wait_for(http, 200, 5)
        assert took < 5 and res.json()["status"] == "ready"
        assert http.post("/v1/requests", json={"kind": "access", "email": "back@example.com"}).status_code == 201


def test_readyz_names_a_store_behind_this_pledge(tmp_path: Path) -> None:
    with served(tmp_path, "sqlite") as target, target.client() as http:
        eng = create_engine(target.store_url)
        try:
            with eng.begin() as conn:
                heads = [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]
                conn.execute(text("DELETE FROM alembic_version WHERE version_num = :v"), {"v": heads[-1]})
            time.sleep(1.1)  # past the 1 s cache
            res = http.get("/readyz")
            assert res.status_code == 503 and res.json()["checks"]["store"] == "schema behind"
            with eng.begin() as conn:
                conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": heads[-1]})
            _wait_for(http, 200, 3)
        finally:
            eng.dispose()


@pytest.mark.redis
def test_readyz_checks_the_broker(tmp_path: Path) -> None:
    url = make_url(REDIS_URL)
    require("redis", url.host or "127.0.0.1", url.port or 6379)
    with served(tmp_path, "sqlite", broker_url=REDIS_URL) as target, target.client() as http:
        res = http.get("/readyz")
        assert res.status_code == 200 and res.json()["checks"]["broker"] == "ok"
        assert 'pledge_job_queue_depth{queue="pledge"}' in http.get("/metrics").text


@pytest.mark.rabbitmq
def test_a_broker_that_never_answers_fails_its_check_in_time(tmp_path: Path) -> None:
    """A port that accepts connections and says nothing: the check gives up after 2 s."""
    url = make_url(RABBITMQ_URL)
    require("rabbitmq", url.host or "127.0.0.1", url.port or 5672)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    try:
        with served(tmp_path, "sqlite", broker_url=f"amqp://guest:guest@127.0.0.1:{port}//") as target:
            probe = Readiness(target.engine, timeout=1.0, cache=0.0)
            started = time.monotonic()
            report = probe.report()
            assert time.monotonic() - started < 2.0
            assert not report.ready and report.failing == ["broker"]
            assert dict((c.name, c.detail) for c in report.checks)["broker"] in ("timeout", "OperationalError",
                                                                                  "TimeoutError", "timeout")
            again = probe.report()  # the stuck check is not started twice
            assert again.failing == ["broker"]
    finally:
        silent.close()


def test_readiness_is_cached_for_a_second(tmp_path: Path) -> None:
    with served(tmp_path, "sqlite") as target:
        probe = Readiness(target.engine)
        first = probe.report()
        assert probe.report() is first
        time.sleep(1.05)
        assert probe.report() is not first
