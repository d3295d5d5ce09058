"""Proving who asks: one-time email codes, platform-signed tokens, organisation administrators.

- **Email code.** ``start`` emails a 6-digit code over SMTP (``settings.smtp_*``). Only its
  keyed HMAC is stored. It expires after ``policy.verification.code_ttl`` and locks after
  ``policy.verification.max_attempts`` wrong tries; the comparison is constant-time and a
  used code never works again. A locked code denies the request (GDPR Art. 12(6)).
  A code gives the *reasonable* degree of assurance.
- **Platform token.** A signed-in platform user proves identity with a JWT (HS256) that the
  platform signs with :meth:`Verifier.platform_secret` (print it with
  ``pledge admin platform-secret``). Claims: ``email`` (or ``sub``), ``aud`` = ``"pledge"``,
  ``exp`` (required, at most one hour ahead). It gives the *reasonably high* degree.
- **CCPA levels.** ``ccpa_know`` for specific pieces needs *reasonably high*; categories and
  every other kind need *reasonable* (Regs. §7062). A code alone leaves a specific-pieces
  request waiting for a platform token.
- **Organisation accounts.** With ``policy.verification.managed_accounts == "org_admin"``, a
  member of an organisation (platform contract: ``users.organisation_id`` →
  ``organisations.admin_user_id``) waits until that administrator confirms through a signed
  link emailed to them.
- **Status links.** ``status_token`` signs a request id for the requester's status page;
  it opens that one request only.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import jwt
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import MetaData, Table, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from pledge.policy.duration import Duration
from pledge.rights.requests import RequestError, RequestStateError, RequestView
from pledge.rights.vault import Vault
from pledge.store.tables.requests import requests as requests_table
from pledge.store.tables.requests import verification_codes

if TYPE_CHECKING:
    from pledge.engine import Engine
    from pledge.rights.requests import RequestService

__all__ = ["VerificationError", "Verifier", "make_platform_token"]

AUDIENCE = "pledge"
MAX_CODES = 3
ORG_CONFIRM_DAYS = 14
STATUS_DAYS = 400


class VerificationError(RequestError):
    """A proof that failed; ``reason`` is one of: wrong, expired, used, locked, no_code,
    bad_token, mismatch."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class OrgAdmin:
    email: str
    organisation_id: Any


def make_platform_token(secret: str, email: str, *, now: datetime, ttl_seconds: int = 600,
                        audience: str = AUDIENCE) -> str:
    """What the platform does to vouch for a signed-in user (also used by tests)."""
    iat = int(now.timestamp())
    return jwt.encode({"email": email, "aud": audience, "iat": iat, "exp": iat + ttl_seconds},
                      secret, algorithm="HS256")


