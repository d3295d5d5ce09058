"""CLI: pledge rights erase / rectify / restrict / object."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from pledge.cli import app
from tests.erasure_support import snapshot
from tests.test_erasure import POLICY, make_engine

runner = CliRunner()


def _config(tmp_path: Path) -> tuple[Path, dict[str, object], object]:
    url = f"sqlite:///{tmp_path / 'platform.db'}"
    engine = make_engine(tmp_path, url)
    base = engine.config.policy.parent
    policy = dict(POLICY)
    policy["purposes"] = [{"key": "newsletter", "name": "Newsletter",
                           "data_use": "marketing.communications.email", "legal_basis": "consent"}]
    (base / "policy.yaml").write_text(yaml.safe_dump(policy))
    cfg = base / "pledge.yaml"
    cfg.write_text(yaml.safe_dump({"name": "mini", "policy": "policy.yaml", "dataset": "dataset.yaml",
                                   "platform_url": url, "store_url": "sqlite:///store.db"}))
    eng = engine.platform_engine("main")
    user = snapshot(eng)["users"][3]
    engine.close()
    return cfg, user, eng


def test_erase_plan_json_then_erase_text(tmp_path: Path) -> None:
    cfg, user, eng = _config(tmp_path)
    before = snapshot(eng)
    res = runner.invoke(app, ["rights", "erase", "-c", str(cfg), "--email", str(user["email"]),
                              "--plan", "--format", "json"])
    assert res.exit_code == 0, res.output
    plan = json.loads(res.stdout)
    assert plan["dry_run"] is True and plan["totals"]["deleted"] > 0
    assert snapshot(eng) == before
    res = runner.invoke(app, ["rights", "erase", "-c", str(cfg), "--identity", "user_id=3"])
    assert res.exit_code == 0, res.output
    assert "Deleted" in res.stdout and "main.memberships" in res.stdout and "Masked" in res.stdout
    assert "billing_email → null" in res.stdout.replace("\n", " ") or "→ null" in res.stdout
    assert snapshot(eng) != before


def test_rectify_restrict_object(tmp_path: Path) -> None:
    cfg, user, eng = _config(tmp_path)
    email = str(user["email"])
    res = runner.invoke(app, ["rights", "rectify", "-c", str(cfg), "--email", email, "--set", "name=Ann New"])
    assert res.exit_code == 0, res.output
    assert snapshot(eng)["users"][3]["name"] == "Ann New"
    res = runner.invoke(app, ["rights", "rectify", "-c", str(cfg), "--email", email, "--set", "billing_email=nope"])
    assert res.exit_code == 2 and "not an email address" in res.output
    res = runner.invoke(app, ["rights", "restrict", "-c", str(cfg), "--email", email, "--format", "json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["created"] is True
    res = runner.invoke(app, ["rights", "restrict", "-c", str(cfg), "--email", email, "--lift"])
    assert res.exit_code == 0 and "lifted 1" in res.stdout
    res = runner.invoke(app, ["rights", "object", "-c", str(cfg), "--email", email, "--purpose", "newsletter"])
    assert res.exit_code == 0 and "objection recorded" in res.stdout
    res = runner.invoke(app, ["rights", "object", "-c", str(cfg), "--email", email, "--purpose", "nope"])
    assert res.exit_code == 2 and "no purpose" in res.output
    res = runner.invoke(app, ["rights", "object", "-c", str(cfg), "--email", email, "--purpose", "newsletter",
                              "--withdraw"])
    assert res.exit_code == 0 and "withdrew 1" in res.stdout
    res = runner.invoke(app, ["rights", "erase", "-c", str(cfg), "--email", email, "--format", "xml"])
    assert res.exit_code == 2
