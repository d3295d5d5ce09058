"""Job claims (``pledge.tasks``): one row per task id, so at-least-once delivery is safe.

A worker claims a task by moving its row from ``queued`` (or from a ``running`` claim
whose lease has run out: its worker died) to ``running``; the result is written with
``state = done`` in one transaction. A task delivered again finds ``done`` and returns
the stored result without running; one delivered while another worker holds a live
lease is retried later.
"""

from sqlalchemy import JSON, Column, DateTime, Integer, String, Table, Text

from pledge.store.tables.meta import metadata

job_runs = Table(
    "job_runs",
    metadata,
    Column("task_id", String(120), primary_key=True),
    Column("batch", String(80), nullable=False, index=True),
    Column("name", String(80), nullable=False),
    Column("state", String(12), nullable=False),  # queued | running | done | failed
    Column("payload", JSON, nullable=False),
    Column("result", JSON, nullable=True),
    Column("error", Text, nullable=True),
    Column("claimed_by", String(200), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("runs", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
)
