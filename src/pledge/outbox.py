"""The mail outbox: a page never waits on SMTP.

:class:`pledge.notify.Notifier` renders a message and queues it here, as a row of the
store's ``outbox`` table (:mod:`pledge.store.tables.outbox`), then returns. The whole
message (sender, recipient, raw MIME with any extra headers) is encrypted with the
deployment's Vault; once it is sent, or given up, the content is cleared and only the
"sent once" record stays: reference, a keyed hash of the recipient, template, ``sent_at``.

A sender (:meth:`Outbox.deliver_due`) claims due rows one at a time with a conditional
``UPDATE`` (``queued`` → ``sending``, or a ``sending`` claim whose lease ran out), so two
processes never send one message twice; it sends over SMTP with a socket timeout
(``mail_timeout``), marks the row sent, or puts it back with a later ``next_attempt_at``:
``mail_retry_after`` seconds, doubled after each failed attempt, at most an hour. After
``mail_attempts`` attempts, or a permanent refusal (5xx for the recipient), the row is
``failed``. A relay that does not answer ends the round: the rest waits for the next one.

Who sends:

- the web app: a background thread (:class:`Sender`) started with the app
  (:func:`attach`, its lifespan) or, where the host runs no lifespan, on the first
  queued message; new mail wakes it at once, and it looks again every ``mail_poll``
  seconds for retries and for mail other processes queued;
- Celery workers: the same thread in each worker, and beat's ``pledge.mail`` task;
- the CLI: each command delivers what it queued as it ends (:meth:`Outbox.flush`) and
  says what is still queued; ``pledge mail send-due`` and ``pledge mail list``;
- ``mail_mode = "inline"`` (the default under environment ``test``): each message is
  still queued, then delivered at once on the caller's thread.
"""

from __future__ import annotations

import base64
import logging
import smtplib
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses, parseaddr
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Select, func, select, update

from pledge import outbox_sql as sql
from pledge.store.bound import set_params
from pledge.store.tables.outbox import outbox as table

if TYPE_CHECKING:
    from pledge.context import Context
    from pledge.keys import Keyring
    from pledge.mime import TextMail
    from pledge.rights.vault import Vault
    from pledge.settings import Settings
    from pledge.store import Store

__all__ = ["Delivery", "Outbox", "Queued", "Sender", "attach", "backoff"]

log = logging.getLogger("pledge.outbox")

#: the longest wait between two attempts at one message
MAX_BACKOFF_S = 3600.0
#: how long a claim holds a row; a sender that died mid-send gives it up after this
LEASE = timedelta(minutes=5)
BATCH = 50
#: rows claimed together (one statement) and marked sent together: few enough that a relay
#: slow at every step (``mail_timeout`` at each of its four waits) sends them inside a lease
CLAIM = 5
#: after a wake, the sender waits this long for more mail, to send it in the same round
GATHER = 0.05
#: a relay that stopped answering is asked again after a pause, doubled at each failed round
#: from one poll up to this many polls; new mail does not wake the sender before then
RELAY_PAUSE = 30
STATES = ("queued", "sending", "sent", "failed")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; the outbox writes UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def backoff(attempts: int, first: float) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: first, twice that, four
    times … at most an hour."""
    return float(min(first * 2 ** max(attempts - 1, 0), MAX_BACKOFF_S))


def _permanent(exc: BaseException) -> bool:
    """The relay refused this message for good (a 5xx for the recipient or the content)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPDataError) and exc.smtp_code >= 500


def _relay_down(exc: BaseException) -> bool:
    """The failure is the relay's, not this message's: stop the round."""
    return not isinstance(exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPDataError)


@dataclass(frozen=True)
class Queued:
    """A queued message's row and what queueing did: ``new``; ``refreshed`` (a copy still
    waiting now holds this message) or ``revived`` (a failed copy is queued again with it);
    or ``sending`` / ``sent``: the state of the copy that is already on its way."""

    id: int
    status: str

    @property
    def fresh(self) -> bool:
        """This message is waiting to be sent."""
        return self.status in ("new", "refreshed", "revived")


