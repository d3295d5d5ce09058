"""A deployment's keys: four separate purposes, each a list that can rotate (newest first).

- ``signing``: signed links and tokens (status links, sessions, unsubscribe, exports,
  platform-token secret, erasure certificates). Verification accepts any listed key.
- ``subject``: keyed HMACs that stand for a person in the store (the erasure ledger,
  consent, holds, request lookups). Lookups try every listed key.
- ``audit``: the keyed audit chain and the Ed25519 key that signs its checkpoints.
- ``encryption``: Fernet keys for identities, exports and TOTP secrets at rest.

Nothing in the source is ever used as a key. Keys come from the environment
(``PLEDGE_SECRET_KEY``, ``PLEDGE_SUBJECT_KEY``, ``PLEDGE_AUDIT_KEY``,
``PLEDGE_ENCRYPTION_KEYS``; comma separated, newest first) or from the deployment's key
file, ``<config dir>/.pledge/keys.json`` (mode 0600), which ``pledge keys init`` and
``pledge demo`` write with fresh random keys. An environment variable wins over the file
for its purpose. With neither, :func:`load_keyring` raises :class:`KeysMissing` with the
command that makes them.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet

from pledge.errors import NotConfigured

if TYPE_CHECKING:
    from pledge.settings import Settings

__all__ = ["PURPOSES", "KeysMissing", "Keyring", "generate_keyring", "keys_file_for", "load_keyring",
           "keyring_env", "new_key", "read_keys_file", "rotate_keys_file", "write_keys_file"]

#: purpose → the settings field (and ``PLEDGE_`` variable) that may give it
PURPOSES: dict[str, str] = {
    "signing": "secret_key",
    "subject": "subject_key",
    "audit": "audit_key",
    "encryption": "encryption_keys",
}
MIN_SECRET_CHARS = 32


class KeysMissing(NotConfigured):
    """The deployment has no keys (or unusable ones); the message says how to make them."""


@dataclass(frozen=True)
class Keyring:
    signing: tuple[str, ...]
    subject: tuple[str, ...]
    audit: tuple[str, ...]
    encryption: tuple[str, ...]
    source: str = ""

    @property
    def secret(self) -> str:
        """The newest signing key (what new signatures use)."""
        return self.signing[0]

    @property
    def signers(self) -> list[str]:
        """The signing keys as itsdangerous wants them: oldest first, so that it signs with
        the newest (last) and verifies with any."""
        return list(reversed(self.signing))

    @property
    def subject_secret(self) -> str:
        """The newest subject key (what new keyed HMACs of people use)."""
        return self.subject[0]

    @property
    def audit_secret(self) -> str:
        return self.audit[0]


def _split(value: str) -> tuple[str, ...]:
    return tuple(k.strip() for k in value.split(",") if k.strip())


def new_key(purpose: str) -> str:
    """One fresh random key for ``purpose``."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown key purpose {purpose!r}; one of {', '.join(PURPOSES)}")
    return Fernet.generate_key().decode() if purpose == "encryption" else secrets.token_urlsafe(48)


def generate_keyring() -> dict[str, str]:
    """Fresh random keys for every purpose, as the key file stores them."""
    return {purpose: new_key(purpose) for purpose in PURPOSES}


def keyring_env(keys: dict[str, str] | None = None) -> dict[str, str]:
    """``PLEDGE_*`` environment variables that give every purpose (fresh keys by default):
    for processes that get their keys from the environment (tests, benchmarks)."""
    keys = keys or generate_keyring()
    return {f"PLEDGE_{field.upper()}": keys[purpose] for purpose, field in PURPOSES.items()}


def keys_file_for(state_dir: Path, settings: Settings | None = None) -> Path:
    if settings is not None and settings.keys_file is not None:
        return Path(settings.keys_file)
    return state_dir / "keys.json"


def write_keys_file(path: Path, keys: dict[str, str] | None = None) -> Path:
    """Write a key file readable by its owner only (0600); refuses to overwrite one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(keys or generate_keyring(), indent=2) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(data)
    return path


def read_keys_file(path: Path) -> dict[str, str]:
    """A key file's purposes → keys (comma separated, newest first); refuses a file that
    other users can read."""
    mode = path.stat().st_mode
    if mode & 0o077:
        raise KeysMissing(f"{path} can be read by other users (mode {oct(mode & 0o777)}); "
                          f"run `chmod 600 {path}`")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise KeysMissing(f"{path}: not a readable key file ({exc})") from exc
    if not isinstance(raw, dict):
        raise KeysMissing(f"{path}: expected a JSON object of purpose → keys")
    return {str(k): str(v) for k, v in raw.items()}


def rotate_keys_file(path: Path, purpose: str) -> int:
    """Put a fresh key for ``purpose`` in front of the file's keys (the older ones stay, to
    verify and decrypt what they made); returns how many keys the purpose now has. The
    file is replaced atomically and stays 0600."""
    keys = read_keys_file(path)
    fresh = new_key(purpose)
    keys[purpose] = ",".join([fresh, *_split(keys.get(purpose, ""))])
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(keys, indent=2) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return len(_split(keys[purpose]))


def _how(path: Path) -> str:
    return (f"make them with `pledge keys init -c <pledge.yaml>` (writes {path}, mode 0600), or set "
            "PLEDGE_SECRET_KEY, PLEDGE_SUBJECT_KEY and PLEDGE_AUDIT_KEY (each at least "
            f"{MIN_SECRET_CHARS} random characters, e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))'`) and PLEDGE_ENCRYPTION_KEYS (Fernet keys: `python -c "
            "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)")


def load_keyring(settings: Settings, state_dir: Path) -> Keyring:
    """The keys for one deployment: the environment first, then its key file."""
    path = keys_file_for(state_dir, settings)
    from_file: dict[str, str] = {}
    if path.exists():
        from_file = read_keys_file(path)
    found: dict[str, tuple[str, ...]] = {}
    missing: list[str] = []
    sources: set[str] = set()
    for purpose, field in PURPOSES.items():
        secret = getattr(settings, field)
        value = secret.get_secret_value() if secret is not None else ""
        if value.strip():
            found[purpose] = _split(value)
            sources.add("environment")
        elif from_file.get(purpose, "").strip():
            found[purpose] = _split(from_file[purpose])
            sources.add(str(path))
        else:
            missing.append(f"PLEDGE_{field.upper()}")
    if missing:
        raise KeysMissing(f"no keys for this deployment ({', '.join(missing)} unset and no usable {path}); "
                          + _how(path))
    for purpose in ("signing", "subject", "audit"):
        short = [k for k in found[purpose] if len(k) < MIN_SECRET_CHARS]
        if short:
            raise KeysMissing(f"the {purpose} key is shorter than {MIN_SECRET_CHARS} characters; " + _how(path))
    for key in found["encryption"]:
        try:
            Fernet(key.encode())
        except ValueError as exc:
            raise KeysMissing(f"PLEDGE_ENCRYPTION_KEYS holds a key that is not a Fernet key ({exc}); "
                              + _how(path)) from exc
    return Keyring(signing=found["signing"], subject=found["subject"], audit=found["audit"],
                   encryption=found["encryption"], source=" + ".join(sorted(sources)))
