"""Pending blob deletions (``pledge.rights.blob_erasure``): the durable intents that delete
files after the rows they belong to are gone.

A row is written ``planned`` before the SQL work starts (the row's key, filled from the row
while it could still be read), becomes ``pending`` once the row is confirmed absent from the
platform's database, and ``gone`` when the store confirms the deletion; then its key and row
key are cleared, so the table keeps counts, not names. ``key_hash`` (SHA-256 of store and key)
makes an intent unique per reference without indexing 1,024-byte keys.
"""

from sqlalchemy import JSON, Boolean, Column, DateTime, Integer, String, Table, Text, UniqueConstraint

from pledge.store.tables.meta import metadata

blob_deletions = Table(
    "blob_deletions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    #: what asked: request:<id>, retention:<run>, replay:<ledger id>, ...
    Column("reference", String(200), nullable=False, index=True),
    Column("store", String(100), nullable=False),
    Column("key_hash", String(64), nullable=False),
    Column("blob_key", Text, nullable=False),
    #: the key names a prefix: every blob under it goes
    Column("is_prefix", Boolean, nullable=False, default=False),
    Column("collection", String(200), nullable=False),
    Column("row_key", JSON, nullable=False),
    Column("status", String(20), nullable=False, index=True),  # planned | pending | gone | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("reference", "key_hash", name="uq_blob_deletions_reference"),
)
