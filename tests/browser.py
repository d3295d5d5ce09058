"""What the browser tests share: Debian chromium through Playwright, and the app served by
uvicorn in a thread on a free loopback port.

Playwright's own browser download cannot work here, so chromium is launched from
``/usr/bin/chromium``. Without it a test skips, except under CI=true, where it fails.

A pytest plugin (``tests/conftest.py`` lists it): the ``chromium`` fixture is one browser for
the whole session (each test opens its own contexts, which are cheap); :func:`shoot` takes a
screenshot of the whole page only where the page is taller than the window.
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


#: the session's one Playwright and chromium, started on first use (Playwright's sync API
#: cannot run two at once in a thread, so every test shares this one)
_SHARED: dict[str, Any] = {}


def _shared_browser() -> Any:
    if "browser" not in _SHARED:
        sync_api = playwright_api()
        playwright = sync_api.sync_playwright().start()
        _SHARED["playwright"] = playwright
        _SHARED["browser"] = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
    return _SHARED["browser"]


def close_shared_browser() -> None:
    if "browser" in _SHARED:
        _SHARED.pop("browser").close()
        _SHARED.pop("playwright").stop()


@contextmanager
def launch_chromium() -> Iterator[Any]:
    """The session's headless chromium (started on first use, closed when the session ends);
    a test makes its own contexts in it and closes them."""
    yield _shared_browser()


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


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One headless chromium for the session; a test makes its own contexts and closes them."""
    yield _shared_browser()


@pytest.fixture(scope="session", autouse=True)
def _close_chromium_at_the_end() -> Iterator[None]:
    yield
    close_shared_browser()


def shoot(page: Any, target: Path, *, min_bytes: int = 3000) -> Path:
    """Save a PNG of ``page``: the whole page where it scrolls, else just the window (the same
    picture, taken faster)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    taller = page.evaluate("document.documentElement.scrollHeight > window.innerHeight + 1")
    page.screenshot(path=str(target), full_page=bool(taller))
    assert target.stat().st_size > min_bytes, target
    return target


def keep_shot(target: Path) -> None:
    """Copy a screenshot to artifacts/screenshots for people to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(target, SHOTS / target.name)
