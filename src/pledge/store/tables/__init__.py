"""Every table of Pledge's own store.

Each feature owns one module here; this package imports them all so that
``metadata`` is complete for Alembic and for the model/migration agreement test.
"""

from pledge.store.tables import consent, core, notify, reports, rights
from pledge.store.tables import retention
from pledge.store.tables import breach
from pledge.store.tables import admin, requests
from pledge.store.tables import console
from pledge.store.tables.meta import metadata

__all__ = ["breach", "admin", "console", "requests", "consent", "core", "metadata", "notify", "reports", "retention", "rights"]
