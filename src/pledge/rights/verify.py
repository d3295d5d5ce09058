"""Proving who asks: one-time email codes, platform-signed tokens, organisation administrators.

- **Email code.** ``start`` emails an 8-character code (:data:`CODE_ALPHABET`, 40 bits,
  shown as ``ABCD-EFGH``; case, spaces and dashes do not matter when it is entered) over
  SMTP (``settings.smtp_*``). Only its keyed HMAC is stored. Sending and checking codes
  count against the rate limits of :mod:`pledge.ratelimit` (``docs/security.md``). It
  expires after ``policy.verification.code_ttl`` and locks after
  ``policy.verification.max_attempts`` wrong tries; the comparison is constant-time and a
  used code never works again. A locked code denies the request (GDPR Art. 12(6)).
  A code gives the *reasonable* degree of assurance.
- **Platform token.** A signed-in platform user proves identity with a JWT (HS256) that the
  platform signs with :meth:`Verifier.platform_secret` (print it with
  ``pledge admin platform-secret``; it is derived from the newest signing key, and tokens
  under the secret of an older signing key still verify until that key is dropped).
  Claims: ``email`` (or ``sub``), ``aud`` = ``"pledge"``, ``exp`` (required, at most one
  hour ahead). It gives the *reasonably high* degree. The optional claim ``identities`` (e.g. ``{"user_id": "42"}``) is how the platform vouches
  for identities beyond the email: they join the request once the token is checked. They
  are the only identities besides the verified email a request ever carries from outside.
- **CCPA levels.** ``ccpa_know`` for specific pieces needs *reasonably high*; categories and
  every other kind need *reasonable* (Regs. §7062). A code alone leaves a specific-pieces
  request waiting for a platform token.
- **Organisation accounts.** With ``policy.verification.managed_accounts == "org_admin"``, a
  member of an organisation (the data map's ``facts.org_admin`` link, e.g.
  ``users.organisation_id`` → ``organisations.admin_user_id``) waits until that administrator
  confirms through a signed link emailed to them.
- **Status links.** ``status_token`` signs a request id for the requester's status page;
  it opens that one request only, for :data:`STATUS_DAYS` days, and is handed out only
  once the request is verified (each later email carries a fresh one).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import jwt
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import Connection, func, insert, select, update

from pledge.errors import Forbidden
from pledge.policy.duration import Duration
from pledge.rights.request_model import RequestError, RequestStateError, RequestView, Written
from pledge.rights.vault import Vault
from pledge.store.tables.requests import requests as requests_table
from pledge.store.tables.requests import verification_codes

if TYPE_CHECKING:
    from pledge.context import Context
    from pledge.notify import Mail
    from pledge.outbox import Queued
    from pledge.rights.requests import RequestService

log = logging.getLogger(__name__)

__all__ = ["VerificationError", "Verifier", "make_platform_token"]

AUDIENCE = "pledge"
MAX_CODES = 3
#: Crockford's base32: digits and letters without I, L, O, U (nothing to misread)
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 8  # 32**8 = 2**40, about 1.1e12 codes
ORG_CONFIRM_DAYS = 14
STATUS_DAYS = 7


class VerificationError(Forbidden, RequestError):
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
                        audience: str = AUDIENCE, identities: dict[str, str] | None = None) -> str:
    """What the platform does to vouch for a signed-in user (also used by tests)."""
    iat = int(now.timestamp())
    claims: dict[str, Any] = {"email": email, "aud": audience, "iat": iat, "exp": iat + ttl_seconds}
    if identities:
        claims["identities"] = identities
    return jwt.encode(claims, secret, algorithm="HS256")


def new_code() -> str:
    """A fresh code: :data:`CODE_LENGTH` symbols of :data:`CODE_ALPHABET` (40 bits)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(entered: str) -> str:
    """What a person typed, as codes are stored: case, spaces and dashes do not matter, and
    the letters people mistake for digits (O, I, L) read as 0 and 1 (Crockford's base32)."""
    kept = "".join(ch for ch in str(entered).upper() if ch not in " -_.\t\n\r")
    return kept.translate(str.maketrans("OIL", "011"))[:40]


