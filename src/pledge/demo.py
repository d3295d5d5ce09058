"""The one-command demo: an example platform on SQLite, made once, then served."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

from pledge.engine import Engine


def platform_exists(engine: Engine) -> bool:
    db = engine.dataset.databases[0].name
    return bool(inspect(engine.platform_engine(db)).get_table_names())


def prepare_demo(config: Path, users: int = 10_000) -> Engine:
    """Build the engine; generate the platform on first start only."""
    from pledge.platforms import create_platform

    engine = Engine.from_config_file(config)
    if not platform_exists(engine):
        name = engine.config.platform or engine.config.name
        create_platform(name, engine.config.platform_url, users=users)
    _ = engine.store  # migrations run now, not on the first request
    return engine
