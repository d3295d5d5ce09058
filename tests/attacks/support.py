"""What the attack tests share: a served Pledge over real HTTP, its store on a real engine.

``served(tmp_path, store="postgresql")`` copies a small generated omni-one (or another
example) platform, points Pledge's store at a fresh database of the asked engine, starts
uvicorn on a free loopback port and a real SMTP sink, and yields a :class:`Target`. The
attacker talks to it with ``httpx`` only, like a stranger on the internet would; the
test reads the outcome from the databases directly (never through the code under test).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from pledge.devmail import DevMail
from pledge.engine import Engine
from pledge.platforms import create_platform
from pledge.settings import Settings, load_config
from pledge.web.app import create_app
from tests.browser import serving
from tests.conftest import EXAMPLES
from tests.services import database_url

STORES = ["sqlite", "postgresql", "mariadb"]
_TEMPLATES: dict[tuple[str, int], Path] = {}


def platform_template(root: Path, example: str = "omni-one", users: int = 30) -> Path:
    """A generated example platform, made once per session and copied for each test."""
    key = (example, users)
    if key not in _TEMPLATES or not _TEMPLATES[key].exists():
        dest = root / f"template-{example}-{users}"
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(EXAMPLES / example, dest, ignore=shutil.ignore_patterns("*.db", ".pledge"))
        create_platform(example, f"sqlite:///{dest / 'platform.db'}", users=users, progress=False)
        _TEMPLATES[key] = dest
    return _TEMPLATES[key]


@dataclass
class Target:
    """A served deployment and what a test may look at behind the attacker's back."""

    url: str
    engine: Engine
    sink: DevMail
    cfg: Path
    store_url: str

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)

    def platform_rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        """Rows of the platform database, read with plain SQL."""
        eng = create_engine(f"sqlite:///{self.cfg.parent / 'platform.db'}")
        try:
            with eng.connect() as conn:
                return [dict(r._mapping) for r in conn.execute(text(sql), params)]
        finally:
            eng.dispose()

    def store_rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        """Rows of Pledge's own store, read with plain SQL."""
        eng = create_engine(self.store_url)
        try:
            with eng.connect() as conn:
                return [dict(r._mapping) for r in conn.execute(text(sql), params)]
        finally:
            eng.dispose()

    def mails_to(self, address: str) -> list[str]:
        return [m.body for m in self.sink.messages()
                if address.lower() in (r.lower() for r in m.recipients)]

    def code_for(self, address: str) -> str:
        for body in reversed(self.mails_to(address)):
            found = re.search(r"^\s*([0-9A-Z]{4}-[0-9A-Z]{4}|[0-9A-Z]{6,10})\s*$", body, re.M)
            if found:
                return found.group(1)
        raise AssertionError(f"no code was mailed to {address}")


@contextmanager
def served(tmp_path: Path, store: str = "sqlite", *, example: str = "omni-one", users: int = 30,
           clock: Any = None, **settings: Any) -> Iterator[Target]:
    """Serve a copy of an example over real HTTP with its store on ``store``."""
    template = platform_template(tmp_path.parent / "attack-templates", example, users)
    folder = tmp_path / "site"
    shutil.copytree(template, folder, ignore=shutil.ignore_patterns(".pledge"))
    cfg = folder / "pledge.yaml"
    with ExitStack() as stack:
        store_url = stack.enter_context(database_url(store, tmp_path))
        sink = DevMail("127.0.0.1", 0)
        sink.start()
        stack.callback(sink.stop)
        s = Settings(environment="test", smtp_host="127.0.0.1", smtp_port=sink.port, database_url=store_url,
                     **settings)
        engine = Engine(load_config(cfg, s), s, clock=clock, devmail=sink)
        stack.callback(engine.close)
        _ = engine.store  # migrated before the first request, as `pledge serve` does
        url = stack.enter_context(serving(create_app(engine)))
        yield Target(url, engine, sink, cfg, store_url)
