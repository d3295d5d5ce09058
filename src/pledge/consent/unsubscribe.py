"""Signed one-click unsubscribe links (RFC 8058) and preference-centre links.

An unsubscribe link carries the person's email, the purpose and a random nonce,
signed with the deployment's secret (itsdangerous). A link works once: its nonce is
written to ``consent_link_uses`` in the same transaction as the withdrawal, so a
second use, even a concurrent one, is refused. A tampered link fails its signature.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from pledge.errors import Forbidden
from pledge.store.tables.consent import consent_link_uses

if TYPE_CHECKING:
    from pledge.context import Context

UNSUBSCRIBE_SALT = "pledge.consent.unsubscribe"
PREFERENCES_SALT = "pledge.consent.preferences"
UNSUBSCRIBE_MAX_AGE = 400 * 86400  # a year of newsletters and then some
PREFERENCES_MAX_AGE = 90 * 86400


class LinkError(Forbidden, ValueError):
    """A link that cannot be used: ``kind`` is tampered, expired or used."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _serializer(engine: Context, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(engine.keys.signers, salt=salt)


def _loads(engine: Context, salt: str, token: str, max_age: int) -> dict[str, Any]:
    try:
        data = _serializer(engine, salt).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise LinkError("expired", "this link has expired; ask for a new one") from exc
    except BadSignature as exc:
        raise LinkError("tampered", "this link is not valid (it was altered or is incomplete)") from exc
    if not isinstance(data, dict) or "e" not in data:
        raise LinkError("tampered", "this link is not valid")
    return data


# -- unsubscribe ------------------------------------------------------------------------
def unsubscribe_token(engine: Context, email: str, purpose: str) -> str:
    engine.consent.check_purpose(purpose)
    payload = {"e": email.strip().lower(), "p": purpose, "n": secrets.token_hex(16)}
    return str(_serializer(engine, UNSUBSCRIBE_SALT).dumps(payload))


def unsubscribe_url(engine: Context, email: str, purpose: str) -> str:
    return f"{engine.settings.base_url.rstrip('/')}/unsubscribe/{unsubscribe_token(engine, email, purpose)}"


def list_unsubscribe_headers(engine: Context, email: str, purpose: str,
                             mailto: str | None = None) -> dict[str, str]:
    """The RFC 8058 header pair for one marketing email to one person.

    ``List-Unsubscribe`` holds the signed HTTPS link (and a mailto when given);
    ``List-Unsubscribe-Post`` tells the mail client that a POST unsubscribes at once.
    """
    links = [f"<{unsubscribe_url(engine, email, purpose)}>"]
    if mailto:
        links.append(f"<mailto:{mailto}?subject={quote('unsubscribe ' + purpose)}>")
    return {"List-Unsubscribe": ", ".join(links), "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def read_unsubscribe(engine: Context, token: str) -> tuple[str, str]:
    """Check a link without using it: (email, purpose)."""
    data = _loads(engine, UNSUBSCRIBE_SALT, token, UNSUBSCRIBE_MAX_AGE)
    return str(data["e"]), str(data.get("p", ""))


def use_unsubscribe(engine: Context, token: str, *, ip: str | None = None,
                    user_agent: str | None = None, channel: str = "email") -> dict[str, Any]:
    """Withdraw consent for the link's purpose; the link is spent in the same transaction."""
    data = _loads(engine, UNSUBSCRIBE_SALT, token, UNSUBSCRIBE_MAX_AGE)
    email, purpose, nonce = str(data["e"]), str(data.get("p", "")), str(data.get("n", ""))
    if not nonce:
        raise LinkError("tampered", "this link is not valid")
    try:
        with engine.store.begin() as conn:
            conn.execute(insert(consent_link_uses).values(nonce=nonce, kind="unsubscribe", used_at=engine.now()))
            engine.consent.record(email, purpose, "withdrawn", method="unsubscribe_link", channel=channel,
                                  ip=ip, user_agent=user_agent, conn=conn)
    except IntegrityError as exc:
        raise LinkError("used", "this link has already been used; you are unsubscribed") from exc
    engine.decisions.invalidate(engine.consent.subject_key(email))
    return {"email": email, "purpose": purpose, "state": "withdrawn"}


# -- the preference centre -------------------------------------------------------------
def preferences_token(engine: Context, email: str) -> str:
    return str(_serializer(engine, PREFERENCES_SALT).dumps({"e": email.strip().lower()}))


def preferences_url(engine: Context, email: str) -> str:
    return f"{engine.settings.base_url.rstrip('/')}/preferences/{preferences_token(engine, email)}"


def read_preferences(engine: Context, token: str) -> str:
    return str(_loads(engine, PREFERENCES_SALT, token, PREFERENCES_MAX_AGE)["e"])
