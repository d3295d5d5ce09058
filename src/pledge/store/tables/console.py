"""Admin console sessions (``pledge.web.sessions``).

The browser holds only a signed random token; the row holds its SHA-256, the user,
the CSRF secret of the session, and both expiries (absolute and idle).
"""

from sqlalchemy import Column, DateTime, Integer, String, Table

from pledge.store.tables.meta import metadata

admin_sessions = Table(
    "admin_sessions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", Integer, nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)
