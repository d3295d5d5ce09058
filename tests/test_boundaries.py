"""The design's boundaries, checked: core packages never import the interfaces."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "pledge"
CORE = ["policy", "datamap", "dataplane", "connectors", "rights", "retention", "consent", "reports", "breach", "audit.py", "admins.py",
        "store", "platforms", "prove", "keys.py", "audit_anchor.py", "ratelimit.py", "signin_throttle.py",
        "csvcells.py", "notify.py", "emails.py", "engine.py", "settings.py"]
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


# -- no shared mutable state (issue #14) ----------------------------------------------------------
def _owner(node: ast.expr) -> str:
    return node.id if isinstance(node, ast.Name) else ast.unparse(node)


def _reaches_in(tree: ast.AST) -> list[tuple[int, str]]:
    """Writes to another object's private attribute (``x._y = …``, ``del x._y``,
    ``setattr(x, "_y", …)``) and any use of another object's ``__dict__``."""
    bad: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign | ast.Delete):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            for sub in ast.walk(target):
                if (isinstance(sub, ast.Attribute) and sub.attr.startswith("_") and not sub.attr.startswith("__")
                        and _owner(sub.value) not in ("self", "cls")):
                    bad.append((node.lineno, ast.unparse(node)))
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr")
                and len(node.args) > 1 and isinstance(node.args[1], ast.Constant)
                and str(node.args[1].value).startswith("_") and _owner(node.args[0]) not in ("self", "cls")):
            bad.append((node.lineno, ast.unparse(node)))
        if isinstance(node, ast.Attribute) and node.attr == "__dict__" and _owner(node.value) not in ("self", "cls"):
            bad.append((node.lineno, ast.unparse(node)))
    return bad


def test_no_code_assigns_to_another_objects_private_attribute() -> None:
    """Services never reach into another object's privates (``engine._clock = …``,
    ``engine.__dict__.pop("store")``): they ask it through its public methods."""
    bad = {f"{f.relative_to(SRC)}:{line}: {text}" for f in sorted(SRC.rglob("*.py"))
           for line, text in _reaches_in(ast.parse(f.read_text(encoding="utf-8")))}
    assert bad == set()


def test_the_check_finds_what_it_forbids() -> None:
    found = _reaches_in(ast.parse("engine._clock = now\ndel engine._jobs\nsetattr(e, '_x', 1)\n"
                                  "e.__dict__.pop('store')\nself._mine = 1\nobj.public = 2\n"))
    assert [line for line, _ in found] == [1, 2, 3, 4]


def test_there_is_no_thread_local_in_src() -> None:
    """Results travel back as return values, never through thread-local state."""
    bad = set()
    for f in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("local", "_local") and \
                    _owner(node.value) in ("threading", "_thread", "_threading_local"):
                bad.add(f"{f.relative_to(SRC)}:{node.lineno}")
            if isinstance(node, ast.ImportFrom) and node.module in ("threading", "_thread", "_threading_local") \
                    and any(a.name in ("local", "_local") for a in node.names):
                bad.add(f"{f.relative_to(SRC)}:{node.lineno}")
    assert bad == set()


def test_the_engine_clock_and_runner_cannot_be_swapped() -> None:
    from pledge.engine import Engine

    assert not hasattr(Engine, "set_clock")
    assert isinstance(Engine.__dict__["jobs"], property) and Engine.__dict__["jobs"].fset is None
