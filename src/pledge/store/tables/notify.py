"""Email deliveries (``pledge.notify``): one row per message, keyed so a re-run never sends twice.

``recipient_key`` is a keyed HMAC of the address, never the address itself.
"""

from sqlalchemy import Column, DateTime, Integer, String, Table, Text, UniqueConstraint

from pledge.store.tables.meta import metadata

email_deliveries = Table(
    "email_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    #: what the message belongs to, e.g. "campaign:3" or "request:42"
    Column("reference", String(200), nullable=False, index=True),
    Column("recipient_key", String(64), nullable=False),
    Column("template", String(100), nullable=False),
    Column("lang", String(5), nullable=False),
    Column("status", String(20), nullable=False),  # sent | failed
    Column("error", Text, nullable=True),
    Column("message_id", String(200), nullable=True),
    UniqueConstraint("reference", "recipient_key"),
)
