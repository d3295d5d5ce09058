"""Alembic environment: runs on the connection that Store hands it."""

from alembic import context

from pledge.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - Pledge always passes a connection
    raise RuntimeError("run migrations through pledge.store.Store.migrate()")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
