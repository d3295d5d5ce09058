"""``pledge db``: the store's schema. Migrations run here, once, under a lock.

Servers and workers in production only check the schema at start (``check_store``) and
refuse, naming this command, when it is behind; elsewhere the engine upgrades its own store
on first use under the same lock (pledge.store)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from pledge.cli import app
from pledge.cli.common import ConfigOpt, console, err_console, fail
from pledge.context import Context
from pledge.settings import ConfigError, Settings, default_config_path, load_config
from pledge.store import LOCK_TIMEOUT_S, MigrationLockTimeout, SchemaOutOfDate, Store, offline_sql

db_app = typer.Typer(help="The store's schema: upgrade it (once, under a lock), show it, check it.",
                     no_args_is_help=True)
app.add_typer(db_app, name="db")

UrlOpt = Annotated[str | None, typer.Option("--url", help="The store's URL instead of the config's "
                                                          "(default: the config's store_url or PLEDGE_DATABASE_URL).")]


def upgrade_command(config: Path | None) -> str:
    return f"pledge db upgrade -c {config or default_config_path()}"


def check_store(engine: Context, config: Path | None) -> None:
    """At the start of a server or a worker: the store, current (upgraded first outside
    production), or exit 1 with what to run."""
    try:
        _ = engine.store
    except SchemaOutOfDate as exc:
        fail(exc.explain(upgrade_command(config)), code=1)
    except MigrationLockTimeout as exc:
        fail(str(exc), code=1)


def _store_url(config: Path | None, url: str | None) -> str:
    if url:
        return url
    if config is None and not default_config_path().exists() and os.environ.get("PLEDGE_DATABASE_URL"):
        return os.environ["PLEDGE_DATABASE_URL"]
    try:
        return load_config(config or default_config_path(), Settings()).store_url
    except ConfigError as exc:
        fail(str(exc))


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _open(config: Path | None, url: str | None) -> Store:
    return Store(_store_url(config, url), auto_upgrade=False)


@db_app.command("upgrade")
def upgrade(
    config: ConfigOpt = None,
    url: UrlOpt = None,
    sql: Annotated[bool, typer.Option("--sql", help="Print the SQL of every migration (from an empty store) for "
                                                    "the URL's database, without connecting: for a DBA.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for another process's migration.")]
    = LOCK_TIMEOUT_S,
) -> None:
    """Bring the store's schema up to this Pledge, once, under a lock; safe to run again.

    The lock (a PostgreSQL advisory lock, MariaDB GET_LOCK, a lock file on SQLite) lets one
    process migrate while others wait and then find nothing to do."""
    target = _store_url(config, url)
    if sql:
        offline_sql(target, sys.stdout)
        return
    store = Store(target, auto_upgrade=False)
    try:
        applied = store.upgrade(timeout=timeout, on_wait=lambda: err_console.print(
            "waiting: another process is migrating this store"))
    except (SchemaOutOfDate, MigrationLockTimeout) as exc:
        fail(str(exc), code=1)
    finally:
        store.dispose()
    where = _shown(target)
    if applied:
        console.print(f"upgraded {where}: applied {len(applied)} revision(s): {', '.join(applied)}",
                      highlight=False)
    else:
        console.print(f"{where} is current: nothing to apply", highlight=False)


@db_app.command("current")
def current(config: ConfigOpt = None, url: UrlOpt = None) -> None:
    """Show the store's revisions and whether it is current."""
    store = _open(config, url)
    try:
        at = store.current_heads()
    finally:
        store.dispose()
    needed = Store.heads()
    console.print(f"store   {_shown(store.url)}", highlight=False)
    console.print(f"at      {', '.join(at) or 'nothing (no Pledge tables yet)'}", highlight=False)
    missing = [r for r in needed if r not in at]
    console.print("current" if at == needed else f"behind  needs {', '.join(missing) or '(see pledge db check)'}",
                  highlight=False)


@db_app.command("check")
def check(config: ConfigOpt = None, url: UrlOpt = None) -> None:
    """Exit 0 when the store's schema is current, 1 (saying what to run) when it is not."""
    store = _open(config, url)
    try:
        store.check_current()
    except SchemaOutOfDate as exc:
        fail(exc.explain(upgrade_command(config) if not url else f"pledge db upgrade --url {url}"), code=1)
    finally:
        store.dispose()
    console.print(f"{_shown(store.url)} is current ({len(Store.heads())} feature heads)", highlight=False)
