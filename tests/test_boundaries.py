"""The design's boundaries, checked: core packages never import the interfaces."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "pledge"
CORE = ["policy", "datamap", "connectors", "rights", "retention", "consent", "reports", "breach", "audit.py", "admins.py",
        "store", "platforms", "prove"]
INTERFACES = ("pledge.web", "pledge.cli", "pledge.jobs")
MAX_LINES = 650


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _files(part: str) -> list[Path]:
    target = SRC / part
    return [target] if target.is_file() else sorted(target.rglob("*.py"))


@pytest.mark.parametrize("part", CORE)
def test_core_never_imports_interfaces(part: str) -> None:
    bad = {
        f"{f.relative_to(SRC)} imports {name}"
        for f in _files(part)
        for name in _imports(f)
        if name.startswith(INTERFACES)
    }
    assert bad == set()


def test_modules_stay_small() -> None:
    big = {str(f.relative_to(SRC)): n for f in SRC.rglob("*.py")
           if (n := len(f.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert big == {}
