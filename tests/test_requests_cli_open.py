"""Requests that arrive by email or post are entered from the CLI; officers open their own."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from pledge.cli import app
from tests.requests_support import Clock, code_from, deployment, make_engine, smtp_sink, some_users

runner = CliRunner()


def test_open_an_emailed_request_sends_the_code_and_initiate_records_the_ground(tmp_path: Path) -> None:
    cfg = deployment(tmp_path)
    person, child = some_users(cfg, 2)
    with smtp_sink() as sink:
        env = {**os.environ, "PLEDGE_SMTP_PORT": str(sink.port), "PLEDGE_ENVIRONMENT": "test"}
        opened = runner.invoke(app, ["requests", "open", "-c", str(cfg), "--kind", "access",
                                     "--email", person["email"], "--channel", "post",
                                     "--now", "2026-01-31T10:00:00+00:00"], env=env)
        assert opened.exit_code == 0, opened.output
        # one calendar month from 31 January ends on 28 February, before the policy's 30 days
        assert "due 2026-02-28" in opened.output
        assert len(code_from(sink, person["email"]).replace("-", "")) == 8

        initiated = runner.invoke(app, ["requests", "initiate", "-c", str(cfg), "--kind", "erasure",
                                        "--email", child["email"], "--ground", "child_under_minimum_age"],
                                  env=env)
        assert initiated.exit_code == 0, initiated.output

        bad = runner.invoke(app, ["requests", "initiate", "-c", str(cfg), "--kind", "erasure",
                                  "--email", child["email"], "--ground", "because"], env=env)
        assert bad.exit_code == 2 and "unknown ground" in bad.output

        engine = make_engine(cfg, Clock(datetime.now(UTC)), sink.port)
        views = engine.requests.find()
        by_kind = {v.kind: v for v in views}
        assert by_kind["access"].state == "verifying"
        assert by_kind["erasure"].state == "verified"
        engine.close()


def test_only_plain_email_addresses_open_requests() -> None:
    from pledge.emails import is_email_address

    assert is_email_address("A.B+x@ex-ample.org")
    for bad in ("a@b", "a b@c.de", "a@b.de\n", "a,b@c.de", "<a@b.de>", "a@@b.de", "\x00a@b.de", "x" * 250 + "@b.de"):
        assert not is_email_address(bad), bad
