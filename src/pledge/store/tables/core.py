"""Core store tables: the audit log, the erasure ledger and job checkpoints."""

from sqlalchemy import JSON, Column, DateTime, Integer, String, Table, Text

from pledge.store.tables.meta import metadata

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(100), nullable=False, index=True),
    Column("target", String(200), nullable=False, default=""),
    Column("details", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

#: One row: the hash of the newest audit entry, so truncation of the tail is detected.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("last_id", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)

erasure_ledger = Table(
    "erasure_ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    #: keyed HMAC of each identity value, never the value itself
    Column("subject_keys", JSON, nullable=False),
    Column("source", String(40), nullable=False),  # request | retention | breach
    Column("reference", String(200), nullable=False, default=""),
    Column("scope", JSON, nullable=False),
    Column("status", String(20), nullable=False, default="intent"),  # intent | done
    Column("done_at", DateTime(timezone=True), nullable=True),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
