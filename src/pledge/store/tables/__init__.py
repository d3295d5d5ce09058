"""Every table of Pledge's own store.

Each feature owns one module here; this package imports them all so that
``metadata`` is complete for Alembic and for the model/migration agreement test.
A new feature adds its module name to ``TABLE_MODULES``.
"""

import importlib

from pledge.store.tables.meta import metadata

TABLE_MODULES = (
    "core",
    "rights",
    "consent",
    "notify",
    "reports",
    "retention",
    "requests",
    "admin",
    "console",
    "breach",
    "jobs",
    "signin",
    "ratelimit",
    "prove",
    "outbox",
    "blobs",
)

for _name in TABLE_MODULES:
    importlib.import_module(f"pledge.store.tables.{_name}")

__all__ = ["TABLE_MODULES", "metadata"]
