"""``pledge ledger replay`` says how many rectifications it re-applied (issue #15)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from pledge.cli import app
from pledge.rights.rectify import rectify
from tests.erasure_exact_support import restore, snap
from tests.test_erasure_exact import DECLARED, NOW, shop


def test_replay_reports_rectifications(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    engine = shop(tmp_path, url)
    eng = engine.platform_engine("main")
    backup = snap(eng, DECLARED)
    rectify(engine, {"email": "bob@example.org"}, {"name": "Robert Jones"})
    restore(eng, backup)  # Bob's old name is back
    cfg = tmp_path / "pledge.yaml"
    cfg.write_text(f"name: exact\npolicy: {tmp_path / 'cfg' / 'policy.yaml'}\n"
                   f"dataset: {tmp_path / 'cfg' / 'dataset.yaml'}\nplatform_url: {url}\n"
                   f"store_url: sqlite:///{tmp_path / 'cfg' / 'store.db'}\n", encoding="utf-8")
    engine.close()
    later = NOW.replace(hour=3).isoformat()
    out = CliRunner().invoke(app, ["ledger", "replay", "-c", str(cfg), "--now", later,
                                   "--since", NOW.replace(hour=0).isoformat()])
    assert out.exit_code == 0, out.output
    assert "1 rectification(s) re-applied" in out.output
    assert snap(eng, DECLARED)["customers"][2]["name"] == "Robert Jones"
