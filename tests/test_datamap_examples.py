"""Each example platform, generated small on SQLite, passes ``pledge datamap check``,
and discovery finds no personal-looking column its dataset leaves undeclared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pledge.cli import app
from pledge.datamap.discover import discover
from pledge.datamap.load import load_dataset
from pledge.platforms import PLATFORMS, create_platform
from pledge.store import make_sa_engine
from tests.conftest import EXAMPLES

runner = CliRunner()


@pytest.fixture(params=sorted(PLATFORMS))
def small_platform(request: pytest.FixtureRequest, tmp_path: Path,
                   monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, Path]:
    name: str = request.param
    config = EXAMPLES / name / "pledge.yaml"
    if not (EXAMPLES / name / "dataset.yaml").exists():
        pytest.fail(f"examples/{name}/dataset.yaml is missing")
    url = f"sqlite:///{tmp_path / 'platform.db'}"
    create_platform(name, url, 12, progress=False)
    monkeypatch.setenv("PLEDGE_PLATFORM_URL", url)
    monkeypatch.setenv("PLEDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    for store in load_dataset(EXAMPLES / name / "dataset.yaml").stores:  # this platform's own file folders
        folder = tmp_path / "blobs" / store.name
        folder.mkdir(parents=True)
        monkeypatch.setenv(f"PLEDGE_BLOBS_{store.name.upper()}", str(folder))
    return name, url, config


def test_example_dataset_passes_datamap_check(small_platform: tuple[str, str, Path]) -> None:
    name, _url, config = small_platform
    result = runner.invoke(app, ["datamap", "check", "-c", str(config), "--format", "json"])
    report = json.loads(result.stdout)
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert result.exit_code == 0 and report["ok"], f"{name}: {errors}"


def test_example_dataset_declares_every_personal_looking_column(small_platform: tuple[str, str, Path]) -> None:
    name, url, _config = small_platform
    dataset = load_dataset(EXAMPLES / name / "dataset.yaml")
    engine = make_sa_engine(url)
    try:
        report = discover(engine, database="main", compare=dataset)
    finally:
        engine.dispose()
    assert report.personal, f"{name}: discovery found no personal data at all"
    assert [p.path for p in report.undeclared] == [], name
