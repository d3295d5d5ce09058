"""The live schema is checked before anything runs, and ``datamap check`` says the same.

A misspelt column, a wrong declared key and a missing table refuse access, erasure,
retention, breach and proof runs before they read or change anything, naming the dataset's
``file:line``, the field and the live columns. The verdict is cached per process and
refreshed when the schema changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from typer.testing import CliRunner

import pledge.dataplane.schema as live_schema
from pledge.cli import app
from pledge.dataplane.schema import SchemaMismatch
from pledge.rights.locate import locate
from pledge.store.tables.breach import breaches
from tests.test_dataplane import DATASET, MIXED, build, deploy, meta

runner = CliRunner()

EMAIL_LINE = "          - {name: email, identity: email, categories: [user.contact.email]}"
LINE_NO = "          - {name: line_no, primary_key: true}"
INVOICES = """\
      - name: invoices
        fields:
          - {name: id, primary_key: true}
          - name: account_id
            references: [{field: main.accounts.id}]
"""

# name -> (dataset text, code, path, the line the finding points at, what it must show of the live schema)
VARIANTS: dict[str, tuple[str, str, str, str, str]] = {
    "misspelt column": (DATASET.replace(EMAIL_LINE, EMAIL_LINE.replace("name: email", "name: emial"), 1),
                        "unknown-column", "main.accounts.emial", EMAIL_LINE.replace("name: email", "name: emial"),
                        "live columns: id, email, name"),
    "wrong declared key": (DATASET.replace(LINE_NO, "          - {name: line_no}"), "primary-key-mismatch",
                           "main.order_lines", "          - name: order_id", "is (order_id, line_no)"),
    "missing table": (DATASET + INVOICES, "unknown-table", "main.invoices", "      - name: invoices",
                      "tables: accounts, audit_log, newsletter, order_lines, orders, scratch, teams, visits"),
}


def _line(dataset: str, text_line: str) -> int:
    lines = dataset.splitlines()
    # the declaration inside the named collection (the misspelt email is the first one)
    return lines.index(text_line) + 1


def _flat(output: str) -> str:
    """CLI output without the line breaks Rich adds to fit the terminal."""
    return "".join(output.split())


def _snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    eng = create_engine(url)
    with eng.connect() as conn:
        out = {t.name: sorted((tuple(r) for r in conn.execute(select(t))), key=repr) for t in meta.sorted_tables}
    eng.dispose()
    return out


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_run_refuses_before_doing_anything(tmp_path: Path, variant: str) -> None:
    dataset, code, path, decl, live = VARIANTS[variant]
    url = f"sqlite:///{tmp_path / 'platform.db'}"
    build(url)
    engine = deploy(tmp_path, url, dataset)
    cfg = str(tmp_path / "pledge.yaml")
    where = f"dataset.yaml:{_line(dataset, decl)}"
    before = _snapshot(url)

    def refused(args: list[str], exit_code: int = 2) -> str:
        res = runner.invoke(app, [*args, "-c", cfg])
        assert res.exit_code == exit_code, (args, res.output)
        flat = _flat(res.output)
        assert _flat(f"{where}: {path}") in flat and _flat(live) in flat and code in flat, (args, res.output)
        return res.output

    out = tmp_path / "out.zip"
    refused(["rights", "access", "--email", MIXED, "-o", str(out)])
    assert not out.exists()
    refused(["rights", "erase", "--email", MIXED])
    refused(["rights", "erase", "--email", MIXED, "--plan"])
    refused(["retention", "run", "--now", "2030-01-01T00:00:00+00:00"])
    refused(["retention", "plan", "--now", "2030-01-01T00:00:00+00:00"])
    refused(["breach", "open", "--title", "leak", "--aware-at", "2024-03-10T00:00:00+00:00",
             "--collection", "main.orders", "--from", "2024-03-01T00:00:00+00:00",
             "--to", "2024-03-31T00:00:00+00:00"])
    refused(["prove"])
    assert _snapshot(url) == before  # nothing changed in the platform
    with engine.store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(breaches)).scalar() == 0
    # datamap check reports the same, with the same place, and exits 1
    report = refused(["datamap", "check"], exit_code=1)
    assert "error" in report
    engine.close()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_locate_refuses_a_mismatch_on_every_engine(tmp_path: Path, any_db_url: str, variant: str) -> None:
    dataset, code, path, decl, live = VARIANTS[variant]
    build(any_db_url)
    engine = deploy(tmp_path, any_db_url, dataset)
    try:
        with pytest.raises(SchemaMismatch) as caught:
            locate(engine, {"email": MIXED})
    finally:
        engine.close()
    [finding] = [f for f in caught.value.findings if f.code == code]
    assert finding.path == path and finding.where == f"{tmp_path / 'dataset.yaml'}:{_line(dataset, decl)}"
    assert live in finding.message


FIDES = """\
dataset:
  - fides_key: main
    collections:
      - name: accounts
        fields:
          - name: id
            fides_meta: {primary_key: true, identity: user_id}
          - name: emial
            data_categories: [user.contact.email]
            fides_meta: {identity: email}
      - name: orders
        fields:
          - name: id
            fides_meta: {primary_key: true}
          - name: account_id
            fides_meta:
              references: [{dataset: main, field: accounts.id, direction: from}]
"""


def test_a_fides_dataset_is_refused_with_its_own_lines(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'platform.db'}"
    build(url)
    engine = deploy(tmp_path, url, FIDES)
    try:
        with pytest.raises(SchemaMismatch) as caught:
            locate(engine, {"email": MIXED})
    finally:
        engine.close()
    line = FIDES.splitlines().index("          - name: emial") + 1
    assert f"dataset.yaml:{line}: main.accounts.emial: table 'accounts' has no column 'emial'" in str(caught.value)
    assert "did you mean 'email'?" in str(caught.value)


def test_the_verdict_is_cached_and_refreshed_when_the_schema_changes(
        tmp_path: Path, any_db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    build(any_db_url)
    engine = deploy(tmp_path, any_db_url)
    connector = engine.connectors.get("main")
    probes: list[str] = []
    real = connector.fingerprint

    def counted() -> str:
        probes.append("probe")
        return real()

    monkeypatch.setattr(connector, "fingerprint", counted)
    try:
        monkeypatch.setattr(live_schema, "PROBE_SECONDS", 3600.0)
        for _ in range(3):
            assert locate(engine, {"email": MIXED}).keys("main.accounts") == [(1,)]
        assert len(probes) == 1  # one probe, then the cached verdict
        monkeypatch.setattr(live_schema, "PROBE_SECONDS", 0.0)
        with engine.platform_engine("main").begin() as conn:
            conn.execute(text("ALTER TABLE accounts RENAME COLUMN name TO full_name"))
        with pytest.raises(SchemaMismatch) as caught:
            locate(engine, {"email": MIXED})
        assert "main.accounts.name" in str(caught.value) and "full_name" in str(caught.value)
        with engine.platform_engine("main").begin() as conn:
            conn.execute(text("ALTER TABLE accounts RENAME COLUMN full_name TO name"))
        found = locate(engine, {"email": MIXED})
        assert found.rows["main.accounts"][0]["name"] == "Mixed"  # reflected afresh
    finally:
        engine.close()