@dataclass
class Delivery:
    """What one delivery round did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    #: the relay did not answer: the round ended early
    stopped: bool = False

    def add(self, other: Delivery) -> None:
        self.sent += other.sent
        self.retrying += other.retrying
        self.failed += other.failed
        self.stopped = self.stopped or other.stopped

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "retrying": self.retrying, "failed": self.failed, "stopped": self.stopped}


class Outbox:
    """One engine's outbox (``engine.outbox``): queue, deliver, and the sender thread."""

    def __init__(self, store: Store, settings: Settings, keys: Callable[[], Keyring], *,
                 clock: Callable[[], datetime] = utcnow, autostart: bool = False) -> None:
        self.store = store
        self.settings = settings
        self.keys = keys  # the deployment's keys, loaded when the first message is sealed
        #: wall-clock time: retries are about the relay, not the engine's (movable) clock
        self.clock = clock
        #: start the sender on the first queued message (a worker's outbox; the web app's
        #: starts with the app, or on the first message when no lifespan runs)
        self.autostart = autostart
        self._mine: set[int] = set()  # rows this process queued and has not finished
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._sender: Sender | None = None

    @property
    def inline(self) -> bool:
        """Deliver each message at once on the caller's thread (``mail_mode``)."""
        s = self.settings
        return s.mail_mode == "inline" or (s.mail_mode is None and s.environment == "test")

    @cached_property
    def vault(self) -> Vault:
        from pledge.rights.vault import Vault

        return Vault(self.keys())

    # -- queueing ---------------------------------------------------------------------------
    def _seal(self, message: TextMail) -> bytes:
        to = [addr for _, addr in getaddresses(message.get_all("To", []) or []) if addr]
        sender = parseaddr(message["From"] or "")[1] or self.settings.mail_from
        raw = message.as_bytes()
        return self.vault.seal({"from": sender, "to": to, "raw": base64.b64encode(raw).decode("ascii")})

    def _open(self, sealed: bytes) -> tuple[str, list[str], bytes]:
        data = self.vault.open(sealed)
        return str(data["from"]), [str(a) for a in data["to"]], base64.b64decode(data["raw"])

    def put(self, message: TextMail, *, reference: str, recipient_key: str, template: str, lang: str,
            other_keys: Sequence[str] = (), conn: Connection | None = None, deliver: bool = True) -> Queued:
        """Queue ``message`` once per (reference, recipient).

        ``other_keys`` are the recipient's keys under older subject keys: a row under any
        of them is the same message. A copy still waiting, or one that failed, takes this
        message (the newest address and content) and waits again; one being sent or sent
        is left alone. With ``conn`` the row is written in the caller's transaction, and
        goes out when the sender next looks (inline mode too: nothing is sent before the
        caller commits).
        ``deliver=False`` leaves the row to the caller (:meth:`deliver`): bulk runs send
        their own, at their own rate."""
        sealed = self._seal(message)
        now = self.clock()
        keys = [recipient_key, *other_keys]
        fresh = {"status": "queued", "message": sealed, "message_id": str(message["Message-ID"] or "")[:200] or None,
                 "attempts": 0, "next_attempt_at": now, "claimed_until": None, "last_error": None,
                 "template": template[:100], "lang": lang[:5]}
        values = {"reference": reference, "recipient_key": recipient_key, "created_at": now, **fresh}

        def insert_first(c: Connection) -> Queued | None:
            """With one key, the unique (reference, recipient) finds any copy: insert without
            reading first (#19), and look only when a copy is there."""
            if other_keys:
                return None
            new_id = sql.insert_once(c, values, self.store.run)
            return None if new_id is None else Queued(new_id, "new")

        def write(c: Connection) -> Queued:
            row = c.execute(select(table.c.id, table.c.status).where(
                table.c.reference == reference, table.c.recipient_key.in_(keys)).order_by(table.c.id)).first()
            if row is not None:
                if row.status == "failed":
                    c.execute(update(table).where(table.c.id == row.id, table.c.status == "failed").values(**fresh))
                    return Queued(int(row.id), "revived")
                if row.status == "queued":  # still waiting: it goes out as written now
                    res = c.execute(update(table).where(table.c.id == row.id, table.c.status == "queued")
                                    .values(message=sealed, message_id=fresh["message_id"], next_attempt_at=now))
                    if res.rowcount == 1:
                        return Queued(int(row.id), "refreshed")
                return Queued(int(row.id), str(row.status))
            new_id = sql.insert_once(c, values, self.store.run)
            if new_id is None:  # queued a moment ago by another thread or process
                again = c.execute(select(table.c.id, table.c.status).where(
                    table.c.reference == reference, table.c.recipient_key == recipient_key)).one()
                return Queued(int(again.id), str(again.status))
            return Queued(new_id, "new")

        if conn is not None:
            queued = insert_first(conn) or write(conn)
        else:
            first = None
            if not other_keys:
                with self.store.single() as c:  # the insert alone: one statement, its own transaction
                    first = insert_first(c)
            if first is not None:
                queued = first
            else:
                with self.store.begin() as c:
                    queued = write(c)
        if queued.fresh:
            with self._lock:
                self._mine.add(queued.id)
            if conn is None and deliver:
                if self.inline:
                    self.deliver([queued.id], force=True)
                else:
                    self.wake()
        return queued

    def status_of(self, ids: Sequence[int]) -> dict[int, str]:
        if not ids:
            return {}
        with self.store.connect() as conn:
            return {int(r.id): str(r.status) for r in conn.execute(
                select(table.c.id, table.c.status).where(table.c.id.in_(list(ids))))}

    @staticmethod
    def sent_keys_query(reference: str) -> Select[tuple[str]]:
        """The recipient keys whose message for ``reference`` was sent."""
        return select(table.c.recipient_key).where(table.c.reference == reference, table.c.status == "sent")

    def committed(self, queued: Queued | None) -> None:
        """A message queued in a caller's transaction (``put(conn=…)``) is now committed: send
        it (inline mode) or wake the sender."""
        if queued is None or not queued.fresh:
            return
        if self.inline:
            self.deliver([queued.id], force=True)
        else:
            self.wake()

    # -- delivering -------------------------------------------------------------------------
    def _due(self, now: datetime, limit: int, *, waiting: bool = False) -> list[int]:
        params = {"clock": self.clock()} if waiting else {"now": now, "clock": self.clock()}
        with self.store.read() as conn:
            return [int(r[0]) for r in conn.execute(sql.due_query(waiting, limit), params)]

    def _claim(self, oid: int, *, force: bool) -> tuple[int, bytes | None] | None:
        """Take the row for this sender: ``(attempts, sealed message)``, or None when it is not
        (or no longer) waiting. ``force`` takes a queued row before its retry time."""
        now = self.clock()
        params = {"oid": oid, "now": now, "lease_end": now + LEASE}
        if self.store.engine.dialect.update_returning:  # one statement, its own transaction (#19)
            with self.store.single() as conn:
                row = conn.execute(sql.take_query(force, True), params).first()
            return None if row is None else (int(row.attempts), row.message)
        with self.store.begin() as conn:  # MariaDB: no UPDATE … RETURNING
            if conn.execute(sql.take_query(force, False), params).rowcount != 1:
                return None
            row = conn.execute(select(table.c.attempts, table.c.message).where(table.c.id == oid)).one()
        return int(row.attempts), row.message

    def _claim_many(self, oids: Sequence[int], *, force: bool) -> list[tuple[int, int, bytes | None]]:
        """:meth:`_claim` for a few rows at once: ``(id, attempts, sealed message)`` of each
        row taken, in the order of ``oids``. One statement where the store has ``UPDATE …
        RETURNING``; elsewhere (MariaDB) one claim per row."""
        if len(oids) == 1 or not self.store.engine.dialect.update_returning:
            return [(oid, *got) for oid in oids if (got := self._claim(oid, force=force)) is not None]
        now = self.clock()
        with self.store.single() as conn:
            rows = conn.execute(sql.take_many_query(force), {"oids": list(oids), "now": now,
                                                          "lease_end": now + LEASE}).all()
        taken = {int(r.id): (int(r.attempts), r.message) for r in rows}
        return [(oid, *taken[oid]) for oid in oids if oid in taken]

    def _mark_sent(self, oids: list[int]) -> None:
        if not oids:
            return
        if len(oids) == 1:
            self._finish(oids[0], status="sent", sent_at=self.clock(), message=None, next_attempt_at=None,
                         last_error=None)
            return
        with self.store.single() as conn:
            conn.execute(sql.SENT_MANY, {"oids": oids, "v_sent_at": self.clock()})
        with self._lock:
            self._mine.difference_update(oids)

    def _release(self, oids: list[int]) -> None:
        if oids:
            with self.store.single() as conn:
                conn.execute(sql.RELEASE_MANY, {"oids": oids})

    def _finish(self, oid: int, **values: Any) -> None:
        with self.store.single() as conn:
            conn.execute(sql.finish_query(tuple(sorted(values))), {"oid": oid, **set_params(values)})
        if values.get("status") in ("sent", "failed"):
            with self._lock:
                self._mine.discard(oid)

    def _failed(self, oid: int, attempts: int, error: str, *, permanent: bool) -> str:
        s = self.settings
        if permanent or attempts >= s.mail_attempts:
            self._finish(oid, status="failed", message=None, next_attempt_at=None, last_error=error[:1000])
            log.warning("mail %s given up after %s attempt(s): %s", oid, attempts, error)
            return "failed"
        later = self.clock() + timedelta(seconds=backoff(attempts, s.mail_retry_after))
        self._finish(oid, status="queued", next_attempt_at=later, last_error=error[:1000])
        return "queued"

    def connect(self) -> smtplib.SMTP:
        """An SMTP session on the settings' relay; every socket wait ends after ``mail_timeout``."""
        s = self.settings
        smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.mail_timeout)
        try:
            if s.smtp_tls:
                smtp.starttls()
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    @staticmethod
    def _close(smtp: smtplib.SMTP) -> None:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def deliver(self, ids: Sequence[int], *, force: bool = False, each: Callable[[int, str], None] | None = None,
                pace: Callable[[], None] | None = None) -> Delivery:
        """Send these rows (those still waiting), in order, over one SMTP session.

        ``each(id, status)`` hears ``sent``, ``queued`` (to be retried) or ``failed`` for
        each row this call attempted; ``pace()`` is called before each send (a rate)."""
        out = Delivery()
        smtp: smtplib.SMTP | None = None
        sent: list[int] = []  # sent, to be marked so together (#19)
        untried: list[int] = []  # claimed, not tried yet
        try:
            for at in range(0, len(ids), CLAIM):
                if out.stopped:
                    break
                claimed = self._claim_many(ids[at:at + CLAIM], force=force)
                untried = [oid for oid, _, _ in claimed]
                for oid, attempts, sealed in claimed:
                    untried.remove(oid)
                    smtp = self._send_one(oid, attempts, sealed, smtp, out, sent, each, pace)
                    if out.stopped:
                        break
                self._mark_sent(sent)
                sent = []
        finally:
            try:
                self._mark_sent(sent)
                self._release(untried)
            finally:
                if smtp is not None:
                    self._close(smtp)
        return out

    def _send_one(self, oid: int, attempts: int, sealed: bytes | None, smtp: smtplib.SMTP | None, out: Delivery,
                  sent: list[int], each: Callable[[int, str], None] | None,
                  pace: Callable[[], None] | None) -> smtplib.SMTP | None:
        """Send one claimed row over ``smtp`` (connected first when None); returns the session
        to go on with (None after a failure closed it). A sent row joins ``sent``; a failure
        is recorded at once, after the rows sent before it, and a relay that stopped
        answering sets ``out.stopped``."""
        try:
            if sealed is None:
                raise ValueError("the message is gone")
            sender, to, raw = self._open(sealed)
        except ValueError as exc:  # DecryptionError too: no key opens it
            self._failed(oid, attempts, f"cannot read the queued message: {exc}", permanent=True)
            out.failed += 1
            if each:
                each(oid, "failed")
            return smtp
        if pace:
            pace()
        try:
            if smtp is None:
                smtp = self.connect()
            smtp.sendmail(sender, to, raw)
        except (smtplib.SMTPException, OSError) as exc:
            self._mark_sent(sent)
            sent.clear()
            state = self._failed(oid, attempts, f"{type(exc).__name__}: {exc}", permanent=_permanent(exc))
            if state == "failed":
                out.failed += 1
            else:
                out.retrying += 1
            if each:
                each(oid, state)
            if smtp is not None:
                self._close(smtp)
            out.stopped = _relay_down(exc)
            return None
        sent.append(oid)
        out.sent += 1
        if each:
            each(oid, "sent")
        return smtp

    def deliver_due(self, now: datetime | None = None, *, waiting: bool = False) -> Delivery:
        """Send every message that is due (oldest first), until none is left or the relay
        stops answering. ``waiting`` sends the ones still waiting for their retry time too.
        A look that finds fewer than a batch has found all that was due: a message queued
        while they are sent wakes the sender again (#19: no second look per wake)."""
        out = Delivery()
        seen: set[int] = set()
        while True:
            due = self._due(now or self.clock(), BATCH, waiting=waiting)
            ids = [i for i in due if i not in seen]
            if not ids:
                return out
            seen.update(ids)
            got = self.deliver(ids, force=waiting or now is not None)  # due as of ``now``: take them
            out.add(got)
            if got.stopped or len(due) < BATCH:
                return out

    def flush(self, timeout: float | None = None) -> int:
        """Deliver now what this process queued and has not sent (retry times or not), and
        wait up to ``timeout`` seconds for any of it another thread is sending. Returns how
        many of those messages are still queued (they are retried later)."""
        with self._lock:
            ids = sorted(self._mine)
        if not ids:
            return 0
        self.deliver(ids, force=True)
        deadline = time.monotonic() + (self.settings.mail_timeout * 2 if timeout is None else timeout)
        states = self.status_of(ids)
        while any(s == "sending" for s in states.values()) and time.monotonic() < deadline:
            time.sleep(0.02)
            states = self.status_of(ids)
        with self._lock:
            self._mine.difference_update(i for i, s in states.items() if s not in ("queued", "sending"))
        return sum(1 for s in states.values() if s in ("queued", "sending"))

    # -- looking --------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        q = select(table.c.status, func.count()).group_by(table.c.status)
        with self.store.connect() as conn:
            found = {str(s): int(n) for s, n in conn.execute(q)}
        return {s: found.get(s, 0) for s in STATES}

    def rows(self, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The newest rows (never their content), optionally of one status."""
        cols = [table.c.id, table.c.reference, table.c.template, table.c.lang, table.c.status, table.c.attempts,
                table.c.created_at, table.c.next_attempt_at, table.c.sent_at, table.c.last_error]
        q = select(*cols).order_by(table.c.id.desc()).limit(limit)
        if status is not None:
            q = q.where(table.c.status == status)
        with self.store.connect() as conn:
            out = []
            for r in conn.execute(q):
                row = dict(r._mapping)
                for k in ("created_at", "next_attempt_at", "sent_at"):
                    row[k] = _aware(row[k])
                out.append(row)
        return out

    # -- the background sender --------------------------------------------------------------
    def wake(self) -> None:
        """New mail: the sender looks at once (started first when ``autostart`` asks)."""
        if self._sender is None and self.autostart:
            self.start_sender()
        self._wake.set()

    @property
    def sending(self) -> bool:
        return self._sender is not None

    def start_sender(self, every: float | None = None) -> Sender:
        with self._lock:
            if self._sender is None:
                self._sender = Sender(self, self.settings.mail_poll if every is None else every)
                self._sender.start()
            return self._sender

    def stop_sender(self) -> None:
        with self._lock:
            sender, self._sender = self._sender, None
        if sender is not None:
            sender.close()

    def close(self) -> None:
        self.stop_sender()


class Sender:
    """A thread that delivers due mail, woken by new mail and every ``every`` seconds.

    After a round the relay did not answer, it waits before asking again (one poll, doubled
    at each such round up to :data:`RELAY_PAUSE` polls), whatever mail comes meanwhile."""

    def __init__(self, outbox: Outbox, every: float) -> None:
        self.outbox = outbox
        self.every = max(every, 0.05)
        self.stop = threading.Event()
        self.rounds = 0
        self.thread = threading.Thread(target=self._loop, name="pledge-mail", daemon=True)

    def _loop(self) -> None:
        pause = 0.0
        while not self.stop.is_set():
            self.outbox._wake.clear()
            down = False
            try:
                down = self.outbox.deliver_due().stopped
            except Exception:  # a bad round must not stop the sender
                log.exception("mail sender: a round failed; it tries again")
            self.rounds += 1
            if down:
                # the relay is not asked again at every new message while it is down (each
                # try is a connection and three writes): mail queued meanwhile waits (#19)
                pause = min(max(pause * 2, self.every), self.every * RELAY_PAUSE)
                log.warning("mail relay %s:%s is not answering; queued mail is retried in %.1f s",
                            self.outbox.settings.smtp_host, self.outbox.settings.smtp_port, pause)
                self.stop.wait(pause)
                continue
            pause = 0.0
            if self.outbox._wake.wait(self.every) and not self.stop.is_set():
                self.stop.wait(GATHER)  # mail comes in bursts: what follows goes in the same round (#19)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.outbox._wake.set()
        if self.thread is not threading.current_thread():
            self.thread.join(timeout=self.outbox.settings.mail_timeout * 3 + 5)


def attach(app: Any, engine: Context) -> None:
    """The web app's sender: it starts with the app (its lifespan) and stops with it; a
    host that runs no lifespan starts it on the first queued message. Inline mail needs none."""
    box = engine.outbox
    if box.inline:
        return
    box.autostart = True
    inner: Callable[[Any], AbstractAsyncContextManager[Any]] = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        import anyio.to_thread

        box.start_sender()
        try:
            async with inner(a) as state:
                yield state
        finally:
            await anyio.to_thread.run_sync(box.stop_sender)

    app.router.lifespan_context = lifespan
