"""``pledge prove``: the promises on live data, checked on each example platform.

Each test makes a small generated platform, holds one expired row, sweeps at a clock and
asks ``prove``: every retention promise is kept (the held row counted as held, not
broken), and the children the generator made are found exactly (by plain SQL here).
After the officer erases them (and records the parents' consents), every checkable
promise is kept. Then violations are planted with plain SQL and ``prove`` reports
exactly those: the counts, the planted keys among the examples, nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pledge.cli import app
from pledge.engine import Engine
from pledge.prove import Proof, describe, history, latest, prove, render, run
from pledge.retention import sweep
from tests.prove_support import (
    HELD,
    NOW,
    children,
    hold_one_expired,
    key,
    minors_without_consent,
    plant,
    resolve_children,
)
from tests.retention_support import deployment, rows, write_config

PLATFORMS = ["omni-one", "onetagger", "onestepai"]
runner = CliRunner()


def checked(proof: Proof) -> dict[str, tuple[str, int]]:
    return {f.id: (f.status, f.count) for f in proof.findings if f.status != "unknown"}


def broken(proof: Proof) -> dict[str, int]:
    return {f.id: f.count for f in proof.by_status("broken")}


def generator_violations(engine: Engine, platform: str) -> dict[str, list[str]]:
    """What the generator leaves that breaks a promise sweeps do not keep: children."""
    age = engine.policy.age
    if age is None:
        return {}
    out: dict[str, list[str]] = {}
    kids = children(engine, age.minimum)
    if kids:
        out["age:main.users"] = [key(engine, i) for i, _ in kids]
    if platform == "onestepai":
        minors = minors_without_consent(engine)
        if minors:
            out["parental_consent:main.users"] = [key(engine, i) for i, _ in minors]
    return out


def sweep_and_prove(engine: Engine, platform: str) -> Proof:
    held = hold_one_expired(engine, platform)
    first = sweep.run(engine, NOW)
    assert first["status"] == "done" and first["total_rows"] > 0
    proof = prove(engine, NOW)
    collection, _clock, _period, rule = HELD[platform]
    kept = proof.finding(f"retention:{rule}:{collection}")
    assert kept.status == "kept" and kept.detail["held"] == 1, kept
    table = collection.split(".")[1]
    assert rows(engine.platform_engine("main"), f"SELECT id FROM {table} WHERE id = {held}")
    assert all(f.status == "kept" for f in proof.findings if f.kind == "retention")
    return proof


@pytest.mark.parametrize("platform", PLATFORMS)
def test_prove_after_a_sweep_then_finds_exactly_the_planted_violations(platform: str, tmp_path: Path) -> None:
    engine = deployment(tmp_path, platform, f"sqlite:///{tmp_path / 'platform.db'}")
    try:
        proof = sweep_and_prove(engine, platform)
        # the generator's children are the only thing a sweep does not fix, and prove sees them all
        found = generator_violations(engine, platform)
        assert broken(proof) == {k: len(v) for k, v in found.items()}
        for fid, keys in found.items():
            assert set(proof.finding(fid).examples) <= set(keys)

        resolve_children(engine, platform)
        clean = prove(engine, NOW)
        assert clean.outcome == "kept" and clean.summary["broken"] == 0, broken(clean)
        assert clean.summary["checked"] >= 4 and clean.summary["unknown"] > 10

        planted = plant(engine, platform)
        after = prove(engine, NOW)
        assert broken(after) == {k: len(v) for k, v in planted.broken.items()}
        for fid, keys in planted.broken.items():
            assert set(keys) <= set(after.finding(fid).examples), (fid, after.finding(fid).examples)
        assert {f for f, (s, _) in checked(after).items() if s == "broken"} == set(planted.broken)

        # a sweep fixes the retention ones; prove agrees, and the rest stay broken
        sweep.run(engine, NOW)
        swept = prove(engine, NOW)
        assert {k for k in broken(swept)} == {k for k in planted.broken if not k.startswith("retention:")}
    finally:
        engine.close()


@pytest.mark.parametrize("platform", PLATFORMS)
def test_prove_and_the_sweep_plan_count_the_same_rows_independently(platform: str, tmp_path: Path) -> None:
    """Two computations of "past its limit", the sweep's plan and prove's own cutoff, agree
    to the row, also on rows an hour either side of a cutoff."""
    from datetime import timedelta

    # boundary rows: every clock has rows a day and an hour either side of its cutoff at NOW
    engine = deployment(tmp_path, platform, f"sqlite:///{tmp_path / 'platform.db'}", users=200, now=NOW,
                        boundary=True)
    try:
        for moment in (NOW - timedelta(days=700), NOW, NOW + timedelta(hours=2), NOW + timedelta(days=123)):
            plan = {f"retention:{t['rule']}:{t['collection']}": t["rows"]
                    for t in sweep.plan(engine, moment)["targets"]}
            mine = {f.id: f.count for f in prove(engine, moment).findings if f.kind == "retention"}
            assert plan == mine, moment
            assert sum(plan.values()) > 0
    finally:
        engine.close()


def test_runs_are_stored_audited_and_hold_no_personal_data(tmp_path: Path) -> None:
    engine = deployment(tmp_path, "omni-one", f"sqlite:///{tmp_path / 'platform.db'}")
    try:
        plant(engine, "omni-one")
        first = run(engine, NOW, actor="dpo@x")
        assert first.id is not None and first.outcome == "broken"
        again = run(engine, NOW, actor="scheduler")
        runs = history(engine)
        assert [r["id"] for r in runs] == [again.id, first.id]
        assert runs[1]["actor"] == "dpo@x" and runs[1]["summary"]["broken"] == first.summary["broken"]
        stored = latest(engine)
        assert stored is not None and stored.as_dict()["findings"] == again.as_dict()["findings"]
        audit = engine.audit.entries(action="prove.run")
        assert sorted(e["target"] for e in audit) == [f"prove:{first.id}", f"prove:{again.id}"]
        assert audit[0]["details"]["broken"] == {f.id: f.count for f in again.by_status("broken")}
        assert engine.audit.verify() == []
        # no email, name or raw user id of the platform anywhere in what is stored or shown
        people = rows(engine.platform_engine("main"), "SELECT id, email, name FROM users")
        texts = [json.dumps(again.as_dict()), render(again, "html"), render(again, "text")]
        for text in texts:
            assert "planted-17@example.test" not in text
            for _id, email, name in people:
                assert email not in text and name not in text
        age = again.finding("age:main.users")
        assert all(e.startswith("user_id:") and len(e) == len("user_id:") + 16 for e in age.examples)
    finally:
        engine.close()


def test_every_promise_of_the_policy_is_accounted_for(tmp_path: Path) -> None:
    engine = deployment(tmp_path, "onestepai", f"sqlite:///{tmp_path / 'platform.db'}")
    try:
        proof = prove(engine, NOW)
        policy = engine.policy
        ids = {f.id for f in proof.findings}
        assert len(ids) == len(proof.findings)
        for rule in policy.retention:
            assert any(i.startswith(f"retention:{rule.key}:") for i in ids)
        for p in policy.purposes:
            assert f"consent:{p.key}" in ids or f"purpose:{p.key}" in ids
        assert {f"recipient:{r.key}" for r in policy.recipients} <= ids
        assert {f"right:{r.kind}" for r in policy.rights.offered} <= ids
        assert {"requests:deadlines", "breach:authority", "age:main.users", "parental_consent:main.users"} <= ids
        for f in proof.by_status("unknown"):
            assert f.reason and f.reason_text and describe(f)
        for f in proof.findings:
            if f.kind == "retention":
                assert f.source == next(r.source for r in policy.retention if r.key == f.detail["rule"])
        consent = proof.finding("consent:facial_recognition")
        assert consent.status == "unknown" and "withdrawal" in (consent.reason_text or "")
    finally:
        engine.close()


def test_an_open_breach_past_72_hours_breaks_the_promise(tmp_path: Path) -> None:
    from datetime import timedelta

    engine = deployment(tmp_path, "omni-one", f"sqlite:///{tmp_path / 'platform.db'}", now=NOW)
    try:
        reg = engine.breaches
        b = reg.open(title="Export bucket left public", aware_at=NOW - timedelta(hours=80),
                     collections=["main.messages"], fields=["content"], window_from=NOW - timedelta(days=9),
                     window_to=NOW - timedelta(days=4), description="", actor="dpo")
        finding = prove(engine, NOW).finding("breach:authority")
        assert (finding.status, finding.count, finding.examples) == ("broken", 1, [f"#{b.id}"])
        assert prove(engine, NOW - timedelta(hours=10)).finding("breach:authority").status == "kept"
    finally:
        engine.close()


# -- the command --------------------------------------------------------------------------------
def test_cli_exit_codes_json_and_html(tmp_path: Path) -> None:
    platform = "onetagger"
    engine = deployment(tmp_path, platform, f"sqlite:///{tmp_path / 'platform.db'}")
    cfg = tmp_path / f"{platform}.yaml"
    now = ["--now", NOW.isoformat()]
    try:
        sweep.run(engine, NOW)
        ok = runner.invoke(app, ["prove", "-c", str(cfg), "--format", "json", *now])
        assert ok.exit_code == 0, ok.output
        doc = json.loads(ok.stdout)
        assert set(doc) == {"id", "at", "config", "policy_version", "actor", "outcome", "summary", "findings"}
        assert doc["outcome"] == "kept" and doc["summary"]["broken"] == 0 and doc["actor"] == "cli"
        f = doc["findings"][0]
        assert set(f) >= {"id", "kind", "title", "status", "source", "count", "examples", "detail", "reason",
                          "reason_text"}

        planted = plant(engine, platform)
        report = tmp_path / "proof.html"
        bad = runner.invoke(app, ["prove", "-c", str(cfg), "--format", "html", "-o", str(report), *now])
        assert bad.exit_code == 1, bad.output
        html = report.read_text(encoding="utf-8")
        assert html.startswith("<!doctype html>") and "Proof on live data" in html
        for keys in planted.broken.values():
            assert all(k in html for k in keys)
        assert "planted-idle@example.test" not in html and "planted-newsletter@example.test" not in html

        text = runner.invoke(app, ["prove", "-c", str(cfg), *now])
        assert text.exit_code == 1 and "[BROKEN] retention:analityka:main.analytics_events" in text.stdout

        wrong = runner.invoke(app, ["prove", "-c", str(cfg), "--format", "pdf"])
        assert wrong.exit_code == 2
        (tmp_path / "gone").mkdir()
        gone = write_config(tmp_path / "gone", platform, "postgresql+psycopg://nobody@127.0.0.1:1/none")
        down = runner.invoke(app, ["prove", "-c", str(gone), *now])
        assert down.exit_code == 2 and "could not be read" in down.output
        assert len(history(engine)) == 3  # the refused and the failed runs are not stored
    finally:
        engine.close()


# -- other engines --------------------------------------------------------------------------------
@pytest.mark.postgres
def test_prove_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    _on_server("omni-one", postgres_url, tmp_path)


@pytest.mark.mariadb
def test_prove_on_mariadb(mariadb_url: str, tmp_path: Path) -> None:
    _on_server("onestepai", mariadb_url, tmp_path)


def _on_server(platform: str, url: str, tmp_path: Path) -> None:
    engine = deployment(tmp_path, platform, url)
    try:
        sweep_and_prove(engine, platform)
        resolve_children(engine, platform)
        assert prove(engine, NOW).outcome == "kept"
        planted = plant(engine, platform)
        after = prove(engine, NOW)
        assert broken(after) == {k: len(v) for k, v in planted.broken.items()}
        for fid, keys in planted.broken.items():
            assert set(keys) <= set(after.finding(fid).examples)
    finally:
        engine.close()


def test_the_daily_scheduler_proves_after_its_sweep(tmp_path: Path) -> None:
    import time

    from pledge.retention.scheduler import Scheduler

    engine = deployment(tmp_path, "onetagger", f"sqlite:///{tmp_path / 'platform.db'}", now=NOW)
    sched = Scheduler(engine, every=3600)
    sched.start()
    try:
        deadline = time.monotonic() + 60
        while sched.runs < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        sched.close()
    try:
        runs = history(engine)
        assert len(runs) == 1 and runs[0]["actor"] == "scheduler" and runs[0]["outcome"] == "kept"
        actions = [e["action"] for e in reversed(engine.audit.entries())]
        assert actions.index("prove.run") > actions.index("retention.sweep.done")
    finally:
        engine.close()
