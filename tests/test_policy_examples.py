"""Acceptance: ``pledge check`` on the three example policies."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pledge.cli import app
from tests.conftest import EXAMPLES

runner = CliRunner()


def _check(name: str, *extra: str) -> tuple[int, dict[str, object], str]:
    policy = EXAMPLES / name / "policy.yaml"
    result = runner.invoke(app, ["check", str(policy), "--format", "json", *extra])
    text = runner.invoke(app, ["check", str(policy)], terminal_width=200).stdout
    return result.exit_code, json.loads(result.stdout), text


def test_onestepai_fails_on_privacy_shield_and_missing_contact() -> None:
    code, report, text = _check("onestepai")
    assert code == 1
    findings = report["findings"]
    assert isinstance(findings, list)
    errors = {f["code"]: f for f in findings if f["severity"] == "error"}
    assert set(errors) == {"PL001", "PL030"}
    assert "Privacy Shield" in errors["PL001"]["message"]
    assert "C-311/18" in errors["PL001"]["hint"]
    assert "contact" in errors["PL030"]["message"]
    assert "Privacy Shield" in text and "PL030" in text
    # Its vague retention wording is flagged too, as warnings.
    assert any(f["code"] == "PL020" for f in findings)


@pytest.mark.parametrize("name", ["omni-one", "onetagger"])
def test_other_examples_have_no_errors(name: str) -> None:
    code, report, text = _check(name)
    assert code == 0, text
    assert report["errors"] == 0
    assert "0 error(s)" in text
