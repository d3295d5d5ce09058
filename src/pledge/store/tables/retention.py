"""Legal holds (``pledge.retention.holds``): rows a retention sweep must not touch.

A hold names a person (``subject_key``: the keyed HMAC of one identity value, see
``pledge.retention.ledger.subject_key``) or a record set (``collection`` = db.collection
plus a ``condition`` or an ``ids`` list). Each has a reason and an expiry.
"""

from sqlalchemy import JSON, Column, DateTime, Integer, String, Table, Text

from pledge.store.tables.meta import metadata

retention_holds = Table(
    "retention_holds",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),  # person | records
    Column("subject_kind", String(40), nullable=True),
    Column("subject_key", String(64), nullable=True, index=True),
    Column("collection", String(200), nullable=True),
    Column("condition", Text, nullable=True),
    Column("ids", JSON, nullable=True),
    Column("reason", Text, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("released_at", DateTime(timezone=True), nullable=True),
)
