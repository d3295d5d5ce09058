"""Encryption at rest for request identities, exports and TOTP secrets.

``Vault(keys)`` wraps a :class:`cryptography.fernet.MultiFernet` built from the
deployment's encryption keys (:attr:`pledge.keys.Keyring.encryption`, **newest first**):
new data is encrypted with the first key, and data under any listed key still decrypts,
so keys rotate by putting a new key in front (``pledge keys rotate --purpose encryption``)
and running :meth:`Vault.rotate` on old tokens. There is no fallback: without encryption
keys the engine does not start (:class:`pledge.keys.KeysMissing`).

``lookup_key(kind, value)`` is the keyed HMAC used to find records by identity without
storing the identity (the same token as the erasure ledger's ``subject_key``, under the
newest subject key); ``lookup_keys`` gives it under every subject key, for lookups that
must still find rows written before a subject key rotation.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from pledge.errors import Forbidden
from pledge.keys import Keyring, KeysMissing
from pledge.retention.ledger import subject_key

__all__ = ["DecryptionError", "Vault"]


class DecryptionError(Forbidden, ValueError):
    """A token that none of the configured keys opens (wrong key, or tampered)."""


class Vault:
    def __init__(self, keys: Keyring) -> None:
        self.keys = keys
        if not keys.encryption:
            raise KeysMissing("no encryption keys; run `pledge keys init -c <pledge.yaml>` or set "
                              "PLEDGE_ENCRYPTION_KEYS")
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys.encryption])
        except ValueError as exc:
            raise KeysMissing(f"an encryption key is not a Fernet key: {exc}") from exc

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
        return subject_key(self.keys.subject_secret, kind, value)

    def lookup_keys(self, kind: str, value: str) -> list[str]:
        """``lookup_key`` under every subject key, newest first."""
        return [subject_key(k, kind, value) for k in self.keys.subject]
