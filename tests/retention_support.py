"""Helpers for the retention tests: a deployment on a fresh platform, engine-neutral reads."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine as SAEngine

from pledge.engine import Engine
from pledge.platforms import REFERENCE, create_platform
from pledge.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def write_config(tmp: Path, platform: str, url: str) -> Path:
    """A config for the example's policy and data map on ``url``. The data map is copied beside
    it: its blob stores are folders relative to the data map's file, and the example's own
    folder holds what ``make demo`` uploaded, which is no test's data."""
    cfg = tmp / f"{platform}.yaml"
    dataset = tmp / f"{platform}-dataset.yaml"
    dataset.write_bytes((EXAMPLES / platform / "dataset.yaml").read_bytes())
    cfg.write_text(
        f"name: {platform}\nplatform: {platform}\n"
        f"policy: {EXAMPLES / platform / 'policy.yaml'}\ndataset: {dataset}\n"
        f"platform_url: {url}\nstore_url: sqlite:///{tmp / (platform + '-store.db')}\n",
        encoding="utf-8")
    return cfg


def deployment(tmp: Path, platform: str, url: str, users: int = 120, now: datetime | None = None,
               seed: int = 3, boundary: bool = False) -> Engine:
    """A generated platform and an engine whose clock stands at ``now``; ``boundary`` adds the
    platform's rows just inside and just outside every retention cutoff at ``now``."""
    create_platform(platform, url, users=users, seed=seed, progress=False,
                    boundary=(now or REFERENCE) if boundary else None)
    moment = now or REFERENCE
    return Engine.from_config_file(write_config(tmp, platform, url), Settings(), clock=lambda: moment)


def naive(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    moment: datetime = value
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def rows(eng: SAEngine, sql: str) -> list[tuple[Any, ...]]:
    with eng.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]
