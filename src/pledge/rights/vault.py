"""Encryption at rest for request identities, exports and TOTP secrets.

``Vault(settings)`` wraps a :class:`cryptography.fernet.MultiFernet` built from
``settings.encryption_keys`` (comma separated Fernet keys, **newest first**): new data is
encrypted with the first key, and data under any listed key still decrypts, so keys rotate
by putting a new key in front and running :meth:`Vault.rotate` on old tokens. When no
key is set, development and test deployments use a key derived from ``secret_key``
(HKDF-SHA256); production refuses to start without one.

``lookup_key(kind, value)`` is the keyed HMAC used to find records by identity without
storing the identity (the same token as the erasure ledger's ``subject_key``).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pledge.retention.ledger import subject_key
from pledge.settings import Settings

__all__ = ["DecryptionError", "Vault", "derived_key"]


class DecryptionError(ValueError):
    """A token that none of the configured keys opens (wrong key, or tampered)."""


def derived_key(secret: str, purpose: bytes = b"pledge encryption at rest v1") -> bytes:
    """A Fernet key derived from the deployment secret (development only)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"pledge", info=purpose).derive(secret.encode())
    return base64.urlsafe_b64encode(raw)


class Vault:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        keys = [k.strip() for k in settings.encryption_keys.split(",") if k.strip()]
        if not keys:
            if settings.environment == "production":
                raise RuntimeError("PLEDGE_ENCRYPTION_KEYS is empty; production needs at least one Fernet key "
                                   "(make one with: python -c 'from cryptography.fernet import Fernet; "
                                   "print(Fernet.generate_key().decode())')")
            keys = [derived_key(settings.secret_key).decode()]
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        except ValueError as exc:
            raise RuntimeError(f"PLEDGE_ENCRYPTION_KEYS holds a key that is not a Fernet key: {exc}") from exc

    # -- bytes ------------------------------------------------------------------------------
    def encrypt(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken as exc:
            raise DecryptionError("cannot decrypt: no configured key opens this token") from exc

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt ``token`` under the newest key."""
        try:
            return self._fernet.rotate(token)
        except InvalidToken as exc:
            raise DecryptionError("cannot rotate: no configured key opens this token") from exc

    # -- JSON -------------------------------------------------------------------------------
    def seal(self, value: Any) -> bytes:
        return self.encrypt(json.dumps(value, sort_keys=True, ensure_ascii=False).encode("utf-8"))

    def open(self, token: bytes) -> Any:
        return json.loads(self.decrypt(bytes(token)).decode("utf-8"))

    # -- lookups ----------------------------------------------------------------------------
    def lookup_key(self, kind: str, value: str) -> str:
        return subject_key(self.settings.secret_key, kind, value)
