"""What the browser tests share: Debian chromium through Playwright, and the app served by
uvicorn in a thread on a free loopback port.

Playwright's own browser download cannot work here, so chromium is launched from
``/usr/bin/chromium``. Without it a test skips, except under CI=true, where it fails.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from pledge.devmail import free_port
from tests.services import in_ci

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"


def playwright_api() -> Any:
    """``playwright.sync_api``, or skip (fail under CI) when chromium or Playwright is missing."""
    if not CHROMIUM.exists():
        msg = "/usr/bin/chromium is absent (make browser-deps installs it)"
        if in_ci():
            pytest.fail(msg + "; CI needs it")
        pytest.skip(msg)
    return pytest.importorskip("playwright.sync_api")


@contextmanager
def launch_chromium() -> Iterator[Any]:
    """A headless chromium browser, closed on exit."""
    sync_api = playwright_api()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def serving(app: Any, port: int | None = None, *, timeout: float = 20) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread; yields its base URL and stops it on exit."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def keep_shot(target: Path) -> None:
    """Copy a screenshot to artifacts/screenshots for people to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(target, SHOTS / target.name)
