"""Notification campaigns into a real SMTP sink (aiosmtpd): one email per person, never twice."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from faker import Faker
from sqlalchemy import create_engine, text

from pledge.devmail import free_port
from pledge.engine import Engine
from pledge.reports.campaign import CampaignError, Campaigns
from pledge.reports.versions import publish
from pledge.settings import Settings
from tests.reports_support import english_policy, write_config, write_yaml

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class Sink:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd hook)
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def sink() -> Iterator[tuple[Sink, int]]:
    handler = Sink()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def _platform(path: Path) -> dict[str, set[str]]:
    """A small platform: users (some closed) and newsletter subscribers, overlapping."""
    fake = Faker()
    Faker.seed(7)
    users = [fake.unique.email() for _ in range(12)]
    extra = [fake.unique.email() for _ in range(4)]
    eng = create_engine(f"sqlite:///{path}")
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, name TEXT, status TEXT)"))
        conn.execute(text("CREATE TABLE sessions (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id),"
                          " ip_address TEXT)"))
        conn.execute(text("CREATE TABLE newsletter (id INTEGER PRIMARY KEY, email TEXT)"))
        for i, e in enumerate(users, 1):
            conn.execute(text("INSERT INTO users (id, email, name, status) VALUES (:i, :e, :n, :s)"),
                         {"i": i, "e": e, "n": fake.name(), "s": "closed" if i <= 2 else "active"})
        # the same people in the newsletter, one with different case, plus newsletter-only people
        for e in [users[3].upper(), users[4]] + extra:
            conn.execute(text("INSERT INTO newsletter (email) VALUES (:e)"), {"e": e})
    eng.dispose()
    active = {e.lower() for e in users[2:]}
    return {"users": active, "newsletter_only": {e.lower() for e in extra}}


def _engine(tmp_path: Path, policy: dict[str, Any], port: int) -> Engine:
    cfg = write_config(tmp_path, policy, platform_url=f"sqlite:///{tmp_path / 'platform.db'}")
    settings = Settings(environment="test", smtp_host="127.0.0.1",
                        smtp_port=port, mail_from="privacy@sample.test", base_url="https://sample.test")
    return Engine.from_config_file(cfg, settings, clock=lambda: NOW)


def _material_change(tmp_path: Path, port: int, edit: Any) -> tuple[Engine, int]:
    engine = _engine(tmp_path, english_policy(), port)
    publish(engine)
    new = english_policy()
    new["version"] = "2025.2"
    edit(new)
    write_yaml(tmp_path / "policy.yaml", new)
    engine = _engine(tmp_path, new, port)
    published = publish(engine)
    assert published.material and published.diff is not None
    return engine, Campaigns(engine).start_for_change(published.diff, published.id)


def test_campaign_sends_one_email_per_affected_person_and_never_twice(tmp_path: Path,
                                                                    sink: tuple[Sink, int]) -> None:
    handler, port = sink
    people = _platform(tmp_path / "platform.db")

    def new_processor(p: dict[str, Any]) -> None:
        p["recipients"].append({"key": "support", "name": "Help Desk Co", "service": "support tickets",
                                "countries": ["US"], "transfer": "scc", "purposes": ["service"]})

    engine, cid = _material_change(tmp_path, port, new_processor)
    campaigns = Campaigns(engine)
    campaign = campaigns.get(cid)
    assert campaign.effective_at.replace(tzinfo=UTC) >= NOW + timedelta(days=30)  # the 30-day notice period

    outcome = campaigns.send(cid)
    expected = people["users"] | people["newsletter_only"]  # the email category lives in both tables
    assert outcome.sent == len(expected) and outcome.failed == 0
    recipients = [r.lower() for rcpts, _ in handler.messages for r in rcpts]
    assert sorted(recipients) == sorted(expected)  # exactly one each; closed accounts not written to
    _, first = handler.messages[0]
    assert "Sample Chat Ltd" in str(first["Subject"])
    body = first.get_payload(decode=True).decode("utf-8")
    assert "2025.2" in body and "recipients" in body

    again = campaigns.send(cid)
    assert again.sent == 0 and again.skipped == len(expected)
    assert len(handler.messages) == len(expected)

    # re-consent: the policy asks for it on material changes; the link records acceptance
    link = re.search(r"https://sample\.test/notice/accept\?token=(\S+)", body)
    assert link is not None
    assert campaigns.accept(link.group(1)) == cid
    status = campaigns.status(cid)
    assert status["sent"] == len(expected) and status["accepted"] == 1 and status["status"] == "sent"
    with pytest.raises(CampaignError):
        campaigns.accept(link.group(1)[:-2] + "xx")
    assert engine.audit.verify() == []


def test_campaign_reaches_only_the_people_a_change_affects(tmp_path: Path, sink: tuple[Sink, int]) -> None:
    handler, port = sink
    people = _platform(tmp_path / "platform.db")

    def longer_logs(p: dict[str, Any]) -> None:
        p["retention"][1]["period"] = "P24M"  # IP addresses in sessions, which refer to users

    engine, cid = _material_change(tmp_path, port, longer_logs)
    outcome = Campaigns(engine).send(cid)
    got = {r.lower() for rcpts, _ in handler.messages for r in rcpts}
    assert got == people["users"] and outcome.sent == len(people["users"])


def test_notice_period_and_business_transfer(tmp_path: Path, sink: tuple[Sink, int]) -> None:
    handler, port = sink
    people = _platform(tmp_path / "platform.db")
    engine = _engine(tmp_path, english_policy(), port)
    campaigns = Campaigns(engine)
    with pytest.raises(CampaignError, match="P30D"):
        campaigns.start("business_transfer", effective_at=NOW + timedelta(days=10), details={"acquirer": "Buyer"})
    with pytest.raises(CampaignError, match="acquirer"):
        campaigns.start("business_transfer")
    cid = campaigns.start("business_transfer", details={"acquirer": "Buyer Holdings", "contact": "dpo@buyer.test"},
                          lang="pl")
    outcome = campaigns.send(cid, limit=3)
    assert outcome.sent == 3
    outcome = campaigns.send(cid)  # resumes where it stopped
    assert outcome.sent == len(people["users"] | people["newsletter_only"]) - 3
    _, msg = handler.messages[0]
    body = msg.get_payload(decode=True).decode("utf-8")
    assert "Buyer Holdings" in body and "administratorem Twoich danych osobowych będzie" in body
    assert msg["Content-Language"] == "pl"

    late = Engine.from_config_file(engine.config.base_dir / "pledge.yaml", engine.settings,
                                   clock=lambda: NOW + timedelta(days=40))
    with pytest.raises(CampaignError, match="too late"):
        Campaigns(late).send(cid)
