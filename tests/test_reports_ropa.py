"""Records of processing: every purpose, category, recipient, transfer and retention period.

The expected sets are read from the policy file itself (raw YAML), not from a copy, for
each example platform (or the sample policy while an example is still being written).
"""

from __future__ import annotations

import csv
import html
import io
from pathlib import Path
from typing import Any

import pytest
import yaml
from openpyxl import load_workbook

from pledge.datamap.load import load_dataset
from pledge.policy.load import load_policy
from pledge.reports import dpv
from pledge.reports.ropa import build_ropa, to_csv, to_html, to_xlsx
from tests.reports_support import PLATFORMS, dataset, example_or_sample, sample_for, write_yaml


def _files(platform: str, tmp_path: Path) -> tuple[Path, Path]:
    pol, ds = example_or_sample(platform)
    if pol is None or ds is None:
        pol = write_yaml(tmp_path / "policy.yaml", sample_for(platform))
        ds = write_yaml(tmp_path / "dataset.yaml", dataset())
    return pol, ds


def _expected(raw: dict[str, Any]) -> dict[str, set[Any]]:
    return {
        "purposes": {p["key"] for p in raw.get("purposes", [])},
        "categories": {c["key"] for c in raw.get("categories", [])},
        "recipients": {r["key"] for r in raw.get("recipients", [])},
        "transfers": {(r["key"], c.upper()) for r in raw.get("recipients", []) for c in r.get("countries", [])
                      if dpv.is_third_country(c)},
        "periods": {(r["key"], str(r["period"]).upper()) for r in raw.get("retention", []) if r.get("period")}
        | {(e["key"], str(e["period"]).upper()) for e in raw.get("exemptions", [])},
    }


@pytest.mark.parametrize("platform", PLATFORMS)
def test_ropa_holds_every_promise_of_the_policy(platform: str, tmp_path: Path) -> None:
    pol_file, ds_file = _files(platform, tmp_path)
    raw = yaml.safe_load(pol_file.read_text(encoding="utf-8"))
    want = _expected(raw)
    assert want["purposes"] and want["categories"] and want["periods"]
    ropa = build_ropa(load_policy(pol_file), load_dataset(ds_file))

    rows = list(csv.DictReader(io.StringIO(to_csv(ropa))))
    got = {
        "purposes": {r["purpose"] for r in rows if r["section"] == "processing"},
        "categories": {r["category"] for r in rows if r["section"] == "categories"},
        "recipients": {r["recipient"] for r in rows if r["section"] == "recipients"},
        "transfers": {(r["recipient"], r["country"]) for r in rows if r["section"] == "transfers"},
        "periods": {(r["rule"], r["period_iso"]) for r in rows if r["section"] == "retention"},
    }
    for key in want:
        assert want[key] <= got[key], f"{platform}: RoPA misses {key}: {want[key] - got[key]}"

    # every purpose's legal basis carries its DPV term
    for p in raw["purposes"]:
        row = next(r for r in rows if r["section"] == "processing" and r["purpose"] == p["key"])
        if p.get("legal_basis"):
            assert row["dpv_legal_basis"] == dpv.LEGAL_BASIS[p["legal_basis"]][0]
    for r in rows:
        if r["section"] == "transfers" and r["mechanism"] != "none stated":
            assert r["dpv_transfer"].startswith("dpv:")

    # the same facts reach the XLSX and the HTML
    wb = load_workbook(io.BytesIO(to_xlsx(ropa)))
    assert {"controller", "processing", "recipients", "transfers", "retention", "security"} <= set(wb.sheetnames)
    cells = {str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value is not None}
    assert want["purposes"] <= cells and want["recipients"] <= cells
    assert {p for _, p in want["periods"]} <= cells
    page = to_html(ropa)
    for name in [p["name"] for p in raw["purposes"]] + [r["name"] for r in raw.get("recipients", [])]:
        assert html.escape(name) in page


def test_ropa_cli_writes_each_format(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pledge.cli import app
    from tests.reports_support import english_policy, write_config

    cfg = write_config(tmp_path, english_policy())
    runner = CliRunner()
    for fmt in ("html", "csv", "xlsx"):
        out = tmp_path / f"ropa.{fmt}"
        res = runner.invoke(app, ["report", "ropa", "-c", str(cfg), "--format", fmt, "--out", str(out)])
        assert res.exit_code == 0, res.output
        assert out.stat().st_size > 200
    assert "Model Router" in (tmp_path / "ropa.csv").read_text(encoding="utf-8")
    bad = runner.invoke(app, ["report", "ropa", "-c", str(cfg), "--format", "pdf"])
    assert bad.exit_code == 2 and "pdf" in bad.output
