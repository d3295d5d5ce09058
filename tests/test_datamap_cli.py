"""``pledge datamap check`` and ``pledge datamap discover`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pledge.cli import app
from pledge.datamap.load import dataset_to_yaml, load_dataset
from pledge.datamap.model import Dataset
from tests.datamap_support import build_shop, shop_dataset

runner = CliRunner()


def _err(result: object) -> str:
    """stderr with Rich's line wrapping undone."""
    return " ".join(str(getattr(result, "stderr", "")).split())


def _deployment(tmp_path: Path, url: str, dataset: Dataset | str) -> Path:
    build_shop(url).dispose()
    ds_path = tmp_path / "dataset.yaml"
    ds_path.write_text(dataset if isinstance(dataset, str) else dataset_to_yaml(dataset), encoding="utf-8")
    config = tmp_path / "pledge.yaml"
    config.write_text(
        "name: shop\npolicy: policy.yaml\ndataset: dataset.yaml\n"
        f"platform_url: {url}\nstore_url: sqlite:///{tmp_path / 'store.db'}\n", encoding="utf-8")
    return config


def test_check_passes_on_a_correct_dataset(tmp_path: Path) -> None:
    config = _deployment(tmp_path, f"sqlite:///{tmp_path / 'shop.db'}", shop_dataset())
    result = runner.invoke(app, ["datamap", "check", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "unreachable-collection" in result.output and "0 error(s), 2 warning(s)" in result.output
    assert "CREATE INDEX customers_email_lower ON customers (lower(email))" in result.output
    result = runner.invoke(app, ["datamap", "check", "-c", str(config), "--format", "json"])
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["ok"] is True
    assert sorted(f["code"] for f in report["findings"]) == ["case-insensitive-index", "unreachable-collection"]


def test_check_reports_errors_with_exit_1(tmp_path: Path, mariadb_url: str) -> None:
    dataset = shop_dataset()
    db = dataset.database("main")
    db.collection("orders").field("note").name = "remark"
    db.collection("customers").field("email").data_type = "integer"
    config = _deployment(tmp_path, mariadb_url, dataset)
    result = runner.invoke(app, ["datamap", "check", "-c", str(config), "--format", "json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is False
    found = {(f["code"], f["path"]) for f in report["findings"]}
    assert ("unknown-column", "main.orders.remark") in found
    assert ("type-mismatch", "main.customers.email") in found
    assert all({"code", "severity", "path", "message"} <= set(f) for f in report["findings"])


def test_check_exits_2_on_an_unusable_dataset_naming_the_line(tmp_path: Path) -> None:
    text = dataset_to_yaml(shop_dataset()).replace("primary_key: true", "primary_key: maybe", 1)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "maybe" in row)
    config = _deployment(tmp_path, f"sqlite:///{tmp_path / 'shop.db'}", text)
    result = runner.invoke(app, ["datamap", "check", "-c", str(config)])
    assert result.exit_code == 2
    assert f"dataset.yaml:{line}:" in result.stderr and "primary_key" in _err(result)
    result = runner.invoke(app, ["datamap", "check", "-c", str(config), "--format", "json"])
    assert result.exit_code == 2 and json.loads(result.stdout)["problems"][0]["line"] == line


def test_check_exits_2_on_a_missing_config(tmp_path: Path) -> None:
    result = runner.invoke(app, ["datamap", "check", "-c", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "config file not found" in _err(result)


def test_discover_writes_a_proposed_dataset(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    build_shop(url).dispose()
    out = tmp_path / "proposed.yaml"
    result = runner.invoke(app, ["datamap", "discover", "--url", url, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "7 tables" in result.output and "main.logins.origin" in result.output
    proposed = load_dataset(out)
    assert proposed.database("main").collection("payments").field("order_id").references[0].field == \
        "main.orders.id"


def test_discover_compares_with_the_config_dataset(tmp_path: Path, postgres_url: str) -> None:
    dataset = shop_dataset()
    db = dataset.database("main")
    db.collections = [c for c in db.collections if c.name != "logins"]
    config = _deployment(tmp_path, postgres_url, dataset)
    result = runner.invoke(app, ["datamap", "discover", "-c", str(config), "--format", "json"])
    assert result.exit_code == 1, result.output  # undeclared personal data found
    report = json.loads(result.stdout)
    assert report["compared"] is True
    assert [u["path"] for u in report["undeclared"]] == ["main.logins.origin"]
    assert report["undeclared"][0]["reason"] == "values"


@pytest.mark.parametrize(("url", "words"), [
    ("not a url", "is not a database URL"),
    ("sqlite:///{tmp}/missing.db", "does not exist"),
    ("postgresql+psycopg://nobody@127.0.0.1:1/none", "cannot connect"),
])
def test_discover_refuses_bad_urls_with_exit_2(tmp_path: Path, url: str, words: str) -> None:
    result = runner.invoke(app, ["datamap", "discover", "--url", url.format(tmp=tmp_path)])
    assert result.exit_code == 2
    assert words in _err(result)


def test_discover_needs_a_url_or_a_config() -> None:
    result = runner.invoke(app, ["datamap", "discover"])
    assert result.exit_code == 2 and "--url" in _err(result)
