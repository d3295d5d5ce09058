"""Email: English and Polish templates, sent over SMTP, throttled, resumable, recorded.

A message belongs to a ``reference`` (``campaign:3``, ``request:42``). Each delivery is a
row in ``email_deliveries`` keyed by the reference and a keyed HMAC of the address, so a
re-run after a crash sends only what was not yet sent, and the store never holds the
address itself. SMTP host, port, TLS and credentials come from Settings (``smtp_*``).
"""

from __future__ import annotations

import smtplib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from sqlalchemy import insert, select, update

from pledge.i18n import translator
from pledge.retention.ledger import subject_key
from pledge.settings import Settings
from pledge.store import Store
from pledge.store.tables.notify import email_deliveries


@dataclass(frozen=True)
class EmailTemplate:
    """Subject and plain-text body as English msgids with ``{placeholders}``.

    ``domains`` names the catalogues (``locales/<lang>/LC_MESSAGES/<domain>.po``) that hold
    the translations.
    """

    name: str
    subject: str
    body: str
    domains: tuple[str, ...] = ()

    def render(self, lang: str, context: Mapping[str, Any]) -> tuple[str, str]:
        _ = translator(lang, self.domains or None)
        return _(self.subject, **context), _(self.body, **context)


@dataclass
class Outcome:
    sent: int = 0
    skipped: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "skipped": self.skipped, "failed": self.failed}


class Notifier:
    """Sends templated email; one per (reference, address), ever."""

    def __init__(self, store: Store, settings: Settings, clock: Callable[[], datetime], *,
                 rate_per_second: float = 20.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.interval = 1.0 / rate_per_second if rate_per_second > 0 else 0.0
        self.sleep = sleep
        self._last = 0.0

    def key(self, address: str) -> str:
        return subject_key(self.settings.secret_key, "email", address)

    def delivered(self, reference: str) -> set[str]:
        """Recipient keys already sent for ``reference``."""
        q = select(email_deliveries.c.recipient_key).where(
            email_deliveries.c.reference == reference, email_deliveries.c.status == "sent")
        with self.store.connect() as conn:
            return {r[0] for r in conn.execute(q)}

    # -- SMTP -------------------------------------------------------------------------------
    def connect(self) -> smtplib.SMTP:
        s = self.settings
        smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=30)
        if s.smtp_tls:
            smtp.starttls()
        if s.smtp_user:
            smtp.login(s.smtp_user, s.smtp_password or "")
        return smtp

    def compose(self, to: str, template: EmailTemplate, lang: str, context: Mapping[str, Any]) -> EmailMessage:
        subject, body = template.render(lang, context)
        msg = EmailMessage()
        msg["From"] = self.settings.mail_from
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = format_datetime(self.clock())
        msg["Message-ID"] = make_msgid(domain=self.settings.mail_from.rpartition("@")[2] or "pledge.localhost")
        msg.set_content(body)
        msg["Content-Language"] = lang  # after set_content, which resets Content-* headers
        return msg

    def _throttle(self) -> None:
        if self.interval:
            wait = self._last + self.interval - time.monotonic()
            if wait > 0:
                self.sleep(wait)
        self._last = time.monotonic()

    # -- sending ----------------------------------------------------------------------------
    def send_many(self, messages: Iterable[tuple[str, Mapping[str, Any]]], template: EmailTemplate, lang: str,
                  *, reference: str, on_each: Callable[[str, str], None] | None = None,
                  limit: int | None = None,
                  key_of: Callable[[str, Mapping[str, Any]], str] | None = None) -> Outcome:
        """Send ``template`` to each (address, context) not yet sent for ``reference``.

        ``on_each(address, status)`` is called after each attempt (progress, bookkeeping).
        ``limit`` stops after that many new messages (send in slices).
        ``key_of(address, context)`` gives the delivery's recipient key instead of the
        address's HMAC: a stable key of the *person*, so a changed address is not a new
        recipient (breach notices, where the newest address is looked up each run).
        """
        done = self.delivered(reference)
        out = Outcome()
        smtp: smtplib.SMTP | None = None
        try:
            for address, context in messages:
                key = key_of(address, context) if key_of else self.key(address)
                if key in done:
                    out.skipped += 1
                    continue
                if limit is not None and out.sent >= limit:
                    break
                msg = self.compose(address, template, lang, context)
                self._throttle()
                try:
                    if smtp is None:
                        smtp = self.connect()
                    smtp.send_message(msg)
                except (smtplib.SMTPException, OSError) as exc:
                    out.failed += 1
                    self._record(reference, key, template.name, lang, "failed", str(exc)[:500], None)
                    if smtp is not None:
                        self._close(smtp)
                    smtp = None
                    if on_each:
                        on_each(address, "failed")
                    continue
                self._record(reference, key, template.name, lang, "sent", None, str(msg["Message-ID"]))
                done.add(key)
                out.sent += 1
                if on_each:
                    on_each(address, "sent")
        finally:
            if smtp is not None:
                self._close(smtp)
        return out

    def send(self, to: str, template: EmailTemplate, lang: str, context: Mapping[str, Any], *,
             reference: str) -> bool:
        """One message; False when it was already sent for this reference or failed."""
        return self.send_many([(to, context)], template, lang, reference=reference).sent == 1

    @staticmethod
    def _close(smtp: smtplib.SMTP) -> None:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def _record(self, reference: str, key: str, template: str, lang: str, status: str, error: str | None,
                message_id: str | None) -> None:
        values = {"at": self.clock(), "template": template, "lang": lang, "status": status, "error": error,
                  "message_id": message_id}
        t = email_deliveries
        with self.store.begin() as conn:
            existing = conn.execute(select(t.c.id).where(t.c.reference == reference,
                                                         t.c.recipient_key == key)).first()
            if existing is None:
                conn.execute(insert(t).values(reference=reference, recipient_key=key, **values))
            else:
                conn.execute(update(t).where(t.c.id == existing.id).values(**values))
