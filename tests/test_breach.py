"""The breach register on the omni-one example (small, generated, SQLite) and a real SMTP sink.

The affected people are computed here independently, with the test's own SQL, and
compared with what the register found by walking the data map back from the exposed
``messages`` rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from pledge.breach.notify_people import notify_people
from pledge.breach.register import BreachError, risk_level
from pledge.breach.report import authority_report, render_report
from pledge.devmail import DevMail
from pledge.engine import Engine
from pledge.platforms import create_platform
from pledge.retention.ledger import subject_key
from pledge.settings import Settings
from tests.conftest import EXAMPLES

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
AWARE = NOW - timedelta(hours=10)
START = datetime(2024, 3, 1, tzinfo=UTC)
END = datetime(2024, 9, 30, 23, 59, 59, 999999, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_config(tmp_path: Path, name: str, users: int) -> Path:
    url = f"sqlite:///{tmp_path / 'platform.db'}"
    create_platform(name, url, users=users, seed=3, progress=False)
    cfg = tmp_path / "pledge.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": name, "platform": name, "policy": str(EXAMPLES / name / "policy.yaml"),
        "dataset": str(EXAMPLES / name / "dataset.yaml"), "platform_url": url,
        "store_url": f"sqlite:///{tmp_path / 'store.db'}",
    }))
    return cfg


@pytest.fixture
def sink() -> Iterator[DevMail]:
    box = DevMail(port=0, limit=10_000)
    box.start()
    try:
        yield box
    finally:
        box.stop()


@pytest.fixture
def omni(tmp_path: Path, sink: DevMail) -> Iterator[tuple[Engine, Clock, str]]:
    cfg = make_config(tmp_path, "omni-one", 80)
    clock = Clock(NOW)
    settings = Settings(environment="test", smtp_host=sink.host, smtp_port=sink.port)
    engine = Engine.from_config_file(cfg, settings, clock=clock)
    try:
        yield engine, clock, engine.config.platform_url
    finally:
        engine.close()


def _sql_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def expected_people(url: str, start: datetime, end: datetime) -> tuple[set[str], int]:
    """Owners of the conversations holding window messages, and the messages' authors."""
    window = {"a": _sql_time(start), "b": _sql_time(end)}
    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            emails = {r[0] for r in conn.execute(text(
                "SELECT email FROM users WHERE id IN ("
                " SELECT c.user_id FROM messages m JOIN conversations c ON c.id = m.conversation_id"
                " WHERE m.created_at BETWEEN :a AND :b"
                " UNION SELECT m.author_id FROM messages m"
                " WHERE m.created_at BETWEEN :a AND :b AND m.author_id IS NOT NULL)"), window)}
            records = conn.execute(text("SELECT count(*) FROM messages WHERE created_at BETWEEN :a AND :b"),
                                   window).scalar_one()
    finally:
        eng.dispose()
    return emails, int(records)


def open_messages_breach(engine: Engine) -> int:
    b = engine.breaches.open(title="Chat messages readable through a misconfigured export bucket",
                             aware_at=AWARE, collections=["main.messages"], fields=["content"],
                             window_from=START, window_to=END, description="An export bucket was public.",
                             actor="officer@example.org")
    return b.id


def recipients(sink: DevMail) -> Counter[str]:
    return Counter(r.lower() for m in sink.messages() for r in m.recipients)


def test_messages_breach_finds_exactly_the_people_in_the_window(omni: tuple[Engine, Clock, str]) -> None:
    engine, _, url = omni
    emails, records = expected_people(url, START, END)
    assert len(emails) >= 5 and records >= 20  # the window is not trivially empty
    breach = engine.breaches.get(open_messages_breach(engine))
    assert breach.people_count == len(emails)
    assert breach.records_count == records
    assert breach.fields == ["main.messages.content"]
    assert "user.content.private" in breach.categories
    keys = engine.breaches.people_keys(breach.id)
    secret = engine.keys.subject_secret
    assert {k["email"] for k in keys.values()} == {subject_key(secret, "email", e) for e in emails}
    # only keyed HMACs are stored: no address appears anywhere in the register's row
    assert not any(e in str(breach.as_dict()) + str(keys) for e in emails)


