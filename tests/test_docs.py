"""The docs are checked: every command is documented, and docs/cli.md is current."""

from __future__ import annotations

from pathlib import Path

import typer.main

from pledge.cli import app
from pledge.cli.docs import _walk, render

ROOT = Path(__file__).resolve().parents[1]


def test_every_command_and_option_has_help() -> None:
    missing = []
    for path, cmd in _walk(typer.main.get_command(app), ["pledge"])[1:]:
        if not (cmd.help or "").strip():
            missing.append(" ".join(path))
        for p in cmd.params:
            if p.param_type_name == "option" and not (p.help or "").strip() and "--help" not in p.opts:
                missing.append(f"{' '.join(path)} {p.opts[0]}")
    assert missing == []


def test_cli_reference_is_current() -> None:
    current = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == render(), "docs/cli.md is stale: run `make docs`"


def test_readme_names_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci
