"""Failed admin sign-ins, counted per account and per client address (``pledge.signin_throttle``).

One row per ``(scope, name)``: scope ``account`` (name: the email as typed, lower-cased)
or ``address`` (name: the client's IP address). ``failures`` is raised by one atomic
upsert per attempt; ``blocked_until`` is when the next attempt may be checked again.
"""

from sqlalchemy import Column, DateTime, Integer, String, Table

from pledge.store.tables.meta import metadata

signin_failures = Table(
    "signin_failures",
    metadata,
    Column("scope", String(10), primary_key=True),  # account | address
    Column("name", String(320), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failed_at", DateTime(timezone=True), nullable=True),
    Column("blocked_until", DateTime(timezone=True), nullable=True),
)