def test_affected_queries_are_set_based(omni: tuple[Engine, Clock, str]) -> None:
    from pledge.breach.affected import find_affected

    engine, _, _ = omni
    found = find_affected(engine, ["main.messages"], START, END)
    # messages (window), conversations, users via conversation, users via author: one statement each
    assert found.statements <= 4
    assert found.unreachable == 0
    assert sum(p.records for p in found.people) >= found.records


def test_each_person_gets_one_email_and_a_rerun_after_a_crash_sends_no_duplicates(
        omni: tuple[Engine, Clock, str], sink: DevMail) -> None:
    engine, _, url = omni
    emails, _ = expected_people(url, START, END)
    bid = open_messages_breach(engine)
    engine.breaches.assess(bid, likelihood="high", severity="high", encrypted=False,
                           measures="We closed the bucket and rotated every access key.", actor="officer")

    sent: list[str] = []

    def crash_after_three(address: str) -> None:
        sent.append(address)
        if len(sent) == 3:
            raise RuntimeError("worker killed")

    with pytest.raises(RuntimeError, match="worker killed"):
        notify_people(engine, bid, rate_per_second=1000, on_sent=crash_after_three, actor="cli")
    assert sum(recipients(sink).values()) == 3
    assert engine.breaches.notified_count(bid) == 3

    # one person not yet told changes their address before the re-run: the newest one is used
    remaining = sorted(emails - {a.lower() for a in sent})
    moved_from, moved_to = remaining[0], "moved.address@example.org"
    eng = create_engine(url)
    with eng.begin() as conn:
        conn.execute(text("UPDATE users SET email = :new WHERE email = :old"), {"new": moved_to, "old": moved_from})
    eng.dispose()

    second = notify_people(engine, bid, rate_per_second=1000, actor="cli")
    assert second.sent == len(emails) - 3 and second.skipped == 3 and second.failed == 0
    got = recipients(sink)
    assert set(got) == (emails - {moved_from}) | {moved_to}
    assert all(n == 1 for n in got.values()), got.most_common(3)
    assert engine.breaches.get(bid).people_notified_at is not None

    third = notify_people(engine, bid, rate_per_second=1000, actor="cli")
    assert third.sent == 0 and third.skipped == len(emails)
    assert sum(recipients(sink).values()) == len(emails)

    body = sink.messages()[0].body
    for words in ("What happened", "We closed the bucket", "What this may mean for you", "Midaz Group"):
        assert words in body
    assert "UODO" in body


def test_polish_notice_has_no_english_left(omni: tuple[Engine, Clock, str], sink: DevMail) -> None:
    engine, _, _ = omni
    bid = open_messages_breach(engine)
    engine.breaches.assess(bid, likelihood="medium", severity="high", encrypted=False,
                           measures="Zamknęliśmy dostęp.", actor="officer")
    out = notify_people(engine, bid, rate_per_second=1000, lang="pl")
    assert out.sent > 0
    msg = sink.messages()[0]
    assert msg.subject.startswith("Ważne:")
    for polish in ("Co się stało", "Co to może dla Ciebie oznaczać", "Co zrobiliśmy", "Zamknęliśmy dostęp."):
        assert polish in msg.body
    for english in ("What happened", "What we have done", "Questions"):
        assert english not in msg.body


