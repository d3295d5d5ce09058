"""The mail outbox (pledge.outbox): queued encrypted, sent once, retried with backoff, given up
visibly, and delivered by the CLI that queued it. Real stores (SQLite, PostgreSQL and MariaDB:
the claim is one ``UPDATE … RETURNING`` in autocommit on the first two, a transaction on MariaDB)
and a real SMTP sink."""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import insert, select
from typer.testing import CliRunner

from pledge.cli import app
from pledge.devmail import DevMail, free_port
from pledge.engine import Engine
from pledge.notify import EmailTemplate, Notifier
from pledge.outbox import BATCH, RELAY_PAUSE, backoff
from pledge.store import Store, alembic_config
from pledge.store.tables.notify import email_deliveries
from pledge.store.tables.outbox import outbox
from tests.requests_support import START, Clock, deployment, make_engine, smtp_sink, some_users
from tests.services import DeadRelay

HELLO = EmailTemplate("test.hello", "Hello {name}", "Hello {name},\nthis is message {n}.\n")
runner = CliRunner()


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return deployment(tmp_path_factory.mktemp("outbox"), "omni-one", users=10)


def engine_on(cfg: Path, url: str, port: int, **settings: object) -> Engine:
    return make_engine(cfg, Clock(START), port, database_url=url, mail_mode="outbox", **settings)


def test_a_queued_message_is_encrypted_sent_once_and_then_cleared(cfg: Path, any_db_url: str) -> None:
    with smtp_sink() as sink:
        engine = engine_on(cfg, any_db_url, sink.port)
        try:
            notifier = Notifier(engine, rate_per_second=0)
            assert notifier.send("ann@example.org", HELLO, "en", {"name": "Ann", "n": 1}, reference="t:1",
                                 headers={"X-Pledge-Test": "yes"})
            # the same message again while it waits: not a second one; the waiting copy reads as the newest
            assert not notifier.send("ann@example.org", HELLO, "en", {"name": "Ann", "n": 2}, reference="t:1",
                                     headers={"X-Pledge-Test": "yes"})
            with engine.store.connect() as conn:
                [row] = conn.execute(select(outbox)).all()
            assert row.status == "queued" and row.message is not None
            assert b"ann@example.org" not in row.message and b"Hello" not in row.message  # encrypted
            assert sink.messages() == []  # nothing sent by send(): no sender runs in this process

            got = engine.outbox.deliver_due()
            assert got.sent == 1 and not got.stopped
            [msg] = sink.messages()
            assert msg.recipients == ("ann@example.org",) and "message 2." in msg.body
            assert b"X-Pledge-Test: yes" in msg.raw
            with engine.store.connect() as conn:
                [row] = conn.execute(select(outbox)).all()
            assert row.status == "sent" and row.message is None and row.sent_at is not None
            assert row.recipient_key == notifier.key("ann@example.org")

            # sent once, ever: again for the same reference changes nothing
            assert not notifier.send("ann@example.org", HELLO, "en", {"name": "Ann", "n": 3}, reference="t:1")
            assert engine.outbox.deliver_due().sent == 0 and len(sink.messages()) == 1
        finally:
            engine.close()


