"""Attack: exhaust the server's memory with huge request bodies.

Before the fix any route read whatever it was sent: a 50 MB JSON body to
``POST /v1/requests`` was read and parsed whole. Now every route refuses a body over
``max_body_bytes`` (1 MiB) with 413: at once when the length is announced, and after
the first MiB when it is streamed (chunked) without one. The server stays up.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.attacks.support import Target, served

MB = 1024 * 1024
HUGE = 50 * MB


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Target]:
    with served(tmp_path) as t:
        yield t


def huge_json() -> bytes:
    return b'{"kind": "access", "email": "a@example.org", "params": {"details": "' + b"a" * HUGE + b'"}}'


def alive(target: Target) -> None:
    with target.client() as http:
        assert http.get("/healthz").status_code == 200
        assert http.get("/privacy").status_code == 200


def test_a_50_mb_json_body_is_refused_quickly(target: Target) -> None:
    with target.client() as http:
        began = time.perf_counter()
        res = http.post("/v1/requests", content=huge_json(), headers={"Content-Type": "application/json"})
        took = time.perf_counter() - began
    assert res.status_code == 413, res.text[:300]
    assert "larger than 1048576 bytes" in res.json()["detail"]
    assert took < 10, took
    assert target.store_rows("SELECT id FROM requests") == []
    alive(target)


def test_a_50_mb_form_is_refused(target: Target) -> None:
    with target.client() as http:
        page = http.get("/privacy")
        csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        res = http.post("/privacy/requests", data={"csrf": csrf, "kind": "access", "email": "a@example.org",
                                                   "details": "a" * HUGE})
        assert res.status_code == 413, res.text[:300]
        login = http.post("/admin/login", data={"email": "x@example.org", "password": "p" * HUGE})
        assert login.status_code == 413
    alive(target)


def test_a_streamed_body_without_a_length_is_cut_off(target: Target) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"kind": "access", "email": "a@example.org", "params": {"details": "'
        for _ in range(50):
            sent += MB
            yield b"a" * MB
        yield b'"}}'

    with target.client() as http:
        res = http.post("/v1/requests", content=chunks(), headers={"Content-Type": "application/json"})
        assert "content-length" not in res.request.headers and res.request.headers["transfer-encoding"] == "chunked"
    assert res.status_code == 413, res.text[:300]
    assert "larger than" in res.json()["detail"]
    assert target.store_rows("SELECT id FROM requests") == []
    alive(target)


def test_bodies_under_the_limit_still_work(target: Target) -> None:
    with target.client() as http:
        res = http.post("/v1/requests", json={"kind": "access", "email": "someone@example.org"})
        assert res.status_code == 201, res.text


def test_the_limit_is_a_setting(tmp_path: Path) -> None:
    with served(tmp_path, max_body_bytes=2048) as target, target.client() as http:
        res = http.post("/v1/requests", content=b"x" * 4096, headers={"Content-Type": "application/json"})
        assert res.status_code == 413
        assert http.post("/v1/requests", json={"kind": "access", "email": "b@example.org"}).status_code == 201


def test_raw_http_without_length_stops_reading(target: Target) -> None:
    """Over one raw connection: the server answers 413 long before a slow sender finishes."""
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(target.url)
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=20) as sock:
        sock.sendall(b"POST /v1/requests HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"a" * 65536
        answer = b""
        try:
            for _ in range(64):  # 4 MiB at most; the limit is 1 MiB
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sock.settimeout(0.01)
                with contextlib.suppress(TimeoutError):
                    answer += sock.recv(65536)
                sock.settimeout(20)
                if answer:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed the connection after its answer
        if not answer:
            answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    alive(target)
    assert httpx.get(target.url + "/healthz").status_code == 200