def test_the_72_hour_clock_runs_from_awareness(omni: tuple[Engine, Clock, str]) -> None:
    engine, clock, _ = omni
    bid = open_messages_breach(engine)
    engine.breaches.assess(bid, likelihood="medium", severity="medium", encrypted=False, actor="officer")
    c = engine.breaches.clock(engine.breaches.get(bid))
    assert c.deadline == AWARE + timedelta(hours=72)
    assert c.hours_left == 62.0 and c.state == "running" and not c.overdue
    clock.now = AWARE + timedelta(hours=73)
    c = engine.breaches.clock(engine.breaches.get(bid))
    assert c.overdue and c.state == "overdue" and c.hours_left == -1.0
    # told late: the clock says so, and the report asks for the reasons for the delay
    engine.breaches.record_phase(bid, "initial", authority_report(engine, bid), actor="officer")
    c = engine.breaches.clock(engine.breaches.get(bid))
    assert c.state == "late"
    assert authority_report(engine, bid)["timing"]["delay_reason"]
    # a re-assessment does not undo a report already made
    engine.breaches.assess(bid, likelihood="low", severity="low", encrypted=False, actor="officer")
    assert engine.breaches.clock(engine.breaches.get(bid)).state == "late"
    # a low-risk breach need not be reported: no clock to miss
    low = open_messages_breach(engine)
    engine.breaches.assess(low, likelihood="low", severity="medium", encrypted=False, actor="officer")
    c = engine.breaches.clock(engine.breaches.get(low))
    assert c.state == "not_required" and not c.overdue


def test_authority_draft_has_every_art_33_3_item(omni: tuple[Engine, Clock, str]) -> None:
    engine, _, _ = omni
    bid = open_messages_breach(engine)
    engine.breaches.assess(bid, likelihood="high", severity="medium", encrypted=False,
                           measures="Bucket closed; keys rotated.", consequences="Private chats may be read.",
                           actor="officer")
    draft = authority_report(engine, bid)
    assert "UODO" in draft["addressee"]["name"]
    items = draft["art33_3"]
    nature = items["a_nature"]
    breach = engine.breaches.get(bid)
    assert nature["people"] == breach.people_count > 0 and nature["records"] == breach.records_count > 0
    assert any("user.content.private" in c for c in nature["categories"])
    assert items["b_contact"]["name"] and items["b_contact"]["email"]
    assert items["c_consequences"] == "Private chats may be read."
    assert items["d_measures"] == "Bucket closed; keys rotated."
    md = render_report(draft, "md")
    for heading in ("(a) Nature of the breach", "(b) Contact point", "(c) Likely consequences",
                    "(d) Measures taken or proposed", "UODO"):
        assert heading in md
    html = render_report(draft, "html")
    assert "<h2>(d) Measures taken or proposed</h2>" in html and "<script" not in html
    # phases (Art. 33(4)): each is kept with its time
    engine.breaches.record_phase(bid, "initial", draft, actor="officer")
    engine.breaches.record_phase(bid, "supplementary", authority_report(engine, bid), note="root cause found",
                                 actor="officer")
    phases = authority_report(engine, bid)["phases"]
    assert [p["kind"] for p in phases] == ["initial", "supplementary"]
    assert phases[1]["note"] == "root cause found"
    with pytest.raises(BreachError, match="phase must be one of"):
        engine.breaches.record_phase(bid, "later", draft)


@pytest.mark.parametrize(("name", "authority"), [("onestepai", "UODO"), ("onetagger", "Gegevensbeschermingsautoriteit")])
def test_draft_is_addressed_to_the_policy_authority(name: str, authority: str, tmp_path: Path) -> None:
    """onestepai's controller is Polish (UODO); onetagger's is Belgian (Connexeon BV,
    Antwerpen), so its draft goes to the Belgian authority its policy names."""
    cfg = make_config(tmp_path, name, 15)
    engine = Engine.from_config_file(cfg, Settings(environment="test"), clock=lambda: NOW)
    try:
        first = "main.users" if name == "onestepai" else "main.accounts"
        b = engine.breaches.open(title="Test", aware_at=AWARE, collections=[first],
                                 window_from=datetime(2020, 1, 1, tzinfo=UTC), window_to=NOW)
        draft = authority_report(engine, b.id)
        assert authority in draft["addressee"]["name"]
        assert draft["controller"]["country"] == engine.policy.authority.country  # type: ignore[union-attr]
        assert b.people_count > 0
    finally:
        engine.close()


