"""Admin console users (argon2 password + TOTP) and scoped API keys for machine clients.

Python API (``engine.admins`` is an :class:`AdminService`)::

    user, uri = engine.admins.create_user("dpo@example.org", "owner", password="…")
    # uri: otpauth://totp/… for the authenticator app (the TOTP secret is stored encrypted)
    user = engine.admins.authenticate("dpo@example.org", "…", "123456")  # AdminUser or None
    user = engine.admins.sign_in("dpo@example.org", "…", "123456", address="203.0.113.9")  # throttled:
    # a signin_throttle.Refusal (nothing checked) while the account or the address must wait
    engine.admins.allowed(user.role, "approve")      # roles → actions, see PERMISSIONS
    key = engine.admins.create_api_key("crm", ["requests:write"])   # shown once: "plk_<prefix>_<secret>"
    api = engine.admins.check_api_key(key, "requests:write")        # ApiKey or None

Roles: ``owner`` (everything, including users), ``privacy_officer`` (work requests:
approve, deny, extend, run, download, open; register, assess and notify breaches
(``breach``); see requesters and rows unmasked (``personal_data``)), ``viewer`` (read
only: it can neither approve nor download, and sees personal data masked). A TOTP code is accepted once (its time step is remembered).
Scopes: ``requests:read``, ``requests:write`` (create and verify on a person's behalf),
``requests:approve`` (approve, deny, extend, run), ``exports:read`` (download),
``decisions:read`` (purpose decisions, single and batch), ``consent:write`` (record a
choice for a person named by email), ``activity:write`` (report a person's activity),
``metrics:read`` (``/metrics`` from outside the host).

A valid key is remembered in-process for ``key_cache_seconds`` (by its SHA-256, with its
scopes), so the decision fast path checks a key with a dict lookup. Revoking a key
through this service clears the memory at once; a key revoked by another process stops
working here within ``key_cache_seconds``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from time import monotonic
from typing import TYPE_CHECKING, Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from pledge.errors import InvalidInput
from pledge.rights.vault import Vault
from pledge.signin_throttle import Refusal, SigninThrottle
from pledge.store.tables.admin import admin_users, api_keys

if TYPE_CHECKING:
    from pledge.audit import AuditLog
    from pledge.context import Clock
    from pledge.keys import Keyring
    from pledge.store import Store

__all__ = ["PERMISSIONS", "ROLES", "SCOPES", "AdminError", "AdminService", "AdminUser", "ApiKey"]

ROLES = ("owner", "privacy_officer", "viewer")
PERMISSIONS: dict[str, frozenset[str]] = {
    "owner": frozenset({"view", "approve", "deny", "extend", "run", "download", "open", "breach", "personal_data",
                        "manage_users"}),
    "privacy_officer": frozenset({"view", "approve", "deny", "extend", "run", "download", "open", "breach",
                                  "personal_data"}),
    "viewer": frozenset({"view"}),
}
SCOPES = ("requests:read", "requests:write", "requests:approve", "exports:read",
          "decisions:read", "consent:write", "activity:write", "metrics:read")
KEY_PREFIX = "plk_"
#: How long a checked key is trusted without reading the store again.
KEY_CACHE_SECONDS = 30.0
KEY_CACHE_SIZE = 1024


class AdminError(InvalidInput):
    """Bad input for users or keys; the message says what would be valid."""


@dataclass(frozen=True)
class AdminUser:
    id: int
    email: str
    role: str
    created_at: datetime
    last_login_at: datetime | None

    def can(self, action: str) -> bool:
        return action in PERMISSIONS.get(self.role, frozenset())


@dataclass(frozen=True)
class ApiKey:
    id: int
    prefix: str
    name: str
    scopes: tuple[str, ...]

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


class AdminService:
    """Console users, their sign-in and API keys. Built by the composition root with the
    store, the audit log, the keys, a clock and the name shown in authenticator apps."""

    def __init__(self, store: Store, audit: AuditLog, keys: Keyring, clock: Clock, *, issuer: str) -> None:
        self.store = store
        self.audit = audit
        self.now = clock
        self.issuer = issuer
        self.vault = Vault(keys)
        self.hasher = PasswordHasher()
        self.key_cache_seconds = KEY_CACHE_SECONDS
        self._keys: dict[str, tuple[ApiKey, float]] = {}  # sha256 of a valid key -> (record, expiry)

    @staticmethod
    def allowed(role: str, action: str) -> bool:
        return action in PERMISSIONS.get(role, frozenset())

    # -- users ------------------------------------------------------------------------------
    def _user(self, row: Any) -> AdminUser:
        return AdminUser(row.id, row.email, row.role, row.created_at, row.last_login_at)

    def create_user(self, email: str, role: str, *, password: str, actor: str = "cli") -> tuple[AdminUser, str]:
        """A new console user; returns it and the TOTP provisioning URI (otpauth://…)."""
        email = email.strip().lower()
        if "@" not in email or email.startswith("@") or email.endswith("@"):
            raise AdminError(f"{email!r} is not an email address")
        if role not in ROLES:
            raise AdminError(f"role {role!r} is not one of: {', '.join(ROLES)}")
        if len(password) < 12:
            raise AdminError("the password needs at least 12 characters")
        secret = pyotp.random_base32()
        now = self.now()
        try:
            with self.store.begin() as conn:
                res = conn.execute(insert(admin_users).values(
                    email=email, password_hash=self.hasher.hash(password), totp_enc=self.vault.seal(secret),
                    role=role, created_at=now))
                uid = int(res.inserted_primary_key[0])  # type: ignore[index]
                self.audit.record("admin.user_created", actor=actor, target=f"admin:{uid}",
                                         details={"role": role}, conn=conn)
        except IntegrityError as exc:
            raise AdminError(f"an admin user {email} already exists") from exc
        uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=f"Pledge ({self.issuer})")
        return self.get_user(uid), uri

    def get_user(self, user_id: int) -> AdminUser:
        with self.store.connect() as conn:
            row = conn.execute(select(admin_users).where(admin_users.c.id == user_id)).first()
        if row is None:
            raise AdminError(f"no admin user {user_id}")
        return self._user(row)

    def users(self) -> list[AdminUser]:
        with self.store.connect() as conn:
            return [self._user(r) for r in conn.execute(select(admin_users).order_by(admin_users.c.id))]

    def totp_secret(self, user_id: int) -> str:
        with self.store.connect() as conn:
            enc = conn.execute(select(admin_users.c.totp_enc).where(admin_users.c.id == user_id)).scalar()
        if enc is None:
            raise AdminError(f"no admin user {user_id}")
        secret: str = self.vault.open(enc)
        return secret

    def check_password(self, email: str, password: str) -> AdminUser | None:
        """The first factor alone (the console asks for the TOTP code on a second screen)."""
        with self.store.connect() as conn:
            row = conn.execute(select(admin_users).where(admin_users.c.email == email.strip().lower())).first()
        if row is None or row.disabled_at is not None:
            self.hasher.hash(password)  # the same work either way, so timing tells nothing
            return None
        try:
            self.hasher.verify(row.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        return self._user(row)

    def check_totp(self, user: AdminUser, code: str) -> bool:
        """The second factor: a current TOTP code, never accepted twice."""
        code = code.strip().replace(" ", "")
        if not code.isdigit() or len(code) != 6:
            return False
        totp = pyotp.TOTP(self.totp_secret(user.id))
        now = self.now()
        step_now = int(now.timestamp()) // totp.interval
        with self.store.begin() as conn:
            last = conn.execute(select(admin_users.c.totp_last_step).where(admin_users.c.id == user.id)
                                .with_for_update()).scalar()
            for step in (step_now - 1, step_now, step_now + 1):  # one step of clock drift either way
                if last is not None and step <= last:
                    continue
                if hmac.compare_digest(totp.at(step * totp.interval), code):
                    conn.execute(update(admin_users).where(admin_users.c.id == user.id)
                                 .values(totp_last_step=step, last_login_at=now))
                    self.audit.record("admin.login", actor=f"admin:{user.id}", target=f"admin:{user.id}",
                                             conn=conn)
                    return True
        return False

    def authenticate(self, email: str, password: str, code: str) -> AdminUser | None:
        """Password and TOTP together; None when either is wrong."""
        user = self.check_password(email, password)
        if user is None or not self.check_totp(user, code):
            return None
        return user

    # -- sign-in with throttling (pledge.signin_throttle) --------------------------------------
    @cached_property
    def throttle(self) -> SigninThrottle:
        return SigninThrottle(self.store, self.audit)

    def sign_in(self, email: str, password: str, code: str, *, address: str) -> AdminUser | Refusal | None:
        """:meth:`authenticate` behind the throttle: a :class:`Refusal` (nothing checked) while the
        account or the address must wait, the user when both factors are right, else None."""
        attempt = self.throttle.start(email, address, self.now())
        if isinstance(attempt, Refusal):
            return attempt
        user = self.authenticate(email, password, code)
        if user is None:
            self.throttle.failed(attempt)
            return None
        self.throttle.succeeded(attempt)
        return user

    def unlock(self, *, email: str | None = None, address: str | None = None, actor: str = "cli") -> int:
        """Lift the sign-in wait or lockout of an account and/or an address; how many were lifted."""
        return self.throttle.unlock(email=email, address=address, actor=actor)

    # -- API keys ---------------------------------------------------------------------------
    @staticmethod
    def _hash(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    def create_api_key(self, name: str, scopes: list[str], *, actor: str = "cli") -> str:
        """A new key, returned once in full (only its hash is stored)."""
        bad = [s for s in scopes if s not in SCOPES]
        if bad or not scopes:
            raise AdminError(f"unknown scope {', '.join(bad) or '(none given)'}; choose from: {', '.join(SCOPES)}")
        prefix = secrets.token_hex(6)
        key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        with self.store.begin() as conn:
            res = conn.execute(insert(api_keys).values(prefix=prefix, key_hash=self._hash(key), name=name,
                                                       scopes=sorted(set(scopes)), created_at=self.now()))
            self.audit.record("admin.api_key_created", actor=actor,
                                     target=f"api_key:{res.inserted_primary_key[0]}",  # type: ignore[index]
                                     details={"name": name, "scopes": sorted(set(scopes))}, conn=conn)
        return key

    def check_api_key(self, key: str, scope: str | None = None) -> ApiKey | None:
        """The key's record when the key is valid (and holds ``scope``); otherwise None."""
        if not key.startswith(KEY_PREFIX) or key.count("_") < 2:
            return None
        digest = self._hash(key)
        hit = self._keys.get(digest)
        if hit is not None and hit[1] > monotonic():
            found = hit[0]
        else:
            prefix = key[len(KEY_PREFIX):].split("_", 1)[0]
            with self.store.connect() as conn:
                row = conn.execute(select(api_keys).where(api_keys.c.prefix == prefix)).first()
            if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, digest):
                self._keys.pop(digest, None)
                return None
            found = ApiKey(row.id, row.prefix, row.name, tuple(row.scopes or ()))
            if len(self._keys) >= KEY_CACHE_SIZE:
                self._keys.clear()
            self._keys[digest] = (found, monotonic() + self.key_cache_seconds)
        if scope is not None and not found.allows(scope):
            return None
        return found

    def remembered_api_key(self, key: str) -> ApiKey | None:
        """The key's record when this process checked it within ``key_cache_seconds``; None
        otherwise. Never reads the store (an event loop may call it)."""
        if not key.startswith(KEY_PREFIX):
            return None
        hit = self._keys.get(self._hash(key))
        return hit[0] if hit is not None and hit[1] > monotonic() else None

    def forget_api_keys(self) -> None:
        """Drop the in-process memory of checked keys (the next check reads the store)."""
        self._keys.clear()

    def revoke_api_key(self, prefix: str, *, actor: str = "cli") -> bool:
        self.forget_api_keys()
        with self.store.begin() as conn:
            res = conn.execute(update(api_keys).where(api_keys.c.prefix == prefix, api_keys.c.revoked_at.is_(None))
                               .values(revoked_at=self.now()))
            if res.rowcount:
                self.audit.record("admin.api_key_revoked", actor=actor, target=f"api_key:{prefix}", conn=conn)
        self.forget_api_keys()  # again: a check between the first clear and the commit may have cached it
        return bool(res.rowcount)
