"""What a request tells people: emails to the requester, and Art. 19 notices to recipients.

Requester emails (``requester(view, email, event)``), in the request's language from the
``requests_mail`` catalogue: ``received``, ``code``, ``verified``, ``extended``,
``completed``, ``denied``; and ``org_admin`` to an organisation's administrator. Each is
sent once per request and event (:class:`pledge.notify.Notifier` keeps the record).

Every requester email ends with the signed link to the person's consent choices
(``/preferences/<token>``, :mod:`pledge.consent.unsubscribe`) and the brand's footer
(:func:`pledge.branding.mail_footer`).

Art. 19 notices (``recipients(view, identities)``) go, after an erasure, rectification or
restriction, to every ``policy.recipients[]`` with a ``notify`` contact: a webhook
``POST`` of JSON to ``notify.url`` signed with ``X-Pledge-Signature: sha256=<hex HMAC of
the body>`` (key: :meth:`Notices.webhook_secret` for that recipient), or an email to
``notify.email``. Each notice is a row in ``art19_notices``; the recipient acknowledges
it through ``ack_url`` (a signed token, :meth:`Notices.acknowledge`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any

import httpx
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import insert, select, update

from pledge.consent.unsubscribe import preferences_url
from pledge.notify import EmailTemplate, Mail, Notifier
from pledge.rights.requests import DENIAL_GROUNDS, KINDS
from pledge.store.tables.requests import art19_notices

if TYPE_CHECKING:
    from pledge.context import Context
    from pledge.rights.requests import RequestView

__all__ = ["ART19_KINDS", "TEMPLATES", "Notices"]

ART19_KINDS = ("erasure", "ccpa_delete", "rectification", "restriction")
DOMAINS = ("requests_mail",)


def _t(name: str, subject: str, body: str) -> EmailTemplate:
    return EmailTemplate(name=f"request.{name}", subject=subject, body=body, domains=DOMAINS)


TEMPLATES: dict[str, EmailTemplate] = {
    "received": _t("received", "We received your request ({kind})",
                   "Hello,\n\nwe received your request: {kind}.\nReference: {id}\n"
                   "We will answer by {due}.\n\nFollow your request here: {status_url}\n\n{controller}"),
    "code": _t("code", "Your verification code: {code}",
               "Hello,\n\nto confirm that the request {id} ({kind}) is yours, enter this code:\n\n    {code}\n\n"
               "It works once and expires at {expires}. If you did not make this request, ignore this "
               "message.\n\n{controller}"),
    "verified": _t("verified", "Your identity is confirmed ({kind})",
                   "Hello,\n\nthank you: your identity is confirmed for the request {id} ({kind}).\n"
                   "We will answer by {due}.\n\n{status_url}\n\n{controller}"),
    "extended": _t("extended", "We need more time for your request ({kind})",
                   "Hello,\n\nwe need more time to answer the request {id} ({kind}).\n"
                   "Reason: {reason}\nWe will answer by {due}.\n\n{status_url}\n\n{controller}"),
    "completed": _t("completed", "Your request is complete ({kind})",
                    "Hello,\n\nwe have completed the request {id} ({kind}).\n"
                    "See the result here: {status_url}\n\n{controller}"),
    "partial": _t("partial", "Your request is done, with data the law makes us keep ({kind})",
                  "Hello,\n\nwe have carried out the request {id} ({kind}), except for data the law makes us "
                  "keep:\n\n{kept}\n\nWe delete it when that period ends. Your erasure certificate and "
                  "the details are here: {status_url}\n\n{controller}"),
    "denied": _t("denied", "We cannot carry out your request ({kind})",
                 "Hello,\n\nwe cannot carry out the request {id} ({kind}).\nGround: {ground}\n{note}\n\n"
                 "You may complain to a supervisory authority: {authority}\n\n{controller}"),
    "org_admin": _t("org_admin", "A member of your organisation made a privacy request",
                    "Hello,\n\na member of the organisation you administer made a privacy request ({kind}), "
                    "reference {id}.\nOur policy asks you to confirm it first. To confirm, open:\n\n"
                    "{confirm_url}\n\n{controller}"),
    "art19": _t("art19", "Art. 19 GDPR notice: {kind}",
                "Hello,\n\nunder Art. 19 GDPR we tell you that we carried out a request ({kind}), reference {id}, "
                "for the person with these identifiers: {identities}.\nPlease do the same with the data you "
                "hold for us, then acknowledge here:\n\n{ack_url}\n\n{controller}"),
}


class Notices:
    def __init__(self, engine: Context, notifier: Notifier | None = None) -> None:
        self.engine = engine
        self.notifier = notifier or Notifier(engine, rate_per_second=0)
        self._ack = URLSafeSerializer(engine.keys.signers, salt="pledge.art19.ack")

    def _base(self, view: RequestView) -> dict[str, Any]:
        from pledge.i18n import translator

        _ = translator(view.lang, DOMAINS)
        base = self.engine.settings.base_url.rstrip("/")
        # a status link only once the request is verified; before, the way on is the code page
        if view.verified_at is not None:
            status_url = f"{base}/privacy/status/{view.id}?token={self.engine.requests.status_token(view.id)}"
        else:
            status_url = f"{base}/privacy/requests/{view.id}/verify"
        return {
            "id": view.id, "kind": _(KINDS.get(view.kind, view.kind)), "due": view.effective_due.isoformat(),
            "status_url": status_url,
            "controller": self.engine.policy.controller.name,
        }

    def requester(self, view: RequestView, email: str, event: str, *, code: str | None = None,
                  reference_suffix: str = "") -> bool:
        """Email the requester about ``event``; False when already sent or the send failed."""
        template, ctx, ref = self._requester(view, email, event, code=code, reference_suffix=reference_suffix)
        return self.notifier.send(email, template, view.lang, ctx, reference=ref)

    def requester_mail(self, view: RequestView, email: str, event: str) -> Mail:
        """The requester's email about ``event``, composed now (nothing is read from the store),
        for :meth:`Notifier.queue` in the transaction that records the event."""
        template, ctx, ref = self._requester(view, email, event)
        return self.notifier.mail(email, template, view.lang, ctx, reference=ref)

    def _requester(self, view: RequestView, email: str, event: str, *, code: str | None = None,
                   reference_suffix: str = "") -> tuple[EmailTemplate, dict[str, Any], str]:
        from pledge.i18n import translator

        _ = translator(view.lang, DOMAINS)
        ctx = self._base(view)
        if event == "code":
            from pledge.rights.verify import code_ttl

            ttl = code_ttl(self.engine)
            ctx.update(code=code or "", expires=ttl.after(self.engine.now()).strftime("%Y-%m-%d %H:%M UTC"))
        ctx["reason"] = view.extension_reason or ""
        ctx["ground"] = _(DENIAL_GROUNDS.get(view.denial_ground or "", view.denial_ground or ""))
        ctx["note"] = view.denial_note or ""
        authority = self.engine.policy.authority
        ctx["authority"] = (authority.url or authority.name) if authority else ""
        # every email to the person about their request: the signed link to their choices (the footer)
        ctx["preferences_url"] = preferences_url(self.engine, email) + f"?lang={view.lang}"
        ref = f"request:{view.id}:{event}" + (f":{reference_suffix}" if reference_suffix else "")
        template = TEMPLATES[event]
        if event == "completed" and view.state == "partially_completed":
            from pledge.rights.kept import kept_items, kept_lines

            kept = kept_items(self.engine.policy, view.result, view.lang)
            if kept:  # say what was kept, why (the law) and until when
                template, ctx["kept"] = TEMPLATES["partial"], kept_lines(kept, view.lang)
        return template, ctx, ref

    def org_admin(self, view: RequestView, admin_email: str, token: str) -> bool:
        ctx = self._base(view)
        ctx["confirm_url"] = f"{self.engine.settings.base_url.rstrip('/')}/privacy/org-confirm/{view.id}?token={token}"
        return self.notifier.send(admin_email, TEMPLATES["org_admin"], view.lang, ctx,
                                  reference=f"request:{view.id}:org_admin")

    # -- Art. 19 ----------------------------------------------------------------------------
    def webhook_secret(self, recipient_key: str) -> str:
        """The recipient's webhook key, derived from the newest signing key (a rotation of
        the signing key gives recipients a new one: share it with them again)."""
        msg = f"art19-webhook:{recipient_key}".encode()
        return hmac.new(self.engine.keys.secret.encode(), msg, hashlib.sha256).hexdigest()

    @staticmethod
    def signature(secret: str, body: bytes) -> str:
        return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()

    def ack_token(self, notice_id: int) -> str:
        return self._ack.dumps(notice_id)

    def acknowledge(self, token: str) -> bool:
        """Mark the notice named by a signed ack token as acknowledged."""
        try:
            notice_id = self._ack.loads(token)
        except BadSignature:
            return False
        if not isinstance(notice_id, int):
            return False
        with self.engine.store.begin() as conn:
            res = conn.execute(update(art19_notices).where(art19_notices.c.id == notice_id,
                                                           art19_notices.c.acked_at.is_(None))
                               .values(acked_at=self.engine.now()))
            if res.rowcount:
                self.engine.audit.record("request.art19_acknowledged", actor="recipient",
                                         target=f"art19:{notice_id}", conn=conn)
        return True

    def sent(self, view: RequestView) -> list[dict[str, Any]]:
        with self.engine.store.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(
                select(art19_notices).where(art19_notices.c.request_id == view.row_id).order_by(art19_notices.c.id))]

    def recipients(self, view: RequestView, identities: dict[str, str]) -> list[dict[str, Any]]:
        """Send Art. 19 notices for a completed erasure, rectification or restriction."""
        if view.kind not in ART19_KINDS or view.state not in ("completed", "partially_completed"):
            return []
        out: list[dict[str, Any]] = []
        base = self.engine.settings.base_url.rstrip("/")
        for rec in self.engine.policy.recipients:
            if rec.notify is None or not (rec.notify.url or rec.notify.email):
                continue
            channel = "webhook" if rec.notify.url else "email"
            with self.engine.store.begin() as conn:
                res = conn.execute(insert(art19_notices).values(
                    request_id=view.row_id, recipient=rec.key, channel=channel, status="pending",
                    sent_at=self.engine.now()))
                notice_id = int(res.inserted_primary_key[0])  # type: ignore[index]
            ack_url = f"{base}/v1/art19/ack?token={self.ack_token(notice_id)}"
            status, error = "sent", None
            if rec.notify.url:
                body = json.dumps({"notice": notice_id, "request": view.id, "kind": view.kind,
                                   "state": view.state, "identities": identities, "ack_url": ack_url,
                                   "controller": self.engine.policy.controller.name},
                                  sort_keys=True).encode()
                try:
                    resp = httpx.post(rec.notify.url, content=body, timeout=10.0, headers={
                        "Content-Type": "application/json",
                        "X-Pledge-Signature": self.signature(self.webhook_secret(rec.key), body)})
                    if resp.status_code >= 400:
                        status, error = "failed", f"HTTP {resp.status_code}"
                except httpx.HTTPError as exc:
                    status, error = "failed", str(exc)[:300]
            else:
                ctx = {**self._base(view), "ack_url": ack_url,
                       "identities": ", ".join(f"{k}={v}" for k, v in sorted(identities.items()))}
                ok = self.notifier.send(str(rec.notify.email), TEMPLATES["art19"], self.engine.policy.language, ctx,
                                        reference=f"request:{view.id}:art19:{rec.key}")
                status, error = ("sent", None) if ok else ("failed", "email not sent")
            with self.engine.store.begin() as conn:
                conn.execute(update(art19_notices).where(art19_notices.c.id == notice_id)
                             .values(status=status, error=error))
                self.engine.audit.record("request.art19_sent", actor="system", target=f"request:{view.id}",
                                         details={"recipient": rec.key, "channel": channel, "status": status},
                                         conn=conn)
            out.append({"id": notice_id, "recipient": rec.key, "channel": channel, "status": status,
                        "error": error})
        return out