def test_encrypted_data_records_the_exemption_instead_of_sending(
        omni: tuple[Engine, Clock, str], sink: DevMail) -> None:
    engine, _, _ = omni
    bid = open_messages_breach(engine)
    b = engine.breaches.assess(bid, likelihood="high", severity="high", encrypted=True, actor="officer")
    assert b.notify_people is False and b.exemption == "art34_3_a" and "34(3)(a)" in (b.people_reason or "")
    assert b.notify_authority is True  # the authority is still told
    out = notify_people(engine, bid, rate_per_second=1000)
    assert out.exempt == b.people_count and out.sent == 0
    assert sink.messages() == []
    actions = [e["action"] for e in engine.breaches.audit_trail(bid)]
    assert "breach.exemption" in actions and "breach.notify_people_exempt" in actions


def test_risk_matrix() -> None:
    assert risk_level("low", "low") == "low"
    assert risk_level("low", "high") == "medium"
    assert risk_level("medium", "medium") == "medium"
    assert risk_level("high", "medium") == "high"
    with pytest.raises(BreachError, match="likelihood must be one of"):
        risk_level("certain", "high")


def test_every_change_is_audited(omni: tuple[Engine, Clock, str], sink: DevMail) -> None:
    engine, _, _ = omni
    bid = open_messages_breach(engine)
    engine.breaches.assess(bid, likelihood="medium", severity="low", encrypted=False, actor="officer")
    engine.breaches.assess(bid, likelihood="high", severity="high", encrypted=False, measures="Closed.",
                           actor="dpo")
    engine.breaches.record_phase(bid, "initial", authority_report(engine, bid), actor="dpo")
    notify_people(engine, bid, rate_per_second=1000, actor="dpo")
    trail = engine.breaches.audit_trail(bid)
    assert [e["action"] for e in trail] == ["breach.open", "breach.assess", "breach.assess",
                                            "breach.authority_report", "breach.notify_people"]
    assert trail[0]["actor"] == "officer@example.org"
    second = trail[2]["details"]["changes"]
    assert second["risk"] == ["low", "high"] and second["measures"] == ["", "Closed."]
    assert trail[4]["details"]["sent"] == len(sink.messages()) and trail[4]["details"]["complete"] is True
    assert engine.audit.verify() == []


def test_bad_input_is_refused(omni: tuple[Engine, Clock, str]) -> None:
    engine, _, _ = omni
    base = {"title": "x", "aware_at": AWARE, "window_from": START, "window_to": END}
    with pytest.raises(BreachError, match="not in the data map"):
        engine.breaches.open(collections=["main.chats"], **base)  # type: ignore[arg-type]
    with pytest.raises(BreachError, match="not a field of the data map"):
        engine.breaches.open(collections=["main.messages"], fields=["secret"], **base)  # type: ignore[arg-type]
    with pytest.raises(BreachError, match="not in an exposed collection"):
        engine.breaches.open(collections=["main.messages"], fields=["main.users.email"], **base)  # type: ignore[arg-type]
    with pytest.raises(BreachError, match="ends before it starts"):
        engine.breaches.open(title="x", aware_at=AWARE, collections=["main.messages"], window_from=END,
                             window_to=START)
    with pytest.raises(BreachError, match="in the future"):
        engine.breaches.open(title="x", aware_at=NOW + timedelta(days=1), collections=["main.messages"],
                             window_from=START, window_to=END)
    with pytest.raises(BreachError, match="not assessed yet"):
        notify_people(engine, open_messages_breach(engine))
    assert engine.breaches.get(1).status == "open"


