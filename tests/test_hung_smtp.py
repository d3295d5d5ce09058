"""Issue #14: one slow dependency must not stall every visitor.

An SMTP relay that accepts connections and never answers is configured while a person
submits a request in the privacy centre. Meanwhile another client keeps asking for
``GET /privacy`` and ``GET /admin/login`` at a steady pace (open loop: a request leaves
every few milliseconds whether or not the last one came back, so a stalled server shows
as many slow answers, not as one). Every answer comes within 200 ms at the 99th
percentile, and the submission itself does not wait on the relay. Then the relay recovers
(a real SMTP server on the same port) and the request's emails arrive, each exactly once.

The app is served by uvicorn with its lifespan, so the mail goes out the way it does in
production: queued in the outbox and sent by the app's background sender.
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from pledge.devmail import DevMail, free_port
from pledge.engine import Engine
from pledge.settings import Settings, load_config
from pledge.store.tables.outbox import outbox
from tests.services import DeadRelay
from tests.web_support import csrf_of, make_platform, people

PLEDGE = str(Path(sys.executable).with_name("pledge"))

#: how often the visitor asks for a page, and for how long at least
PACE_S = 0.02
P99_LIMIT_S = 0.200
MAIL_TIMEOUT_S = 2.0
ATTEMPTS = 3


@contextmanager
def pledge_serve(cfg: Path, tmp: Path, **settings: Any) -> Iterator[str]:
    """``pledge serve`` in its own process (uvicorn, with the app's lifespan and so its mail
    sender), ``PLEDGE_*`` settings from the environment; stopped by its PID at the end."""
    port = free_port()
    env = {**os.environ, **{f"PLEDGE_{k.upper()}": str(v) for k, v in settings.items()}}
    log = tmp / "serve.log"
    proc = subprocess.Popen([PLEDGE, "serve", "-c", str(cfg), "--port", str(port)], env=env,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "pledge serve did not start in 60 s"
            try:
                if httpx.get(f"{base}/privacy", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


class Visitor:
    """Asks for the two pages at a fixed pace from a pool of threads; records each latency."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=60, limits=httpx.Limits(max_connections=200))
        self.pool = ThreadPoolExecutor(max_workers=200)
        self.samples: list[tuple[str, float, int, float]] = []  # path, seconds, status, when
        self.began = time.perf_counter()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.pending: list[Future[None]] = []
        self.thread = threading.Thread(target=self._pace, daemon=True)

    def _get(self, path: str) -> None:
        start = time.perf_counter()
        res = self.http.get(path, headers={"Accept": "text/html"})
        took = time.perf_counter() - start
        with self.lock:
            self.samples.append((path, took, res.status_code, start - self.began))

    def _pace(self) -> None:
        n = 0
        nxt = time.perf_counter()
        while not self.stop.is_set():
            self.pending.append(self.pool.submit(self._get, ("/privacy", "/admin/login")[n % 2]))
            n += 1
            nxt += PACE_S
            time.sleep(max(0.0, nxt - time.perf_counter()))

    def __enter__(self) -> Visitor:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        for f in self.pending:
            f.result(timeout=120)
        self.pool.shutdown()
        self.http.close()



def wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.05)


@dataclass
class Window:
    """One measurement: a person submits while the relay hangs; the visitor's page loads."""

    samples: list[tuple[str, float, int, float]]
    submit_s: float
    submitted_at: float

    @property
    def p99(self) -> float:
        took = sorted(t for _, t, _, _ in self.samples)
        return took[max(0, math.ceil(0.99 * len(took)) - 1)]

    @property
    def ok(self) -> bool:
        return self.p99 < P99_LIMIT_S and self.submit_s < 1.0

    def __str__(self) -> str:
        worst = max(t for _, t, _, _ in self.samples)
        slow = [f"{when:.2f}s:{took * 1000:.0f}ms" for _, took, _, when in self.samples if took >= P99_LIMIT_S]
        return (f"{len(self.samples)} page loads: p99 {self.p99 * 1000:.0f} ms, max {worst * 1000:.0f} ms; "
                f"the submission (at {self.submitted_at:.2f} s) answered in {self.submit_s * 1000:.0f} ms"
                + (f"; slow loads at {', '.join(slow[:12])}" if slow else ""))


