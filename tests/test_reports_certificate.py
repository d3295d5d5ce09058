"""Erasure certificates: signed, verifiable, no personal data, and tampering is caught."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pledge.cli import app
from pledge.reports.certificate import CertificateError, issue, public_key_b64, signing_key, to_html, verify
from tests.reports_support import english_policy, write_config

WHEN = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SIMPLE = {"request_id": "req-42", "deleted": {"main.messages": 17, "main.users": 1},
          "masked": {"main.invoices": {"billing_name": "hmac"}},
          "retained": [{"table": "main.invoices", "count": 3, "reason": "tax records", "law": "s.886 TCA 1997"}]}
# the shape the erasure engine returns (row ids included: they must not reach the certificate)
ENGINE_REPORT = {"request_id": "req-43", "dry_run": False, "status": "done",
                 "deleted": [{"collection": "main.messages", "rows": 2, "reason": "owned by the person",
                              "ids": [5, 6]}],
                 "masked": [{"collection": "main.users", "rows": 1, "reason": "erase",
                             "fields": {"email": "hmac", "name": "redact"}, "ids": [9]}],
                 "retained": [{"collection": "main.invoices", "rows": 1, "reason": "exemption",
                               "exemption": "tax", "law": "Art. 74 Accounting Act", "ids": [3]}],
                 "notes": ["person@example.test was found"]}


def test_issue_and_verify_both_report_shapes() -> None:
    for report in (SIMPLE, ENGINE_REPORT):
        doc = issue(report, "secret-one", issued_at=WHEN, controller="Sample Chat Ltd", policy_version="2025.1")
        body = verify(json.loads(json.dumps(doc)), public_key_b64(signing_key("secret-one")))
        assert body["request_id"] == report["request_id"]
    doc = issue(ENGINE_REPORT, "secret-one", issued_at=WHEN)
    text = json.dumps(doc)
    assert "ids" not in doc["certificate"]["deleted"][0] and "[5, 6]" not in text
    assert "example.test" not in text  # notes with personal data are left out
    assert doc["certificate"]["totals"] == {"deleted": 2, "masked": 1, "retained": 1}
    assert doc["certificate"]["masked"][0]["fields"] == {"email": "hmac", "name": "redact"}
    assert "Art. 74 Accounting Act" in to_html(doc)


@pytest.mark.parametrize("tamper", [
    lambda d: d["certificate"]["deleted"].__setitem__(0, {"collection": "main.messages", "rows": 1}),
    lambda d: d["certificate"].__setitem__("request_id", "req-99"),
    lambda d: d["certificate"]["retained"][0].__setitem__("reason", "we felt like it"),
])
def test_a_tampered_certificate_fails(tamper) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(json.dumps(issue(SIMPLE, "secret-one", issued_at=WHEN)))
    tamper(doc)
    with pytest.raises(CertificateError, match="altered"):
        verify(doc)


def test_another_key_is_not_this_deployment() -> None:
    doc = issue(SIMPLE, "someone-else", issued_at=WHEN)
    verify(doc)  # valid in itself...
    with pytest.raises(CertificateError, match="different key"):
        verify(doc, public_key_b64(signing_key("secret-one")))  # ...but not ours


def test_a_plan_is_not_certified() -> None:
    with pytest.raises(CertificateError, match="completed"):
        issue({**ENGINE_REPORT, "dry_run": True, "status": "planned"}, "s", issued_at=WHEN)


def test_cli_issue_and_verify(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, english_policy())
    report = tmp_path / "report.json"
    report.write_text(json.dumps(ENGINE_REPORT), encoding="utf-8")
    cert, page = tmp_path / "cert.json", tmp_path / "cert.html"
    runner = CliRunner()
    res = runner.invoke(app, ["certificate", "issue", str(report), "-c", str(cfg), "--out", str(cert),
                              "--html", str(page)])
    assert res.exit_code == 0, res.output
    assert "req-43" in page.read_text(encoding="utf-8")
    ok = runner.invoke(app, ["certificate", "verify", str(cert), "-c", str(cfg)])
    assert ok.exit_code == 0 and "valid" in ok.output
    doc = json.loads(cert.read_text(encoding="utf-8"))
    doc["certificate"]["totals"]["deleted"] = 0
    cert.write_text(json.dumps(doc), encoding="utf-8")
    bad = runner.invoke(app, ["certificate", "verify", str(cert)])
    assert bad.exit_code == 1 and "altered" in bad.output
