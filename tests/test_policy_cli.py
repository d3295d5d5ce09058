"""``pledge check`` and ``pledge schema``: exit codes, JSON output, readable text."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from pledge.cli import app
from tests.policy_samples import good_dataset, good_policy, write

runner = CliRunner()


def test_check_good_policy_exits_0(tmp_path: Path) -> None:
    path = write(tmp_path / "policy.yaml", good_policy())
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 0, result.output
    assert "0 error(s), 0 warning(s)" in result.stdout


def test_check_errors_exit_1_with_table(tmp_path: Path) -> None:
    data = good_policy()
    data["recipients"][1]["transfer"] = "privacy_shield"
    data["retention"][0]["period"] = None
    data["retention"][0]["vague"] = "as long as necessary"
    path = write(tmp_path / "policy.yaml", data)
    result = runner.invoke(app, ["check", str(path)], terminal_width=200)
    assert result.exit_code == 1, result.output
    assert "PL001" in result.stdout and "PL020" in result.stdout
    assert "Privacy Shield" in result.stdout
    assert "1 error(s), 1 warning(s)" in result.stdout


def test_check_json_output(tmp_path: Path) -> None:
    data = good_policy()
    data["controller"]["email"] = None
    data["rights"]["promise"] = "P30D"
    path = write(tmp_path / "policy.yaml", data)
    result = runner.invoke(app, ["check", str(path), "--format", "json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["ok"], report["errors"], report["warnings"]) == (False, 1, 1)
    by_code = {f["code"]: f for f in report["findings"]}
    assert set(by_code) == {"PL030", "PL051"}
    assert by_code["PL030"]["severity"] == "error"
    assert by_code["PL030"]["path"] == "controller.email"
    email_line = path.read_text().splitlines().index("  email: null") + 1
    assert by_code["PL030"]["line"] == email_line
    assert by_code["PL051"]["severity"] == "warning"


def test_warnings_only_exit_0(tmp_path: Path) -> None:
    data = good_policy()
    data["rights"]["promise"] = "P30D"
    result = runner.invoke(app, ["check", str(write(tmp_path / "policy.yaml", data)), "-f", "json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["warnings"] == 1


def test_check_with_dataset(tmp_path: Path) -> None:
    data = good_policy()
    data["retention"][0]["collections"] = ["main.accounts"]
    policy = write(tmp_path / "policy.yaml", data)
    dataset = write(tmp_path / "dataset.yaml", good_dataset())
    assert runner.invoke(app, ["check", str(policy)]).exit_code == 0
    result = runner.invoke(app, ["check", str(policy), "--dataset", str(dataset), "--format", "json"])
    assert result.exit_code == 1
    assert [f["code"] for f in json.loads(result.stdout)["findings"]] == ["PL080"]


def test_unusable_policy_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "policy.yaml", 'version: "1"\ncontroller:\n  name: A\n  country: PL\n  emial: a@b.c\n')
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 2
    assert f"{path}:5:3: controller.emial: unknown field 'emial', did you mean 'email'?" in result.stderr
    result = runner.invoke(app, ["check", str(path), "--format", "json"])
    assert result.exit_code == 2
    problems = json.loads(result.stdout)["problems"]
    assert [(p["line"], p["column"], p["path"]) for p in problems] == [(5, 3, "controller.emial")]


def test_missing_files_exit_2(tmp_path: Path) -> None:
    assert runner.invoke(app, ["check", str(tmp_path / "none.yaml")]).exit_code == 2
    policy = write(tmp_path / "policy.yaml", good_policy())
    bad_ds = write(tmp_path / "dataset.yaml", "name: x\ndatabases: 3\n")
    result = runner.invoke(app, ["check", str(policy), "--dataset", str(bad_ds)])
    assert result.exit_code == 2
    assert f"{bad_ds}:2:" in result.stderr


def test_check_uses_the_config_files(tmp_path: Path) -> None:
    data = good_policy()
    data["retention"][0]["collections"] = ["main.nowhere"]
    write(tmp_path / "policy.yaml", data)
    write(tmp_path / "dataset.yaml", good_dataset())
    config = write(tmp_path / "pledge.yaml", {"name": "acme", "policy": "policy.yaml", "dataset": "dataset.yaml"})
    result = runner.invoke(app, ["check", "-c", str(config), "-f", "json"])
    assert result.exit_code == 1, result.output
    assert [f["code"] for f in json.loads(result.stdout)["findings"]] == ["PL080"]
    assert runner.invoke(app, ["check", "-c", str(tmp_path / "missing.yaml")]).exit_code == 2


def test_schema_policy_and_dataset() -> None:
    result = runner.invoke(app, ["schema", "policy"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["additionalProperties"] is False
    assert {"controller", "purposes", "retention"} <= set(schema["properties"])
    period = schema["$defs"]["RetentionRule"]["properties"]["period"]
    assert "P30D" in json.dumps(period)  # durations carry their ISO pattern
    result = runner.invoke(app, ["schema", "dataset"])
    assert result.exit_code == 0
    assert "databases" in json.loads(result.stdout)["properties"]
    assert runner.invoke(app, ["schema", "nothing"]).exit_code == 2


def test_help_texts() -> None:
    for cmd in (["check", "--help"], ["schema", "--help"]):
        result = runner.invoke(app, cmd, terminal_width=200)
        assert result.exit_code == 0
        assert "--config" in result.stdout
    assert "--dataset" in runner.invoke(app, ["check", "--help"], terminal_width=200).stdout