def test_two_senders_on_one_store_never_send_a_message_twice(cfg: Path, any_db_url: str) -> None:
    with smtp_sink() as sink:
        one, two = engine_on(cfg, any_db_url, sink.port), engine_on(cfg, any_db_url, sink.port)
        try:
            notifier = Notifier(one, rate_per_second=0)
            addresses = [f"person{i}@example.org" for i in range(40)]
            for i, address in enumerate(addresses):
                notifier.send(address, HELLO, "en", {"name": "P", "n": i}, reference=f"race:{i}")
            barrier = threading.Barrier(2)
            sent: list[int] = []

            def run(engine: Engine) -> None:
                barrier.wait()
                sent.append(engine.outbox.deliver_due().sent)

            threads = [threading.Thread(target=run, args=(e,)) for e in (one, two)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert sum(sent) == 40
            got = Counter(r for m in sink.messages() for r in m.recipients)
            assert set(got) == set(addresses) and set(got.values()) == {1}
        finally:
            one.close()
            two.close()


def test_one_look_for_due_mail_takes_a_batch_and_a_full_batch_means_another_look(cfg: Path, tmp_path: Path) -> None:
    with smtp_sink() as sink:
        engine = engine_on(cfg, f"sqlite:///{tmp_path / 'store.db'}", sink.port)
        try:
            notifier = Notifier(engine, rate_per_second=0)
            for i in range(BATCH + 10):
                notifier.send(f"p{i}@example.org", HELLO, "en", {"name": "P", "n": i}, reference=f"many:{i}")
            assert engine.outbox.deliver_due().sent == BATCH + 10
            assert len(sink.messages()) == BATCH + 10 and engine.outbox.counts()["queued"] == 0
        finally:
            engine.close()


def test_a_relay_that_is_down_means_retries_with_backoff_then_a_visible_failure(cfg: Path, any_db_url: str) -> None:
    port = free_port()  # nothing listens here yet
    engine = engine_on(cfg, any_db_url, port, mail_attempts=3, mail_retry_after=60)
    sink: DevMail | None = None
    try:
        notifier = Notifier(engine, rate_per_second=0)
        assert notifier.send("bob@example.org", HELLO, "en", {"name": "Bob", "n": 1}, reference="down:1")
        now = engine.outbox.clock()
        first = engine.outbox.deliver_due(now)
        assert first.retrying == 1 and first.stopped
        [row] = engine.outbox.rows()
        assert row["status"] == "queued" and row["attempts"] == 1 and "Connection" in row["last_error"]
        wait = row["next_attempt_at"] - now
        assert timedelta(seconds=59) < wait <= timedelta(seconds=61)
        assert engine.outbox.deliver_due(now).retrying == 0  # not due yet: no attempt
        assert [backoff(n, 60) for n in (1, 2, 3, 7, 8)] == [60, 120, 240, 3600, 3600]

        engine.outbox.deliver_due(now + timedelta(minutes=2))  # second attempt
        got = engine.outbox.deliver_due(now + timedelta(hours=1))  # third: the last
        assert got.failed == 1
        [row] = engine.outbox.rows()
        assert row["status"] == "failed" and row["attempts"] == 3
        assert engine.outbox.counts()["failed"] == 1
        with engine.store.connect() as conn:
            assert conn.execute(select(outbox.c.message)).scalar() is None  # given up: content gone

        listed = runner.invoke(app, ["mail", "list", "-c", str(cfg), "--status", "failed", "--format", "json"],
                               env={**os.environ, "PLEDGE_DATABASE_URL": any_db_url})
        assert listed.exit_code == 0, listed.output
        data = json.loads(listed.stdout)
        assert data["outbox"]["failed"] == 1 and data["messages"][0]["reference"] == "down:1"
        assert "bob@example.org" not in listed.stdout

        # the relay is back; sending the same message again revives it
        sink = DevMail("127.0.0.1", port).start()
        assert notifier.send("bob@example.org", HELLO, "en", {"name": "Bob", "n": 2}, reference="down:1")
        assert engine.outbox.deliver_due().sent == 1
        [msg] = sink.messages()
        assert "message 2." in msg.body
    finally:
        if sink is not None:
            sink.stop()
        engine.close()


def test_the_cli_sends_what_it_queued_and_says_what_is_left(cfg: Path, tmp_path: Path) -> None:
    person = some_users(cfg, 1)[0]["email"]
    port = free_port()
    env = {**os.environ, "PLEDGE_SMTP_PORT": str(port), "PLEDGE_ENVIRONMENT": "development",
           "PLEDGE_MAIL_TIMEOUT": "2", "PLEDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}"}
    opened = runner.invoke(app, ["requests", "open", "-c", str(cfg), "--kind", "access", "--email", person,
                                 "--channel", "post"], env=env)
    assert opened.exit_code == 0, opened.output
    assert "2 message(s) could not be sent yet" in opened.output and "pledge mail send-due" in opened.output

    listed = runner.invoke(app, ["mail", "list", "-c", str(cfg), "--format", "json"], env=env)
    assert listed.exit_code == 0, listed.output
    data = json.loads(listed.stdout)
    assert data["outbox"]["queued"] == 2
    tried = {m["template"]: m["attempts"] for m in data["messages"]}
    assert tried == {"request.received": 1, "request.code": 0}  # the relay refused the first: the round ended

    with smtp_sink() as sink:
        env["PLEDGE_SMTP_PORT"] = str(sink.port)
        due = runner.invoke(app, ["mail", "send-due", "-c", str(cfg), "--format", "json"], env=env)
        assert due.exit_code == 0, due.output
        assert json.loads(due.stdout)["sent"] == 1  # the code; the receipt waits for its retry time
        now = runner.invoke(app, ["mail", "send-due", "-c", str(cfg), "--all", "--format", "json"], env=env)
        assert now.exit_code == 0, now.output
        assert json.loads(now.stdout)["sent"] == 1 and json.loads(now.stdout)["outbox"]["sent"] == 2
        assert sorted("code" in m.subject for m in sink.messages()) == [False, True]

        # with the relay up, a command's mail is gone before it ends
        again = runner.invoke(app, ["requests", "open", "-c", str(cfg), "--kind", "erasure", "--email", person,
                                    "--channel", "post"], env=env)
        assert again.exit_code == 0, again.output
        assert "could not be sent" not in again.output and len(sink.messages()) == 4


def test_deliveries_recorded_before_the_outbox_still_count_as_sent(cfg: Path, any_db_url: str) -> None:
    """A store from before the outbox (``email_deliveries``): migration 0042 copies what it
    shows as sent into the outbox, so the same message is never sent again, while one it
    shows as failed still goes out."""
    store = Store(any_db_url)
    with store.engine.connect() as conn, conn.begin():
        command.downgrade(alembic_config(conn), "0031_outbox")  # the store as it was before 0042
    with smtp_sink() as sink:
        engine = engine_on(cfg, f"sqlite:///{cfg.parent / 'keys-only.db'}", sink.port)  # its keys, not its store
        key = Notifier(engine, rate_per_second=0).key
        engine.close()
        with store.engine.begin() as conn:
            conn.execute(insert(email_deliveries), [
                {"at": START, "reference": r, "recipient_key": key(a), "template": HELLO.name, "lang": "en",
                 "status": st, "message_id": f"<{r}@example.org>"}
                for r, a, st in (("old:1", "ann@example.org", "sent"), ("old:2", "bob@example.org", "failed"),
                                 ("old:3", "cy@example.org", "sent"))])
            # a copy the outbox still holds as failed, of a message the old record shows as sent
            conn.execute(insert(outbox).values(reference="old:3", recipient_key=key("cy@example.org"),
                                               template=HELLO.name, lang="en", status="failed", message=b"x",
                                               attempts=3, created_at=START))
        assert not store.is_current()
        assert store.upgrade() == ["0042_outbox_legacy"]
        store.dispose()

        engine = engine_on(cfg, any_db_url, sink.port)
        try:
            with engine.store.connect() as conn:
                rows = {r.reference: r for r in conn.execute(select(outbox))}
            assert {r: (rows[r].status, rows[r].message) for r in rows} == {
                "old:1": ("sent", None), "old:3": ("sent", None)}
            assert rows["old:1"].message_id == "<old:1@example.org>" and rows["old:1"].sent_at is not None
            notifier = Notifier(engine, rate_per_second=0)
            for address, ref in (("ann@example.org", "old:1"), ("cy@example.org", "old:3")):
                assert not notifier.send(address, HELLO, "en", {"name": "X", "n": 1}, reference=ref)
            assert notifier.send("bob@example.org", HELLO, "en", {"name": "Bob", "n": 1}, reference="old:2")
            assert engine.outbox.deliver_due(waiting=True).sent == 1
            assert [m.recipients for m in sink.messages()] == [("bob@example.org",)]
        finally:
            engine.close()


def test_a_round_claims_and_marks_sent_a_few_rows_per_statement(cfg: Path, any_db_url: str) -> None:
    """#19: the sender claims up to ``CLAIM`` rows in one statement and marks the ones sent in
    one (MariaDB, which has no ``UPDATE … RETURNING``, still claims row by row); every message
    goes out once and every row ends sent, its message cleared."""
    from sqlalchemy import event

    from pledge.outbox import CLAIM

    with smtp_sink() as sink:
        engine = engine_on(cfg, any_db_url, sink.port)
        try:
            notifier = Notifier(engine, rate_per_second=0)
            n = 2 * CLAIM + 2
            for i in range(n):
                notifier.send(f"q{i}@example.org", HELLO, "en", {"name": "Q", "n": i}, reference=f"few:{i}")
            updates: list[str] = []
            event.listen(engine.store.engine, "before_cursor_execute",
                         lambda _c, _cur, stmt, *_: updates.append(stmt) if stmt.lstrip().startswith("UPDATE outbox")
                         else None)
            assert engine.outbox.deliver_due().sent == n
            chunks = -(-n // CLAIM)
            claims = [u for u in updates if "attempts" in u.split("WHERE")[0]]
            marks = [u for u in updates if "sent_at" in u.split("WHERE")[0]]
            if engine.store.engine.dialect.update_returning:
                assert (len(claims), len(marks)) == (chunks, chunks), updates
            else:
                assert len(claims) == n and len(marks) == chunks, updates
            got = Counter(r for m in sink.messages() for r in m.recipients)
            assert len(got) == n and set(got.values()) == {1}
            with engine.store.connect() as conn:
                rows = conn.execute(select(outbox.c.status, outbox.c.message, outbox.c.claimed_until,
                                           outbox.c.sent_at)).all()
            assert all(r.status == "sent" and r.message is None and r.claimed_until is None and r.sent_at
                       for r in rows), rows
        finally:
            engine.close()


def test_rows_claimed_but_not_tried_when_the_relay_stops_wait_again_untouched(
        cfg: Path, any_db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The relay drops the connection at the second message of a claimed few: the first is
    sent, the second waits for its retry (one attempt), and the ones after it, never tried,
    wait again as they were (no attempt counted, no claim left), and go out on the next round."""
    import smtplib

    from pledge.outbox import CLAIM, Outbox

    with smtp_sink() as sink:
        engine = engine_on(cfg, any_db_url, sink.port, mail_retry_after=60)
        try:
            notifier = Notifier(engine, rate_per_second=0)
            for i in range(CLAIM):
                notifier.send(f"r{i}@example.org", HELLO, "en", {"name": "R", "n": i}, reference=f"drop:{i}")
            real_connect = Outbox.connect
            calls = {"n": 0}

            def dropping(self: Outbox) -> smtplib.SMTP:
                smtp = real_connect(self)
                real_send = smtp.sendmail

                def sendmail(*a: object, **kw: object) -> object:
                    calls["n"] += 1
                    if calls["n"] == 2:
                        raise smtplib.SMTPServerDisconnected("the relay went away")
                    return real_send(*a, **kw)  # type: ignore[arg-type]

                smtp.sendmail = sendmail  # type: ignore[method-assign]
                return smtp

            monkeypatch.setattr(Outbox, "connect", dropping)
            got = engine.outbox.deliver_due()
            assert (got.sent, got.retrying, got.stopped) == (1, 1, True)
            with engine.store.connect() as conn:
                rows = {r.reference: r for r in conn.execute(select(outbox)).all()}
            assert rows["drop:0"].status == "sent"
            assert rows["drop:1"].status == "queued" and rows["drop:1"].attempts == 1 and rows["drop:1"].last_error
            rest = [rows[f"drop:{i}"] for i in range(2, CLAIM)]
            assert all(r.status == "queued" and r.attempts == 0 and r.claimed_until is None and r.message
                       for r in rest), rest
            monkeypatch.setattr(Outbox, "connect", real_connect)
            assert engine.outbox.deliver_due().sent == CLAIM - 2  # the untried ones, due as they were
            got_to = Counter(r for m in sink.messages() for r in m.recipients)
            assert set(got_to.values()) == {1} and len(got_to) == CLAIM - 1
        finally:
            engine.close()


def test_a_relay_that_stopped_answering_is_asked_again_after_a_growing_pause_not_at_every_message(
        cfg: Path, tmp_path: Path) -> None:
    import time

    relay = DeadRelay(hang=False)  # hangs up at once
    engine = engine_on(cfg, f"sqlite:///{tmp_path / 'store.db'}", relay.port)
    sink: DevMail | None = None
    poll = 0.1
    try:
        notifier = Notifier(engine, rate_per_second=0)
        engine.outbox.start_sender(every=poll)
        notifier.send("p0@example.org", HELLO, "en", {"name": "P", "n": 0}, reference="pause:0")
        deadline = time.monotonic() + 10
        while not relay.times and time.monotonic() < deadline:
            time.sleep(0.01)
        assert relay.times, "the sender never reached the relay"
        began = time.monotonic()
        for i in range(1, 41):  # 40 messages over about 2 s, each waking the sender
            notifier.send(f"p{i}@example.org", HELLO, "en", {"name": "P", "n": i}, reference=f"pause:{i}")
            time.sleep(0.05)
        tries = [t for t in relay.times if t >= began]
        # pauses of 0.1, 0.2, 0.4, 0.8 s... (up to 3 s): five or six tries in these 2 s, not one per message
        assert 2 <= len(tries) <= 7, tries
        gaps = [b - a for a, b in zip(tries, tries[1:], strict=False)]
        assert gaps[0] >= poll * 0.9 and all(b >= a * 1.5 for a, b in zip(gaps, gaps[1:], strict=False)), gaps
        assert engine.outbox.counts()["queued"] == 41  # nothing lost while the relay was down

        # the relay recovers on the same address: what waits untouched goes within the longest
        # pause; each failed round counted a try on the message it tried (retried later)
        relay.close()
        sink = DevMail("127.0.0.1", relay.port).start()
        deadline = time.monotonic() + poll * RELAY_PAUSE + 10

        def settled() -> list[dict[str, object]]:
            return [r for r in engine.outbox.rows() if r["status"] != "sent" and not r["attempts"]]

        while settled() and time.monotonic() < deadline:
            time.sleep(0.05)
        rows = engine.outbox.rows()
        sent = [r for r in rows if r["status"] == "sent"]
        assert all(r["status"] == "queued" and r["attempts"] == 1 and r["last_error"] for r in rows
                   if r["status"] != "sent"), rows
        assert len(sink.messages()) == len(sent) >= 41 - len(relay.times) - 1
    finally:
        engine.outbox.stop_sender()
        relay.close()
        if sink is not None:
            sink.stop()
        engine.close()
