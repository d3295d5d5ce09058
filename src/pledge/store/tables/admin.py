"""Admin console users and API keys for machine clients (``pledge.admins``).

Passwords are argon2 hashes; TOTP secrets are Fernet tokens; API keys are stored as
SHA-256 hashes of the whole key, found by their public prefix.
"""

from sqlalchemy import JSON, Column, DateTime, Integer, LargeBinary, String, Table

from pledge.store.tables.meta import metadata

admin_users = Table(
    "admin_users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("totp_enc", LargeBinary, nullable=False),
    #: the last TOTP time step accepted, so one code never logs in twice
    Column("totp_last_step", Integer, nullable=True),
    Column("role", String(20), nullable=False),  # owner | privacy_officer | viewer
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_login_at", DateTime(timezone=True), nullable=True),
    Column("disabled_at", DateTime(timezone=True), nullable=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("prefix", String(20), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)