def code_ttl(engine: Engine) -> Duration:
    """``policy.verification.code_ttl`` as a Duration (the model's default is a string)."""
    value: Any = engine.policy.verification.code_ttl
    return value if isinstance(value, Duration) else Duration.parse(str(value))


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Verifier:
    def __init__(self, engine: Engine, vault: Vault) -> None:
        self.engine = engine
        self.vault = vault
        secret = engine.settings.secret_key
        self._org = URLSafeTimedSerializer(secret, salt="pledge.request.org-admin")
        self._status = URLSafeTimedSerializer(secret, salt="pledge.request.status")

    # -- secrets ----------------------------------------------------------------------------
    def platform_secret(self) -> str:
        """The shared secret the platform signs its tokens with (derived, stable)."""
        return hmac.new(self.engine.settings.secret_key.encode(), b"pledge platform token v1",
                        hashlib.sha256).hexdigest()

    def _code_hash(self, row_id: int, code: str) -> str:
        msg = f"verification-code:{row_id}:{code.strip()}".encode()
        return hmac.new(self.engine.settings.secret_key.encode(), msg, hashlib.sha256).hexdigest()

    # -- starting ---------------------------------------------------------------------------
    def start(self, svc: RequestService, public_id: str, *, actor: str = "subject") -> RequestView:
        view = svc.get(public_id)
        if view.state == "verifying":
            return self.resend(svc, public_id)
        if view.state != "received":
            raise RequestStateError(f"request {public_id} is {view.state}; there is nothing to verify")
        email = svc.identities(public_id)["email"]
        code = self._issue(view)
        view = svc.transition(public_id, "verifying", actor=actor, details={"method": "email_code"})
        svc.notices.requester(view, email, "code", code=code, reference_suffix=str(self._count(view)))
        if "org_admin" in view.needs:
            admin = self.org_admin_for(email)
            if admin is not None:
                token = self._org.dumps({"r": public_id})
                svc.notices.org_admin(view, admin.email, token)
                self.engine.audit.record("request.org_admin_asked", actor="system",
                                         target=f"request:{public_id}",
                                         details={"organisation_id": admin.organisation_id})
        return view

    def _count(self, view: RequestView) -> int:
        with self.engine.store.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(verification_codes)
                                    .where(verification_codes.c.request_id == view.row_id)).scalar_one())

    def _issue(self, view: RequestView) -> str:
        if self._count(view) >= MAX_CODES:
            raise VerificationError("locked", f"at most {MAX_CODES} codes are sent for one request")
        code = f"{secrets.randbelow(10**6):06d}"
        now = self.engine.now()
        ttl = code_ttl(self.engine)
        with self.engine.store.begin() as conn:
            # a new code retires any earlier one
            conn.execute(update(verification_codes).where(verification_codes.c.request_id == view.row_id,
                                                          verification_codes.c.used_at.is_(None),
                                                          verification_codes.c.locked_at.is_(None))
                         .values(locked_at=now))
            conn.execute(insert(verification_codes).values(
                request_id=view.row_id, code_hash=self._code_hash(view.row_id, code), created_at=now,
                expires_at=ttl.after(now), attempts=0))
            self.engine.audit.record("request.code_sent", actor="system", target=f"request:{view.id}",
                                     details={"expires_at": ttl.after(now)}, conn=conn)
        return code

    def resend(self, svc: RequestService, public_id: str) -> RequestView:
        view = svc.get(public_id)
        if view.state != "verifying":
            raise RequestStateError(f"request {public_id} is {view.state}; no code is awaited")
        code = self._issue(view)
        svc.notices.requester(view, svc.identities(public_id)["email"], "code", code=code,
                              reference_suffix=str(self._count(view)))
        return view

    # -- proofs -----------------------------------------------------------------------------
    def check_code(self, svc: RequestService, public_id: str, code: str) -> RequestView:
        view = svc.get(public_id)
        if view.state != "verifying":
            raise RequestStateError(f"request {public_id} is {view.state}; no code is awaited")
        now = self.engine.now()
        limit = self.engine.policy.verification.max_attempts
        failure: VerificationError | None = None
        with self.engine.store.begin() as conn:
            row = conn.execute(select(verification_codes).where(verification_codes.c.request_id == view.row_id)
                               .order_by(verification_codes.c.id.desc()).limit(1).with_for_update()).first()
            if row is None:
                raise VerificationError("no_code", "no code was sent for this request")
            if row.used_at is not None:
                raise VerificationError("used", "this code was already used")
            if row.locked_at is not None:
                raise VerificationError("locked", "too many wrong codes; this code no longer works")
            if now >= _aware(row.expires_at):
                raise VerificationError("expired", "the code has expired; ask for a new one")
            good = hmac.compare_digest(self._code_hash(view.row_id, code), row.code_hash)
            if good:
                conn.execute(update(verification_codes).where(verification_codes.c.id == row.id)
                             .values(used_at=now))
            else:
                attempts = row.attempts + 1
                locked = attempts >= limit
                conn.execute(update(verification_codes).where(verification_codes.c.id == row.id)
                             .values(attempts=attempts, locked_at=now if locked else None))
                self.engine.audit.record("request.code_wrong", actor="subject", target=f"request:{public_id}",
                                         details={"attempts": attempts, "locked": locked}, conn=conn)
                failure = VerificationError("locked" if locked else "wrong",
                                            "too many wrong codes; this request can no longer be verified"
                                            if locked else f"wrong code ({limit - attempts} tries left)")
        if failure is not None:
            if failure.reason == "locked":
                svc.deny(public_id, "identity_not_verified", note="verification code attempt limit reached",
                         actor="system")
            raise failure
        return self._satisfied(svc, public_id, "reasonable", method="email_code")

    def check_platform_token(self, svc: RequestService, public_id: str, token: str) -> RequestView:
        view = svc.get(public_id)
        if view.state not in ("received", "verifying"):
            raise RequestStateError(f"request {public_id} is {view.state}; there is nothing to verify")
        now = self.engine.now()
        try:
            claims = self._decode(token, now)  # the engine's clock, so --now and tests agree
        except jwt.PyJWTError as exc:
            raise VerificationError("bad_token", f"the sign-in token is not valid: {exc}") from exc
        email = str(claims.get("email") or claims.get("sub") or "")
        expected = svc.identities(public_id)["email"]
        if not hmac.compare_digest(self.vault.lookup_key("email", email), self.vault.lookup_key("email", expected)):
            self.engine.audit.record("request.token_mismatch", actor="subject", target=f"request:{public_id}")
            raise VerificationError("mismatch", "the sign-in token belongs to another account")
        if view.state == "received":
            svc.transition(public_id, "verifying", actor="subject", details={"method": "platform_token"})
        return self._satisfied(svc, public_id, "reasonably_high", method="platform_token")

    def _decode(self, token: str, now: datetime) -> dict[str, Any]:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != "HS256":
            raise jwt.InvalidAlgorithmError("only HS256 tokens are accepted")
        claims: dict[str, Any] = jwt.decode(token, self.platform_secret(), algorithms=["HS256"], audience=AUDIENCE,
                                            options={"require": ["exp", "aud"], "verify_exp": False})
        exp = int(claims["exp"])
        if exp <= int(now.timestamp()):
            raise jwt.ExpiredSignatureError("the token has expired")
        if exp - int(now.timestamp()) > 3600:
            raise jwt.InvalidTokenError("the token lives longer than one hour")
        return claims

    def check_org_admin(self, svc: RequestService, public_id: str, token: str) -> RequestView:
        try:
            data = self._org.loads(token, max_age=ORG_CONFIRM_DAYS * 86400)
        except SignatureExpired as exc:
            raise VerificationError("expired", "the confirmation link has expired") from exc
        except BadSignature as exc:
            raise VerificationError("bad_token", "the confirmation link is not valid") from exc
        if not isinstance(data, dict) or data.get("r") != public_id:
            raise VerificationError("mismatch", "the confirmation link is for another request")
        view = svc.get(public_id)
        if view.state not in ("received", "verifying") or "org_admin" not in view.needs:
            raise RequestStateError(f"request {public_id} awaits no administrator confirmation")
        return self._satisfied(svc, public_id, "org_admin", method="org_admin")

    def _satisfied(self, svc: RequestService, public_id: str, level: str, *, method: str) -> RequestView:
        ranks = {"none": 0, "reasonable": 1, "reasonably_high": 2, "officer": 3}
        with self.engine.store.begin() as conn:
            row = svc._row(conn, public_id, lock=True)
            needs = list(row.needs or [])
            assurance = row.assurance
            if level == "org_admin":
                needs = [n for n in needs if n != "org_admin"]
            else:
                if ranks[level] > ranks.get(assurance, 0):
                    assurance = level
                needs = [n for n in needs if n == "org_admin" or ranks.get(n, 0) > ranks[assurance]]
            conn.execute(update(requests_table).where(requests_table.c.id == row.id)
                         .values(needs=needs, assurance=assurance))
            self.engine.audit.record("request.proof", actor="subject", target=f"request:{public_id}",
                                     details={"method": method, "assurance": assurance, "needs": needs}, conn=conn)
            if not needs:
                row = svc._row(conn, public_id)
                svc._move(conn, row, "verified", actor="subject", details={"method": method},
                          verified_at=self.engine.now())
        view = svc.after_verified(public_id, actor="system")
        if view.state in ("verified", "awaiting_approval") and view.verified_at is not None and not view.needs:
            svc.notices.requester(view, svc.identities(public_id)["email"], "verified")
        return view

    # -- organisation administrators ----------------------------------------------------------
    def org_admin_for(self, email: str) -> OrgAdmin | None:
        """The administrator of the organisation that manages ``email``'s account, if any."""
        try:
            db = self.engine.dataset.databases[0].name
            eng = self.engine.platform_engine(db)
            meta = MetaData()
            users = Table("users", meta, autoload_with=eng)
            orgs = Table("organisations", meta, autoload_with=eng)
        except (SQLAlchemyError, IndexError):
            return None
        if "organisation_id" not in users.c or "admin_user_id" not in orgs.c:
            return None
        with eng.connect() as conn:
            member = conn.execute(select(users.c.id, users.c.organisation_id)
                                  .where(func.lower(users.c.email) == email.strip().lower())).first()
            if member is None or member.organisation_id is None:
                return None
            admin_id = conn.execute(select(orgs.c.admin_user_id)
                                    .where(orgs.c.id == member.organisation_id)).scalar()
            if admin_id is None or admin_id == member.id:
                return None
            admin_email = conn.execute(select(users.c.email).where(users.c.id == admin_id)).scalar()
        return OrgAdmin(str(admin_email), member.organisation_id) if admin_email else None

    def org_admin_token(self, public_id: str) -> str:
        return self._org.dumps({"r": public_id})

    # -- status links -------------------------------------------------------------------------
    def status_token(self, public_id: str) -> str:
        return self._status.dumps(public_id)

    def check_status_token(self, public_id: str, token: str) -> bool:
        try:
            value = self._status.loads(token, max_age=STATUS_DAYS * 86400)
        except BadSignature:
            return False
        return isinstance(value, str) and hmac.compare_digest(value, public_id)
