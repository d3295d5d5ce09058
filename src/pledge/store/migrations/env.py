"""Alembic environment for Pledge's store.

Three ways in:

* ``Store.upgrade()`` hands over a connection that already holds the migration lock
  (``config.attributes["connection"]``) and collects the revisions it applies;
* the ``alembic`` command line, ``alembic -c src/pledge/store/migrations/alembic.ini
  -x url=URL upgrade heads``: the URL comes from ``-x url=…``, else ``PLEDGE_DATABASE_URL``,
  else the store of the deployment config named by ``-x config=…`` or ``PLEDGE_CONFIG``;
  it takes the same lock as ``pledge db upgrade``;
* offline (``--sql``, ``pledge db upgrade --sql``): prints the SQL for the URL's dialect
  without connecting.
"""

from __future__ import annotations

import os
from logging.config import fileConfig
from typing import Any

from alembic import context

from pledge.store.tables import metadata

config = context.config
if config.config_file_name is not None and "connection" not in config.attributes:
    fileConfig(config.config_file_name, disable_existing_loggers=False)  # the alembic command line


def _url() -> str:
    if "url" in config.attributes:
        return str(config.attributes["url"])
    x = context.get_x_argument(as_dictionary=True)
    url = x.get("url") or os.environ.get("PLEDGE_DATABASE_URL")
    if url:
        return url
    path = x.get("config") or os.environ.get("PLEDGE_CONFIG")
    if path:
        from pledge.settings import load_config

        return load_config(path).store_url
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    raise SystemExit("which store? pass -x url=URL or -x config=pledge.yaml, or set PLEDGE_DATABASE_URL")


def _record(applied: list[str] | None) -> Any:
    if applied is None:
        return ()

    def on_apply(*, step: Any, **_: Any) -> None:
        if step.is_upgrade:
            applied.extend(step.up_revision_ids)

    return (on_apply,)


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True,
                      dialect_opts={"paramstyle": "named"}, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_on(connection: Any) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                      on_version_apply=_record(config.attributes.get("applied")))
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # Store.upgrade(): the lock is already held
        run_on(connection)
        return
    from pledge.store import make_sa_engine, migration_lock

    eng = make_sa_engine(_url())
    try:
        with eng.connect() as conn, migration_lock(conn, on_wait=lambda: print("waiting for the migration lock")):
            run_on(conn)
            if conn.in_transaction():
                conn.commit()
    finally:
        eng.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
