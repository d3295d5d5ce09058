"""Policy diffs: what is material, versions published, and `pledge notice diff`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from pledge.cli import app
from pledge.engine import Engine
from pledge.policy.model import Policy
from pledge.reports.changes import diff_policies, policy_hash
from pledge.reports.versions import history, publish
from tests.reports_support import english_policy, write_config, write_yaml


def test_cli_diff_reports_a_shortened_retention_period_as_material(tmp_path: Path) -> None:
    old = english_policy()
    new = english_policy()
    new["version"] = "2025.2"
    new["retention"][1]["period"] = "P6M"  # access logs: 12 months → 6 months
    a, b = write_yaml(tmp_path / "old.yaml", old), write_yaml(tmp_path / "new.yaml", new)
    res = CliRunner().invoke(app, ["notice", "diff", str(a), str(b), "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["material"] is True
    [change] = [c for c in data["changes"] if c["section"] == "retention"]
    assert change["key"] == "ip_logs" and change["field"] == "period" and change["material"] is True
    assert "shortened" in change["summary"] and "P12M" in change["summary"] and "P6M" in change["summary"]
    text = CliRunner().invoke(app, ["notice", "diff", str(a), str(b)])
    assert text.exit_code == 0 and "shortened" in text.output and "material" in text.output


def test_wording_is_not_material_but_new_things_are() -> None:
    old = english_policy()
    reworded = english_policy()
    reworded["purposes"][0]["name"] = "Run the chat service for you"
    reworded["purposes"][0]["description"] = "Clearer words."
    reworded["controller"]["email"] = "hello@example.test"
    diff = diff_policies(Policy.model_validate(old), Policy.model_validate(reworded))
    assert diff.changes and not diff.is_material

    grown = english_policy()
    grown["recipients"][1]["countries"] = ["DE", "IN"]  # a new transfer
    grown["purposes"][2]["legal_basis"] = "consent"  # a changed legal basis
    grown["categories"].append({"key": "user.biometric", "name": "Voice prints", "special": True})
    grown["retention"][0]["period"] = "P1Y"  # lengthened
    diff = diff_policies(Policy.model_validate(old), Policy.model_validate(grown))
    material = {(c.section, c.key, c.field) for c in diff.material}
    assert ("recipients", "mailer", "countries") in material
    assert ("purposes", "security", "legal_basis") in material
    assert ("categories", "user.biometric", None) in material
    assert ("retention", "deleted_account", "period") in material
    assert any("lengthened" in c.summary for c in diff.material)
    assert diff.reconsent  # the newsletter recipient's purpose rests on consent; a basis moved to consent

    fewer = english_policy()
    fewer["recipients"][2]["countries"] = ["US"]  # dropping a country is not material
    assert not diff_policies(Policy.model_validate(old), Policy.model_validate(fewer)).is_material


def test_publish_records_versions_and_material_flag(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, english_policy())
    engine = Engine.from_config_file(cfg)
    first = publish(engine)
    assert first.new and not first.material and first.policy_hash == policy_hash(engine.policy)
    assert not publish(engine).new  # the same policy twice is one version

    changed = english_policy()
    changed["version"] = "2025.2"
    changed["retention"][1]["period"] = "P6M"
    write_yaml(tmp_path / "policy.yaml", changed)
    engine2 = Engine.from_config_file(cfg)
    second = publish(engine2)
    assert second.new and second.material and second.version == "2025.2"
    rows = history(engine2)
    assert [r["version"] for r in rows] == ["2025.1", "2025.2"]
    assert [bool(r["material"]) for r in rows] == [False, True]
    assert engine2.audit.verify() == []
    engine.close()
    engine2.close()
