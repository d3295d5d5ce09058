"""Email: English and Polish templates, queued in the outbox, throttled, resumable, recorded.

A message belongs to a ``reference`` (``campaign:3``, ``request:42:code:1``). Each is one
row of the store's ``outbox`` (:mod:`pledge.outbox`), keyed by the reference and a keyed
HMAC of the address, so the same message is never queued twice, a re-run after a crash
sends only what was not yet sent, and the store never holds the address in clear (the
queued message itself is encrypted, and cleared once sent). Deliveries recorded before
the outbox (``email_deliveries``) were copied into it as sent rows (migration
``0042_outbox_legacy``), so the outbox alone says what went out.

:meth:`Notifier.send` queues one message and returns at once: a background sender
delivers it (inline mode: delivered before ``send`` returns). :meth:`Notifier.send_many`
is for bulk runs (campaigns, breach notices, marketing) from the CLI or a job: it queues
the messages a few at a time and delivers them itself, at the given rate. SMTP host,
port, TLS and credentials come from Settings (``smtp_*``; timeouts and retries ``mail_*``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.utils import format_datetime, make_msgid, parseaddr
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from pledge.branding import brand_of, mail_footer
from pledge.i18n import translator
from pledge.mime import TextMail, address_header
from pledge.retention.ledger import subject_key

if TYPE_CHECKING:
    from pledge.context import Context
    from pledge.outbox import Queued


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


@dataclass(frozen=True)
class Mail:
    """A composed message and what the outbox files it under."""

    to: str
    template: EmailTemplate
    lang: str
    reference: str
    message: TextMail


@dataclass
class Outcome:
    sent: int = 0
    skipped: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "skipped": self.skipped, "failed": self.failed}


class Notifier:
    """Sends templated email through the engine's outbox; one per (reference, address), ever.

    Recipient keys are keyed HMACs under the deployment's subject keys, newest first
    (``engine.keys.subject``): messages are recorded under the newest, and one recorded
    under an older key still counts as sent."""

    #: messages queued before ``send_many`` delivers them (over one SMTP session)
    CHUNK = 20

    def __init__(self, engine: Context, *, rate_per_second: float = 20.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.engine = engine
        self.store = engine.store
        self.settings = engine.settings
        self.subject_keys = tuple(engine.keys.subject)
        if not self.subject_keys:
            raise ValueError("a Notifier needs the deployment's subject keys")
        self.clock = engine.now
        self.outbox = engine.outbox
        self.interval = 1.0 / rate_per_second if rate_per_second > 0 else 0.0
        self.sleep = sleep
        self._last = 0.0

    def key(self, address: str) -> str:
        return subject_key(self.subject_keys[0], "email", address)

    def every_key(self, address: str) -> list[str]:
        """The address's recipient key under every subject key, newest first."""
        return [subject_key(k, "email", address) for k in self.subject_keys]

    def delivered(self, reference: str) -> set[str]:
        """Recipient keys already sent for ``reference``, in one query."""
        with self.store.read() as conn:
            return {str(r[0]) for r in conn.execute(self.outbox.sent_keys_query(reference))}

    def compose(self, to: str, template: EmailTemplate, lang: str, context: Mapping[str, Any]) -> TextMail:
        subject, body = template.render(lang, context)
        brand = brand_of(self.engine)  # every email: the brand's name as the sender, its footer last
        body = body + mail_footer(brand, lang, context.get("preferences_url"), separated="\n-- \n" in body)
        msg = TextMail(body)
        name, sender = parseaddr(self.settings.mail_from)
        msg["From"] = address_header(name or brand.name, sender or self.settings.mail_from)
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = format_datetime(self.clock())
        msg["Message-ID"] = make_msgid(domain=self.settings.mail_from.rpartition("@")[2] or "pledge.localhost")
        msg["Content-Language"] = lang
        return msg

    def _compose(self, to: str, template: EmailTemplate, lang: str, context: Mapping[str, Any],
                 headers: Mapping[str, str] | None) -> TextMail:
        """:meth:`compose` (a subclass may add to it), then the extra ``headers`` as given
        (``List-Unsubscribe`` and the like): they travel in the queued message."""
        msg = self.compose(to, template, lang, context)
        for name, value in (headers or {}).items():
            del msg[name]
            msg[name] = value
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
                  key_of: Callable[[str, Mapping[str, Any]], str] | None = None,
                  headers_of: Callable[[str, Mapping[str, Any]], Mapping[str, str]] | None = None) -> Outcome:
        """Send ``template`` to each (address, context) not yet sent for ``reference``, now.

        The messages go through the outbox a few at a time and are delivered here, at the
        notifier's rate; one that fails stays queued and is retried by the sender (or a
        re-run). ``on_each(address, status)`` hears ``sent``, ``failed`` (queued for a
        retry) or ``skipped`` (sent before) for each message (progress, bookkeeping).
        ``limit`` stops after that many new messages (send in slices).
        ``key_of(address, context)`` gives the message's recipient key instead of the
        address's HMAC: a stable key of the *person*, so a changed address is not a new
        recipient (breach notices, where the newest address is looked up each run).
        ``headers_of(address, context)`` gives extra headers for that message.
        """
        done = self.delivered(reference)
        out = Outcome()
        pending: dict[int, tuple[str, str]] = {}  # outbox id -> (address, recipient key)

        def drain() -> None:
            if not pending:
                return
            attempted: set[int] = set()

            def each(oid: int, state: str) -> None:
                attempted.add(oid)
                address, key = pending[oid]
                if state == "sent":
                    out.sent += 1
                    done.add(key)
                else:
                    out.failed += 1
                if on_each:
                    on_each(address, "sent" if state == "sent" else "failed")

            try:
                self.outbox.deliver(list(pending), force=True, each=each, pace=self._throttle)
            finally:
                rest = [address for oid, (address, _) in pending.items() if oid not in attempted]
                pending.clear()
            for address in rest:  # the relay stopped answering, or another sender holds it: queued
                out.failed += 1
                if on_each:
                    on_each(address, "failed")

        for address, context in messages:
            keys = [key_of(address, context)] if key_of else self.every_key(address)
            if any(k in done for k in keys):
                out.skipped += 1
                if on_each:
                    on_each(address, "skipped")
                continue
            if limit is not None and out.sent + len(pending) >= limit:
                drain()
                if out.sent >= limit:
                    break
            msg = self._compose(address, template, lang, context, headers_of(address, context) if headers_of else None)
            queued = self.outbox.put(msg, reference=reference, recipient_key=keys[0], template=template.name,
                                     lang=lang, other_keys=keys[1:], deliver=False)
            if queued.status == "sent":
                done.add(keys[0])
                out.skipped += 1
                if on_each:
                    on_each(address, "skipped")
                continue
            pending[queued.id] = (address, keys[0])
            if len(pending) >= self.CHUNK:
                drain()
        drain()
        return out

    def send(self, to: str, template: EmailTemplate, lang: str, context: Mapping[str, Any], *,
             reference: str, headers: Mapping[str, str] | None = None) -> bool:
        """Queue one message and return at once (inline mode: deliver it first).

        True when the message is on its way: queued for the sender, or (inline) sent.
        False when it was already queued or sent for this reference, or (inline) the send
        failed (it stays queued for a retry)."""
        keys = self.every_key(to)  # a copy already sent is found by put(): no read first (#19)
        msg = self._compose(to, template, lang, context, headers)
        queued = self.outbox.put(msg, reference=reference, recipient_key=keys[0], template=template.name, lang=lang,
                                 other_keys=keys[1:])
        if queued.status not in ("new", "revived"):  # already on its way (a waiting copy now reads as this one)
            return False
        if self.outbox.inline:
            return self.outbox.status_of([queued.id]).get(queued.id) == "sent"
        return True

    def mail(self, to: str, template: EmailTemplate, lang: str, context: Mapping[str, Any], *,
             reference: str) -> Mail:
        """The message composed now (reads no database), to :meth:`queue` in a transaction later."""
        return Mail(to, template, lang, reference, self._compose(to, template, lang, context, None))

    def queue(self, conn: Connection, mail: Mail) -> Queued | None:
        """Write ``mail`` (made with :meth:`mail` before the transaction: composing reads
        nothing) to the outbox in the caller's transaction ``conn``, unless a copy was sent
        (:meth:`Outbox.put` finds it). It goes out after the commit, once the caller hands
        the result to :meth:`Outbox.committed`. None when a copy is already sent or on its way."""
        keys = self.every_key(mail.to)
        queued = self.outbox.put(mail.message, reference=mail.reference, recipient_key=keys[0],
                                 template=mail.template.name, lang=mail.lang, other_keys=keys[1:], conn=conn)
        return queued if queued.status in ("new", "revived") else None