def measure(base: str, email: str, relay: DeadRelay) -> Window:
    """Visit at a steady pace while ``email`` submits a request and the app's sender sits in
    the hung relay for longer than a whole attempt."""
    # the person's client first: making one loads TLS settings, a burst of this process's CPU
    with httpx.Client(base_url=base, timeout=120) as person, Visitor(base) as visitor:
        time.sleep(0.5)
        page = person.get("/privacy")
        reached = relay.accepted
        began = time.perf_counter()
        at = began - visitor.began
        res = person.post("/privacy/requests", data={"csrf": csrf_of(page.text), "kind": "access", "email": email},
                          follow_redirects=False)
        submit_s = time.perf_counter() - began
        assert res.status_code == 303, res.text
        wait_for(lambda: relay.accepted > reached, 10, "the sender to reach the relay")
        time.sleep(MAIL_TIMEOUT_S * 2 + 1)  # it waits there for a greeting that never comes
    assert len(visitor.samples) >= 50
    assert all(code == 200 for _, _, code, _ in visitor.samples)
    return Window(sorted(visitor.samples, key=lambda x: x[3]), submit_s, at)


def test_a_hung_relay_stalls_no_page_and_the_mail_goes_once_it_recovers(tmp_path: Path) -> None:
    cfg = make_platform(tmp_path / "omni-one", users=20)
    first, *emails = people(cfg, 1 + ATTEMPTS)
    relay = DeadRelay()
    mail: dict[str, Any] = {"environment": "test", "mail_mode": "outbox", "smtp_host": "127.0.0.1",
                            "smtp_port": relay.port, "mail_timeout": MAIL_TIMEOUT_S, "mail_retry_after": 0.5,
                            "mail_poll": 0.2}
    # the test's own view of the store (it sends nothing: no sender runs here)
    settings = Settings(**mail)
    engine = Engine(load_config(cfg, settings), settings)
    _ = engine.store
    sink: DevMail | None = None
    try:
        with pledge_serve(cfg, tmp_path, **mail) as base:
            with httpx.Client(base_url=base, timeout=60) as warm:
                # the first renders compile templates and catalogues, and the first request
                # imports what requests need: a process warming up, not the loop stalling
                for _ in range(3):
                    assert all(warm.get(p).status_code == 200 for p in ("/privacy", "/admin/login"))
                res = warm.post("/privacy/requests", data={"csrf": csrf_of(warm.get("/privacy").text),
                                                           "kind": "access", "email": first},
                                 follow_redirects=True)
                assert res.status_code == 200 and "/verify" in str(res.url), res.text
            # A window that misses the mark is measured again with a new person, at most
            # ATTEMPTS times: on a machine other work starves, one CPU burst can push a few
            # loads past the limit. A stalled event loop fails every window (seconds, not ms).
            windows: list[Window] = []
            for email in emails:
                windows.append(measure(base, email, relay))
                print(f"\nwhile the relay hung: {windows[-1]}")
                if windows[-1].ok:
                    break
            assert windows[-1].ok, "every window missed: " + "; ".join(map(str, windows))
            asked = [first, *emails[:len(windows)]]
            rows = engine.outbox.rows()
            assert len(rows) == 2 * len(asked) and all(r["status"] in ("queued", "sending") for r in rows), rows
            assert any(r["attempts"] >= 1 and r["last_error"] for r in rows), rows

            # the relay recovers: a real SMTP server answers on the same address
            relay.close()
            sink = DevMail("127.0.0.1", relay.port).start()
            recovered = time.monotonic()

            def codes() -> list[Any]:
                assert sink is not None
                return [m for m in sink.messages() if "verification code" in m.subject]

            wait_for(lambda: len(codes()) >= len(asked), 60, "the code emails after the relay recovered")
            print(f"code emails delivered {time.monotonic() - recovered:.1f} s after the relay recovered")
            wait_for(lambda: all(r["status"] == "sent" for r in engine.outbox.rows()), 60, "every message sent")
            time.sleep(1.5)  # a second copy would come now, if any could
            for email in asked:
                mine = [m for m in sink.messages() if email.lower() in (r.lower() for r in m.recipients)]
                kinds = Counter("code" if "verification code" in m.subject else "receipt" for m in mine)
                assert kinds == {"code": 1, "receipt": 1}, (email, [m.subject for m in mine])
                [code] = [m for m in mine if "verification code" in m.subject]
                assert re.search(r"^\s*[0-9A-Z]{4}-[0-9A-Z]{4}\s*$", code.body, re.M)
            with engine.store.connect() as conn:
                left = conn.execute(select(outbox.c.id).where(outbox.c.message.is_not(None))).all()
            assert left == []  # sent: the encrypted copies are gone
    finally:
        relay.close()
        if sink is not None:
            sink.stop()
        engine.close()
