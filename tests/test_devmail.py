"""The demo's SMTP sink receives real SMTP and the demo attaches it to the engine."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path

from pledge.demo import start_mail_sink
from pledge.devmail import free_port
from pledge.engine import Engine
from pledge.settings import Settings, load_config
from tests.conftest import EXAMPLES


def test_demo_sink_collects_mail(tmp_path: Path) -> None:
    port = free_port()
    settings = Settings(environment="test", smtp_port=port, database_url=f"sqlite:///{tmp_path / 's.db'}")
    sink = start_mail_sink(settings)
    engine = Engine(load_config(EXAMPLES / "omni-one" / "pledge.yaml", settings), settings, devmail=sink)
    assert engine.devmail is not None and engine.devmail.running
    try:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "a@example.org", "b@example.org", "Zażółć gęślą jaźń"
        msg.set_content("hello sink")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(msg)
        got = engine.devmail.latest_to("B@example.org")
        assert got is not None and got.subject == "Zażółć gęślą jaźń" and "hello sink" in got.body
        # a second sink on the same port cannot start; the demo carries on without one
        assert start_mail_sink(settings) is None
    finally:
        engine.devmail.stop()
