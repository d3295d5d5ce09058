"""The one-command demo: an example platform on SQLite, made once, then served."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

from pledge.engine import Engine


def platform_exists(engine: Engine) -> bool:
    db = engine.dataset.databases[0].name
    return bool(inspect(engine.platform_engine(db)).get_table_names())


def prepare_demo(config: Path, users: int = 10_000, *, mail: bool = True) -> Engine:
    """Build the engine; generate the platform on first start only; start the mail sink."""
    from pledge.platforms import create_platform

    engine = Engine.from_config_file(config)
    if not platform_exists(engine):
        name = engine.config.platform or engine.config.name
        create_platform(name, engine.config.platform_url, users=users)
    _ = engine.store  # migrations run now, not on the first request
    if mail:
        start_mail_sink(engine)
    return engine


def start_mail_sink(engine: Engine) -> None:
    """A local SMTP sink on the settings' SMTP address; its mail is shown at /dev/mail."""
    from pledge.devmail import DevMail

    sink = DevMail(engine.settings.smtp_host, engine.settings.smtp_port)
    try:
        sink.start()
    except (OSError, RuntimeError) as exc:  # the port is taken (another demo, a real server)
        import sys

        print(f"pledge demo: no local mail sink on {sink.host}:{sink.port} ({exc})", file=sys.stderr)
        return
    engine.devmail = sink
