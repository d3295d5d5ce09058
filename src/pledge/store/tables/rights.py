"""Restriction (Art. 18) and objection (Art. 21) records.

A person is named by ``subject_key``: the keyed HMAC of their email (see
``pledge.retention.ledger.subject_key``), never the address itself. ``purpose`` is a
policy purpose key; NULL on a restriction means every purpose.
"""

from sqlalchemy import Column, DateTime, Integer, String, Table, Text

from pledge.store.tables.meta import metadata

restrictions = Table(
    "restrictions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject_key", String(64), nullable=False, index=True),
    Column("purpose", String(120), nullable=True),
    Column("reason", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("lifted_at", DateTime(timezone=True), nullable=True),
)

objections = Table(
    "objections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject_key", String(64), nullable=False, index=True),
    Column("purpose", String(120), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("withdrawn_at", DateTime(timezone=True), nullable=True),
)