def test_cli_open_assess_list_report(tmp_path: Path, sink: DevMail, monkeypatch: pytest.MonkeyPatch) -> None:
    from pledge.cli import app

    cfg = make_config(tmp_path, "omni-one", 30)
    monkeypatch.setenv("PLEDGE_SMTP_PORT", str(sink.port))
    monkeypatch.setenv("PLEDGE_ENVIRONMENT", "test")
    runner = CliRunner()
    now = ["--now", NOW.isoformat()]
    res = runner.invoke(app, ["breach", "open", "-c", str(cfg), "--title", "Backup leak", "--aware-at",
                              AWARE.isoformat(), "--collection", "main.messages", "--from", "2024-03-01",
                              "--to", "2024-09-30", "--format", "json", *now])
    assert res.exit_code == 0, res.output
    import json

    opened = json.loads(res.stdout)
    emails, records = expected_people(f"sqlite:///{tmp_path / 'platform.db'}", START, END)
    assert opened["people_count"] == len(emails) and opened["records_count"] == records
    res = runner.invoke(app, ["breach", "assess", "-c", str(cfg), str(opened["id"]), "--likelihood", "high",
                              "--severity", "high", "--no-encrypted", "--measures", "Closed.", *now])
    assert res.exit_code == 0 and "Risk: high" in res.output, res.output
    res = runner.invoke(app, ["breach", "list", "-c", str(cfg), "--format", "json", "--now",
                              (AWARE + timedelta(hours=80)).isoformat()])
    listed = json.loads(res.stdout)
    assert listed[0]["clock"]["overdue"] is True and listed[0]["clock"]["hours_left"] == -8.0
    res = runner.invoke(app, ["breach", "notify", "-c", str(cfg), str(opened["id"]), "--authority", "--people",
                              "--rate", "500/s", *now])
    assert res.exit_code == 0, res.output
    assert sorted(recipients(sink)) == sorted(emails)
    res = runner.invoke(app, ["breach", "report", "-c", str(cfg), str(opened["id"]), "--format", "html", *now])
    assert res.exit_code == 0 and "<h2>(a) Nature of the breach</h2>" in res.stdout
    # unusable input: exit 2 with a clear message
    bad = runner.invoke(app, ["breach", "open", "-c", str(cfg), "--title", "x", "--aware-at", "yesterday",
                              "--collection", "main.messages", "--from", "2024-01-01", "--to", "2024-02-01"])
    assert bad.exit_code == 2 and "ISO 8601" in bad.output
    bad = runner.invoke(app, ["breach", "open", "-c", str(cfg), "--title", "x", "--aware-at", "2026-10-01",
                              "--collection", "main.nope", "--from", "2024-01-01", "--to", "2024-02-01", *now])
    assert bad.exit_code == 2 and "not in the data map" in bad.output
    bad = runner.invoke(app, ["breach", "notify", "-c", str(cfg), "99", "--people", *now])
    assert bad.exit_code == 2 and "no breach 99" in bad.output


def test_people_in_images_are_reached_through_the_uploader(tmp_path: Path) -> None:
    """onestepai: face tags name people who are not users; the notice goes to whoever uploaded
    the image (the seed: "notify you or the Third-Party User that provided us with your data")."""
    cfg = make_config(tmp_path, "onestepai", 40)
    engine = Engine.from_config_file(cfg, Settings(environment="test"), clock=lambda: NOW)
    start, end = datetime(2022, 1, 1, tzinfo=UTC), datetime(2025, 6, 30, tzinfo=UTC)
    try:
        b = engine.breaches.open(title="Face tags exposed", aware_at=AWARE, collections=["main.face_tags"],
                                 window_from=start, window_to=end)
        eng = create_engine(engine.config.platform_url)
        with eng.connect() as conn:
            window = {"a": _sql_time(start), "b": _sql_time(end)}
            uploaders = {r[0] for r in conn.execute(text(
                "SELECT email FROM users WHERE id IN (SELECT m.user_id FROM face_tags f JOIN media m"
                " ON m.id = f.media_id WHERE f.created_at BETWEEN :a AND :b)"), window)}
            tags = conn.execute(text("SELECT count(*) FROM face_tags WHERE created_at BETWEEN :a AND :b"),
                                window).scalar_one()
        eng.dispose()
        assert uploaders and b.people_count == len(uploaders) and b.records_count == tags
        secret = engine.keys.subject_secret
        assert {k["email"] for k in engine.breaches.people_keys(b.id).values()} == \
            {subject_key(secret, "email", e) for e in uploaders}
    finally:
        engine.close()
