"""Admin console sessions and CSRF tokens.

- **Sessions are server-side.** The cookie holds a random token signed with the
  deployment's signing key (itsdangerous; older signing keys still verify); the store keeps only its SHA-256 with the user, a
  per-session CSRF secret, an absolute expiry and an idle expiry. Logging out or
  expiring revokes the row, so a copied cookie stops working at once.
- **CSRF.** Every POST of the console carries the session's CSRF secret in a hidden
  field. Forms shown before there is a session (the login form, the privacy centre)
  use a signed double-submit token: a random value in a cookie and the same value,
  signed, in the form.

Time comes from ``engine.now()``, so tests move the clock to expire sessions.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import insert, select, update

from pledge.context import Context
from pledge.store.tables.console import admin_sessions

__all__ = ["COOKIE", "FORM_COOKIE", "ConsoleSession", "SessionPolicy", "end_session", "form_token",
           "form_token_ok", "load_session", "start_session"]

COOKIE = "pledge_admin"
FORM_COOKIE = "pledge_form"


@dataclass(frozen=True)
class SessionPolicy:
    """How long a console session lives: at most ``lifetime``, and ``idle`` without use."""

    lifetime: timedelta = timedelta(hours=8)
    idle: timedelta = timedelta(minutes=30)


@dataclass(frozen=True)
class ConsoleSession:
    id: int
    user_id: int
    csrf: str
    expires_at: datetime


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _signer(engine: Context, salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(engine.keys.signers, salt=salt)  # signs with the newest key, verifies with any


def start_session(engine: Context, user_id: int, policy: SessionPolicy | None = None) -> str:
    """Create a session row; returns the signed cookie value."""
    policy = policy or SessionPolicy()
    token = secrets.token_urlsafe(32)
    now = engine.now()
    with engine.store.begin() as conn:
        conn.execute(insert(admin_sessions).values(
            token_hash=_digest(token), user_id=user_id, csrf=secrets.token_urlsafe(32),
            created_at=now, expires_at=now + policy.lifetime, last_seen_at=now,
        ))
    return str(_signer(engine, "admin-session").dumps(token))


def load_session(engine: Context, cookie: str | None, policy: SessionPolicy | None = None) -> ConsoleSession | None:
    """The live session behind a cookie, or None (unsigned, unknown, revoked or expired).

    A live session's idle clock restarts; an expired one is revoked.
    """
    if not cookie:
        return None
    policy = policy or SessionPolicy()
    try:
        token = _signer(engine, "admin-session").loads(cookie)
    except BadSignature:
        return None
    if not isinstance(token, str):
        return None
    now = engine.now()
    with engine.store.begin() as conn:
        row = conn.execute(select(admin_sessions).where(admin_sessions.c.token_hash == _digest(token))).first()
        if row is None or row.revoked_at is not None:
            return None
        if now >= _aware(row.expires_at) or now - _aware(row.last_seen_at) >= policy.idle:
            conn.execute(update(admin_sessions).where(admin_sessions.c.id == row.id).values(revoked_at=now))
            return None
        conn.execute(update(admin_sessions).where(admin_sessions.c.id == row.id).values(last_seen_at=now))
    return ConsoleSession(row.id, row.user_id, row.csrf, _aware(row.expires_at))


def end_session(engine: Context, session_id: int) -> None:
    with engine.store.begin() as conn:
        conn.execute(update(admin_sessions).where(admin_sessions.c.id == session_id)
                     .values(revoked_at=engine.now()))


def csrf_ok(session: ConsoleSession, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(session.csrf, str(submitted))


# -- forms without a session: signed double-submit --------------------------------------------
def new_form_secret() -> str:
    return secrets.token_urlsafe(24)


def form_token(engine: Context, cookie_secret: str) -> str:
    """The form field that matches a ``FORM_COOKIE`` value."""
    return str(_signer(engine, "form-csrf").dumps(cookie_secret))


def form_token_ok(engine: Context, cookie_secret: str | None, submitted: str | None) -> bool:
    if not cookie_secret or not submitted:
        return False
    try:
        value = _signer(engine, "form-csrf").loads(submitted)
    except BadSignature:
        return False
    return isinstance(value, str) and hmac.compare_digest(value, cookie_secret)
