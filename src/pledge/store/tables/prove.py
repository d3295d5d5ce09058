"""Proof runs (``pledge.prove``): what each run of ``pledge prove`` found, for the history.

A run keeps its summary (counts per status) and its findings: promise keys, counts and
keyed examples, never personal data (see :mod:`pledge.prove.findings`).
"""

from sqlalchemy import JSON, Column, DateTime, Integer, String, Table

from pledge.store.tables.meta import metadata

prove_runs = Table(
    "prove_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("config", String(200), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("outcome", String(12), nullable=False),  # kept | broken
    Column("summary", JSON, nullable=False),
    Column("findings", JSON, nullable=False),
)
