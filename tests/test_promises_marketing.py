"""Marketing email Pledge sends: only with the person's consent, and every message with a
one-click unsubscribe that works for that person.

What is expected comes from the seeds, written here: omni-one "You can opt out of marketing
communications at any time by clicking the "unsubscribe" link in any marketing email";
onetagger "Użytkownik może również zrezygnować z subskrypcji wiadomości e-mail, klikając
odpowiedni przycisk w naszych wiadomościach e-mail."; onestepai "by using the unsubscribe
link within each email". The messages are read raw from a real SMTP sink; the link in the
``List-Unsubscribe`` header is posted to the running app the way a mail client does
(RFC 8058), and the next decision must say no.
"""

from __future__ import annotations

from email import message_from_bytes
from email.message import Message
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from pledge.cli import app
from pledge.consent.mailing import MarketingError, send_marketing
from pledge.devmail import DevMail
from pledge.engine import Engine
from pledge.rights.restrict import object_to
from pledge.web.app import create_app
from tests.requests_support import START, Clock, deployment, make_engine, smtp_sink

BASE = "https://privacy.example.test"
runner = CliRunner()


def emails(cfg: Path, table: str, n: int) -> list[str]:
    eng = create_engine(f"sqlite:///{cfg.parent / 'platform.db'}")
    with eng.connect() as conn:
        found = [str(r[0]) for r in conn.execute(text(
            f"SELECT email FROM {table} WHERE status <> 'closed' ORDER BY id LIMIT {n}"))]
    eng.dispose()
    return found


def received(sink: DevMail, address: str) -> list[Message]:
    return [message_from_bytes(m.raw) for m in sink.messages()
            if address.lower() in [a.lower() for a in m.recipients]]


def one_click(engine: Engine, msg: Message) -> tuple[str, str]:
    """The https link of the message's List-Unsubscribe header, posted as a mail client would."""
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    links = [part.strip().strip("<>") for part in str(msg["List-Unsubscribe"]).split(",")]
    https = next(link for link in links if link.startswith(BASE + "/unsubscribe/"))
    client = TestClient(create_app(engine))
    res = client.post(urlsplit(https).path, content="List-Unsubscribe=One-Click",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert res.status_code == 200, res.text
    return https, next((link for link in links if link.startswith("mailto:")), "")


def test_omni_one_marketing_reaches_only_consent_and_each_email_unsubscribes_in_one_click(tmp_path: Path) -> None:
    cfg = deployment(tmp_path, "omni-one", users=12)
    agreed, silent, objected = emails(cfg, "users", 3)
    with smtp_sink() as sink:
        engine = make_engine(cfg, Clock(START), sink.port, database_url=f"sqlite:///{tmp_path / 'store.db'}",
                             base_url=BASE)
        try:
            # "3.4 Marketing (With Your Consent)"
            engine.consent.record(agreed, "marketing_email", "given", method="signup_form", channel="web")
            engine.consent.record(objected, "marketing_email", "given", method="signup_form", channel="web")
            object_to(engine, objected, "marketing_email")
            with pytest.raises(MarketingError):
                send_marketing(engine, "transactional_email", "News", "Text", reference="x")
            out = send_marketing(engine, "marketing_email", "New models this month", "Hello,\nthree new models.",
                                 reference="2026-03", to=[agreed, silent, objected])
            assert (out.sent, out.skipped_by) == (1, {"no_consent": 1, "objected": 1})
            assert received(sink, silent) == [] and received(sink, objected) == []
            [msg] = received(sink, agreed)
            https, mailto = one_click(engine, msg)
            # "… or by contacting us at hello@omni1.ai": the header's mailto goes there
            assert mailto.startswith("mailto:hello@omni1.ai?subject=")
            body = msg.get_payload(decode=True)
            assert isinstance(body, bytes) and https in body.decode(), "the link is in the text too"
            assert engine.may(agreed, "marketing_email").code == "consent_withdrawn"
            # a re-run and the next mailing reach nobody: the withdrawal holds
            again = send_marketing(engine, "marketing_email", "Still here", "Text", reference="2026-04",
                                   to=[agreed, silent, objected])
            assert again.sent == 0 and again.skipped_by == {"consent_withdrawn": 1, "no_consent": 1, "objected": 1}
            assert len(received(sink, agreed)) == 1
            assert engine.audit.entries(action="consent.marketing.sent")
        finally:
            engine.close()


def test_onetagger_newsletter_in_polish_with_its_button_to_unsubscribe(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = deployment(tmp_path, "onetagger", users=10)
    subscriber, other = emails(cfg, "accounts", 2)
    with smtp_sink() as sink:
        store = f"sqlite:///{tmp_path / 'store.db'}"
        engine = make_engine(cfg, Clock(START), sink.port, database_url=store, base_url=BASE)
        engine.consent.record(subscriber, "biuletyn", "given", method="newsletter_form", channel="web")
        engine.close()
        body = tmp_path / "body.txt"
        body.write_text("Cześć,\nnowa wersja kontenera.", encoding="utf-8")
        for name, value in {"PLEDGE_DATABASE_URL": store, "PLEDGE_SMTP_PORT": str(sink.port),
                            "PLEDGE_SMTP_HOST": "127.0.0.1", "PLEDGE_BASE_URL": BASE}.items():
            monkeypatch.setenv(name, value)
        res = runner.invoke(app, ["consent", "send-marketing", "-c", str(cfg), "--purpose", "biuletyn",
                                  "--subject", "Biuletyn OneTagger", "--body", str(body), "--reference", "nr-1",
                                  "--to", subscriber, "--to", other, "--format", "json", "--now", START.isoformat()])
        assert res.exit_code == 0, res.output
        assert '"sent": 1' in res.stdout and '"no_consent": 1' in res.stdout
        [msg] = received(sink, subscriber)
        assert received(sink, other) == [] and msg["Content-Language"] == "pl"
        text_ = msg.get_payload(decode=True)
        assert isinstance(text_, bytes) and "wypisz się jednym kliknięciem" in text_.decode()
        engine = make_engine(cfg, Clock(START), sink.port, database_url=store, base_url=BASE)
        try:
            one_click(engine, msg)
            assert engine.may(subscriber, "biuletyn").code == "consent_withdrawn"
        finally:
            engine.close()


def test_onestepai_promotional_email_carries_the_unsubscribe_link(tmp_path: Path) -> None:
    cfg = deployment(tmp_path, "onestepai", users=10)
    eng = create_engine(f"sqlite:///{cfg.parent / 'platform.db'}")
    with eng.connect() as conn:  # an adult: onestepai asks a parent's consent below 18
        adult = str(conn.execute(text("SELECT email FROM users WHERE status <> 'closed' AND birth_date < "
                                      "'2000-01-01' ORDER BY id LIMIT 1")).scalar_one())
    eng.dispose()
    with smtp_sink() as sink:
        engine = make_engine(cfg, Clock(START), sink.port, database_url=f"sqlite:///{tmp_path / 'store.db'}",
                             base_url=BASE)
        try:
            engine.consent.record(adult, "marketing_email", "given")
            assert send_marketing(engine, "marketing_email", "Offers", "New plans.", reference="q1",
                                  to=[adult]).sent == 1
            [msg] = received(sink, adult)
            one_click(engine, msg)
            assert engine.may(adult, "marketing_email").code == "consent_withdrawn"
        finally:
            engine.close()