def code_ttl(engine: Context) -> Duration:
    """``policy.verification.code_ttl`` as a Duration (the model's default is a string)."""
    value: Any = engine.policy.verification.code_ttl
    return value if isinstance(value, Duration) else Duration.parse(str(value))


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Verifier:
    def __init__(self, engine: Context, vault: Vault) -> None:
        self.engine = engine
        self.vault = vault
        signers = engine.keys.signers  # signs with the newest, verifies with any
        self._org = URLSafeTimedSerializer(signers, salt="pledge.request.org-admin")
        self._status = URLSafeTimedSerializer(signers, salt="pledge.request.status")

    # -- secrets ----------------------------------------------------------------------------
    @staticmethod
    def _platform_secret(key: str) -> str:
        return hmac.new(key.encode(), b"pledge platform token v1", hashlib.sha256).hexdigest()

    def platform_secret(self) -> str:
        """The shared secret the platform signs its tokens with (derived from the newest signing key)."""
        return self._platform_secret(self.engine.keys.secret)

    def platform_secrets(self) -> list[str]:
        """Every platform secret still accepted, newest first (one per signing key)."""
        return [self._platform_secret(k) for k in self.engine.keys.signing]

    def _code_hash(self, row_id: int, code: str, key: str | None = None) -> str:
        msg = f"verification-code:{row_id}:{code.strip()}".encode()
        return hmac.new((key or self.engine.keys.secret).encode(), msg, hashlib.sha256).hexdigest()

    # -- starting ---------------------------------------------------------------------------
    def start(self, svc: RequestService, public_id: str, *, actor: str = "subject",
              client: str | None = None) -> RequestView:
        """Email the first code; ``client`` is the asking network address, for the rate limits."""
        view = svc.get(public_id)
        if view.state == "verifying":
            return self.resend(svc, public_id, client=client)
        if view.state != "received":
            raise RequestStateError(f"request {public_id} is {view.state}; there is nothing to verify")
        email = svc.identities(public_id)["email"]
        self.engine.limits.hit("send", email=email, client=client)  # raises RateLimited
        code, number = self._issue(view)
        view = svc.transition(public_id, "verifying", actor=actor, details={"method": "email_code"})
        svc.notices.requester(view, email, "code", code=code, reference_suffix=str(number))
        if "org_admin" in view.needs:
            admin = self.org_admin_for(email)
            if admin is not None:
                token = self._org.dumps({"r": public_id})
                svc.notices.org_admin(view, admin.email, token)
                self.engine.audit.record("request.org_admin_asked", actor="system",
                                         target=f"request:{public_id}",
                                         details={"organisation_id": admin.organisation_id})
        return view

    def _issue(self, view: RequestView) -> tuple[str, int]:
        """A new code for the request, as the email shows it (``ABCD-EFGH``), and its number
        (1, 2, …: the email's reference, so parallel resends never share one)."""
        code = new_code()
        now = self.engine.now()
        ttl = code_ttl(self.engine)
        with self.engine.store.begin() as conn:
            # one issuer at a time: the request row's lock (PostgreSQL, MariaDB), or on SQLite the
            # write lock the retiring UPDATE takes; the count is read under it
            conn.execute(select(requests_table.c.id).where(requests_table.c.id == view.row_id).with_for_update())
            # a new code retires any earlier one
            conn.execute(update(verification_codes).where(verification_codes.c.request_id == view.row_id,
                                                          verification_codes.c.used_at.is_(None),
                                                          verification_codes.c.locked_at.is_(None))
                         .values(locked_at=now))
            sent = conn.execute(select(func.count()).select_from(verification_codes)
                                .where(verification_codes.c.request_id == view.row_id)).scalar_one()
            if sent >= MAX_CODES:  # rolls the retiring back
                raise VerificationError("locked", f"at most {MAX_CODES} codes are sent for one request")
            conn.execute(insert(verification_codes).values(
                request_id=view.row_id, code_hash=self._code_hash(view.row_id, code), created_at=now,
                expires_at=ttl.after(now), attempts=0))
            self.engine.audit.record("request.code_sent", actor="system", target=f"request:{view.id}",
                                     details={"expires_at": ttl.after(now)}, conn=conn)
        return f"{code[:4]}-{code[4:]}", int(sent) + 1

    def resend(self, svc: RequestService, public_id: str, *, client: str | None = None) -> RequestView:
        view = svc.get(public_id)
        if view.state != "verifying":
            raise RequestStateError(f"request {public_id} is {view.state}; no code is awaited")
        email = svc.identities(public_id)["email"]
        self.engine.limits.hit("send", email=email, client=client)  # raises RateLimited
        code, number = self._issue(view)
        svc.notices.requester(view, email, "code", code=code, reference_suffix=str(number))
        return view

    # -- proofs -----------------------------------------------------------------------------
    def check_code(self, svc: RequestService, public_id: str, code: str, *,
                   client: str | None = None) -> RequestView:
        """Check an entered code. Every check counts against the rate limits first; a wrong
        one adds to the code's attempts with one conditional UPDATE (never read-then-write),
        and using a right code is one too, so parallel tries are each counted and a code
        works once."""
        view = svc.get(public_id)
        # every code entered for an existing request counts, whatever its state
        self.engine.limits.hit("check", email=svc.identities(public_id).get("email"), client=client)
        if view.state != "verifying":
            raise RequestStateError(f"request {public_id} is {view.state}; no code is awaited")
        code = normalise_code(code)
        now = self.engine.now()
        limit = self.engine.policy.verification.max_attempts
        codes = verification_codes
        with self.engine.store.connect() as conn:
            row = conn.execute(select(codes).where(codes.c.request_id == view.row_id)
                               .order_by(codes.c.id.desc()).limit(1)).first()
        if row is None:
            raise VerificationError("no_code", "no code was sent for this request")
        self._still_open(row)
        if now >= _aware(row.expires_at):
            raise VerificationError("expired", "the code has expired; ask for a new one")
        good = any(hmac.compare_digest(self._code_hash(view.row_id, code, key), row.code_hash)
                   for key in self.engine.keys.signing)
        failure: VerificationError | None = None
        with self.engine.store.begin() as conn:
            unspent = (codes.c.id == row.id, codes.c.used_at.is_(None), codes.c.locked_at.is_(None))
            if good:
                spent = conn.execute(update(codes).where(*unspent).values(used_at=now)).rowcount
            else:
                spent = conn.execute(update(codes).where(*unspent).values(attempts=codes.c.attempts + 1)).rowcount
            if spent != 1:  # another try used or locked it first
                self._still_open(conn.execute(select(codes).where(codes.c.id == row.id)).one())
                raise VerificationError("locked", "this code no longer works")
            if not good:
                # the row stays locked by this transaction until commit: the count is this try's
                attempts = int(conn.execute(select(codes.c.attempts).where(codes.c.id == row.id)).scalar_one())
                locked = attempts >= limit and conn.execute(
                    update(codes).where(codes.c.id == row.id, codes.c.locked_at.is_(None))
                    .values(locked_at=now)).rowcount == 1
                self.engine.audit.record("request.code_wrong", actor="subject", target=f"request:{public_id}",
                                         details={"attempts": attempts, "locked": locked}, conn=conn)
                failure = VerificationError("locked" if locked else "wrong",
                                            "too many wrong codes; this request can no longer be verified"
                                            if locked else f"wrong code ({max(0, limit - attempts)} tries left)")
        if failure is not None:
            if failure.reason == "locked":
                svc.deny(public_id, "identity_not_verified", note="verification code attempt limit reached",
                         actor="system")
            raise failure
        return self._satisfied(svc, public_id, "reasonable", method="email_code")

    @staticmethod
    def _still_open(row: Any) -> None:
        if row.used_at is not None:
            raise VerificationError("used", "this code was already used")
        if row.locked_at is not None:
            raise VerificationError("locked", "too many wrong codes; this code no longer works")

    def check_platform_token(self, svc: RequestService, public_id: str, token: str) -> RequestView:
        """Verify with the platform's signed token, in one transaction (#19): the request row is
        locked, the token checked against its email, the identities the token vouches for
        bound, and the proof, the move to ``verified`` (and to the approval queue) and their
        audit entries written together, with the "verified" email queued in it. A token for
        another account is refused after its audit entry is committed."""
        now = self.engine.now()
        mismatch = False
        with self.engine.store.begin() as conn, self.engine.audit.batch(conn):
            row: Any = svc._row(conn, public_id, lock=True)  # then the row as written (Written)
            if row.state not in ("received", "verifying"):
                raise RequestStateError(f"request {public_id} is {row.state}; there is nothing to verify")
            try:
                claims = self._decode(token, now)  # the engine's clock, so --now and tests agree
            except jwt.PyJWTError as exc:
                raise VerificationError("bad_token", f"the sign-in token is not valid: {exc}") from exc
            email = str(claims.get("email") or claims.get("sub") or "")
            payload = self.vault.open(row.payload_enc)
            expected = str(payload["identities"]["email"])
            if not hmac.compare_digest(self.vault.lookup_key("email", email),
                                       self.vault.lookup_key("email", expected)):
                self.engine.audit.record("request.token_mismatch", actor="subject", target=f"request:{public_id}",
                                         conn=conn)
                mismatch = True
            else:
                vouched = claims.get("identities")
                if vouched is not None and (sealed := self._bind(conn, row, payload, vouched)) is not None:
                    row = Written({**row._mapping, "payload_enc": sealed})  # as written: nothing reads it back
                if row.state == "received":
                    row = svc._moved(conn, row, "verifying", actor="subject", details={"method": "platform_token"})
                view, mail, queued = self._satisfy(conn, svc, row, expected, "reasonably_high",
                                                   method="platform_token")
        if mismatch:
            raise VerificationError("mismatch", "the sign-in token belongs to another account")
        return self._after_commit(svc, view, expected, mail, queued)

    def _bind(self, conn: Connection, row: Any, payload: dict[str, Any], vouched: Any) -> bytes | None:
        """Add the identities a valid platform token vouches for to the request's subject;
        returns the payload as sealed and written (None when there was nothing to add)."""
        from pledge.rights.request_input import RequestInputError, check_identities

        if not isinstance(vouched, dict) or len(vouched) > 10:
            raise VerificationError("bad_token", "the token's identities claim is not an object of identities")
        try:
            extra = check_identities({k: v for k, v in vouched.items() if k != "email"})
        except RequestInputError as exc:
            raise VerificationError("bad_token", f"the token's identities claim: {exc}") from None
        if not extra:
            return None
        payload["identities"] = {**payload["identities"], **extra}
        sealed = self.vault.seal(payload)
        conn.execute(update(requests_table).where(requests_table.c.id == row.id).values(payload_enc=sealed))
        self.engine.audit.record("request.identities_vouched", actor="platform", target=f"request:{row.public_id}",
                                 details={"kinds": sorted(extra)}, conn=conn)
        return sealed

    def _decode(self, token: str, now: datetime) -> dict[str, Any]:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != "HS256":
            raise jwt.InvalidAlgorithmError("only HS256 tokens are accepted")
        claims: dict[str, Any] | None = None
        for secret in self.platform_secrets():
            try:
                claims = jwt.decode(token, secret, algorithms=["HS256"], audience=AUDIENCE,
                                    options={"require": ["exp", "aud"], "verify_exp": False})
                break
            except jwt.InvalidSignatureError:
                continue
        if claims is None:
            raise jwt.InvalidSignatureError("Signature verification failed")
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
        """Record a proof of ``level`` in one transaction (see :meth:`_satisfy`)."""
        with self.engine.store.begin() as conn, self.engine.audit.batch(conn):
            row = svc._row(conn, public_id, lock=True)
            email = str(self.vault.open(row.payload_enc)["identities"]["email"])
            view, mail, queued = self._satisfy(conn, svc, row, email, level, method=method)
        return self._after_commit(svc, view, email, mail, queued)

    def _satisfy(self, conn: Connection, svc: RequestService, row: Any, email: str, level: str, *,
                 method: str) -> tuple[RequestView, Mail | None, Queued | None]:
        """On the locked ``row``: the proof raises the assurance and drops the needs it meets;
        with none left the request is ``verified``, goes to the approval queue when it needs
        approval, and the requester's "verified" email is queued in the same transaction.
        Returns the view, that email (None when none is due or composing it failed) and its
        outbox row."""
        ranks = {"none": 0, "reasonable": 1, "reasonably_high": 2, "officer": 3}
        needs = list(row.needs or [])
        assurance = row.assurance
        if level == "org_admin":
            needs = [n for n in needs if n != "org_admin"]
        else:
            if ranks[level] > ranks.get(assurance, 0):
                assurance = level
            needs = [n for n in needs if n == "org_admin" or ranks.get(n, 0) > ranks[assurance]]
        proof = {"method": method, "assurance": assurance, "needs": needs}
        if needs:
            conn.execute(update(requests_table).where(requests_table.c.id == row.id)
                         .values(needs=needs, assurance=assurance))
            self.engine.audit.record("request.proof", actor="subject", target=f"request:{row.public_id}",
                                     details=proof, conn=conn)
            # the row is locked: what it holds now is what was just written, without reading it back (#19)
            return svc._view(Written({**row._mapping, "needs": needs, "assurance": assurance})), None, None
        # nothing left to prove: the proof rides on the move to ``verified`` (one UPDATE, which
        # also brings the audit head: #19), and its audit entry still comes before the move's
        written = svc._write_move(conn, row, "verified", needs=needs, assurance=assurance,
                                  verified_at=self.engine.now())
        self.engine.audit.record("request.proof", actor="subject", target=f"request:{row.public_id}",
                                 details=proof, conn=conn)
        svc._audit_move(conn, row, "verified", actor="subject", details={"method": method})
        row = written
        view = svc._view(row)
        if view.approval_needed:  # a verified request that needs approval goes to the approval queue
            view = svc._move(conn, row, "awaiting_approval", actor="system")
        try:
            mail = svc.notices.requester_mail(view, email, "verified")
        except Exception:  # noqa: BLE001 - a template must not undo the verification: sent after the commit
            log.exception("request %s: composing the verified email failed; sending it after the commit",
                          row.public_id)
            return view, None, None
        return view, mail, svc.notices.notifier.queue(conn, mail)

    def _after_commit(self, svc: RequestService, view: RequestView, email: str, mail: Mail | None,
                      queued: Queued | None) -> RequestView:
        """Send the "verified" email queued with the commit (or, when composing it failed, now)."""
        if mail is not None:
            self.engine.outbox.committed(queued)
        elif view.verified_at is not None and not view.needs and view.state in ("verified", "awaiting_approval"):
            svc.notices.requester(view, email, "verified")
        return view

    # -- organisation administrators ----------------------------------------------------------
    def org_admin_for(self, email: str) -> OrgAdmin | None:
        """The administrator of the organisation that manages ``email``'s account, if any: the
        data map's ``facts.org_admin`` link, followed through the data plane
        (:func:`pledge.dataplane.people.org_admin`; the email matched case-insensitively)."""
        from pledge.dataplane.people import org_admin

        found = org_admin(self.engine, email)
        return OrgAdmin(found.email, found.organisation_id) if found is not None else None

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
