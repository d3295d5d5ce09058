"""Optional packages are extras: without one, the first use names the extra to install."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pledge import demo as demo_module
from pledge.cli import main
from pledge.extras import EXTRAS, MissingExtra, create_engine, missing_extra, require


def test_a_missing_optional_module_names_its_extra() -> None:
    for module, extra in EXTRAS.items():
        found = missing_extra(ModuleNotFoundError(f"No module named '{module}'", name=module), "this")
        assert isinstance(found, MissingExtra) and isinstance(found, ImportError)
        assert f"pip install 'privacy-pledge[{extra}]'" in str(found)
    assert missing_extra(ModuleNotFoundError("No module named 'numpy'", name="numpy"), "this") is None


def test_a_url_for_a_driver_pledge_does_not_ship_says_which_url_to_write() -> None:
    with pytest.raises(MissingExtra) as caught:  # mysql:// means MySQLdb (mysqlclient), never installed
        create_engine("mysql://root@127.0.0.1/test")
    assert "mysql+pymysql://" in str(caught.value) and "privacy-pledge[mysql]" in str(caught.value)


def test_require_passes_for_an_installed_extra_and_names_a_missing_one(monkeypatch: pytest.MonkeyPatch) -> None:
    require("redis", "rate limits in Redis")  # the dev install has every extra
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(MissingExtra, match=r"privacy-pledge\[redis\]"):
        require("redis", "rate limits in Redis")


def test_the_cli_prints_the_extra_and_exits_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.argv", ["pledge", "datamap", "discover", "--url", "mysql://root@127.0.0.1/test"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    assert "pip install 'privacy-pledge[mysql]'" in " ".join(capsys.readouterr().err.split())


def test_an_installed_demo_copies_its_example_out_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    packaged = tmp_path / "site-packages" / "pledge" / "examples"
    shutil.copytree(Path(__file__).resolve().parents[1] / "examples" / "onetagger", packaged / "onetagger",
                    ignore=shutil.ignore_patterns(".pledge", "*.db*"))
    monkeypatch.setattr(demo_module, "examples_dir", lambda: (packaged, False))
    work = tmp_path / "empty"
    config = demo_module.demo_config("onetagger", work)
    assert config == work / "pledge-demo" / "onetagger" / "pledge.yaml"
    assert sorted(p.name for p in config.parent.iterdir()) == sorted(p.name for p in (packaged / "onetagger").iterdir())
    (config.parent / "policy.yaml").write_text("# the user's own edit\n")
    assert demo_module.demo_config("onetagger", work) == config  # a second start keeps what is there
    assert (config.parent / "policy.yaml").read_text() == "# the user's own edit\n"
    with pytest.raises(LookupError, match="onetagger"):
        demo_module.demo_config("nope", work)


def test_a_checkout_runs_the_demo_in_place() -> None:
    root, checkout = demo_module.examples_dir()
    assert checkout and root == Path(__file__).resolve().parents[1] / "examples"
    assert demo_module.demo_config("omni-one") == root / "omni-one" / "pledge.yaml"
    assert demo_module.known_examples() == ["omni-one", "onestepai", "onetagger"]


def test_the_cli_runner_sees_unknown_examples() -> None:
    from pledge.cli import app

    res = CliRunner().invoke(app, ["demo", "--example", "nope"])
    assert res.exit_code == 2 and "choose one of omni-one, onestepai, onetagger" in " ".join(res.output.split())
