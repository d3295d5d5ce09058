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


# -- one composition root (issue #14) -------------------------------------------------------------
#: The modules that start a process and so build the application: the CLI's engine opener, the
#: ASGI factory, the Celery worker, the demo, and the package's lazy ``pledge.Engine``.
ENTRY_POINTS = {"engine.py", "cli/common.py", "web/asgi.py", "jobs/celery.py", "demo.py", "__init__.py"}


def _imports_root(path: Path) -> list[int]:
    def root(node: ast.AST) -> bool:
        if isinstance(node, ast.Import):
            return any(a.name == "pledge.engine" for a in node.names)
        if isinstance(node, ast.ImportFrom):
            return node.module == "pledge.engine" or (
                node.module == "pledge" and any(a.name in ("engine", "Engine") for a in node.names))
        return False

    return [node.lineno for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if root(node)]


def test_only_the_entry_points_import_the_composition_root() -> None:
    """Services depend on ``pledge.context.Context`` (a Protocol) or on the collaborators they
    are built with; only what starts a process imports ``pledge.engine``."""
    bad = {f"{f.relative_to(SRC)}:{line}" for f in sorted(SRC.rglob("*.py"))
           if str(f.relative_to(SRC)) not in ENTRY_POINTS for line in _imports_root(f)}
    assert bad == set()
    assert all((SRC / e).is_file() for e in ENTRY_POINTS)


def test_the_root_check_finds_what_it_forbids(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import pledge.engine\nfrom pledge.engine import Engine\nfrom pledge import Engine\n"
                   "from pledge.context import Context\n")
    assert _imports_root(bad) == [1, 2, 3]


def test_small_services_are_built_with_their_collaborators_not_the_root() -> None:
    """The services with few needs take exactly those: no ``engine``/``context`` argument."""
    import inspect

    from pledge.admins import AdminService
    from pledge.breach.register import BreachRegister
    from pledge.consent.decisions import DecisionService
    from pledge.consent.ledger import ConsentLedger
    from pledge.outbox import Outbox

    for cls in (AdminService, BreachRegister, ConsentLedger, DecisionService, Outbox):
        params = set(inspect.signature(cls).parameters)
        assert not params & {"engine", "context"}, cls


# -- platform SQL only in the data plane (issue #15) ------------------------------------------------
#: Packages that may build statements against the platform's own tables.
DATA_PLANE = ("connectors/", "dataplane/")
#: Modules that still build statements on the connectors' tables themselves, each to move behind a
#: data-plane operation (``pledge.dataplane.selection`` / ``writes`` / ``schema`` or a connector
#: method). Shrink this list; never grow it. (Done: retention, erasure's masking and planning,
#: proofs, notice campaigns, rectification, children, marketing mail, the foreign-key graph,
#: datamap check's live inspection, the request centre's form, the readiness probe.)
NOT_YET_MOVED: set[str] = set()


def _platform_sql(tree: ast.AST, entry_point: bool) -> list[tuple[int, str]]:
    """Where a module builds SQL against platform tables itself: it calls ``x.table(…)`` (a
    connector's reflected table), reflects a table (``Table(…, autoload_with=…)``, ``.reflect(…)``),
    reaches a platform engine (``x.platform_engine(…)``), or imports the SQL connector's internals
    (``pledge.connectors.sql``; the composition root may, to build the connectors)."""
    bad: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            forbidden = ("table", "reflect") if entry_point else ("table", "reflect", "platform_engine")
            if (isinstance(func, ast.Attribute) and func.attr in forbidden) \
                    or any(k.arg == "autoload_with" for k in node.keywords):
                bad.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.ImportFrom) and node.module == "pledge.connectors.sql" and not entry_point:
            bad.append((node.lineno, f"from pledge.connectors.sql import {', '.join(a.name for a in node.names)}"))
        elif isinstance(node, ast.Import) and any(a.name == "pledge.connectors.sql" for a in node.names) \
                and not entry_point:
            bad.append((node.lineno, "import pledge.connectors.sql"))
    return bad


def _sql_outside_the_data_plane() -> dict[str, list[tuple[int, str]]]:
    out: dict[str, list[tuple[int, str]]] = {}
    for f in sorted(SRC.rglob("*.py")):
        rel = str(f.relative_to(SRC))
        if rel.startswith(DATA_PLANE):
            continue
        found = _platform_sql(ast.parse(f.read_text(encoding="utf-8")), rel in ENTRY_POINTS)
        if found:
            out[rel] = found
    return out


def test_only_the_data_plane_builds_sql_against_the_platform() -> None:
    found = _sql_outside_the_data_plane()
    bad = {f"{rel}:{line}: {text}" for rel, hits in found.items() if rel not in NOT_YET_MOVED for line, text in hits}
    assert bad == set()
    moved = sorted(m for m in NOT_YET_MOVED if m not in found)
    assert moved == [], f"these no longer build platform SQL: take them off NOT_YET_MOVED: {moved}"


def test_the_platform_sql_check_finds_what_it_forbids() -> None:
    code = ("t = connector.table('users')\nTable('x', md, autoload_with=eng)\nmd.reflect(eng)\n"
            "from pledge.connectors.sql import key_in\neng = engine.platform_engine('main')\n"
            "import pledge.connectors.sql\nconnector.fetch(conn, 'users', keys)\n")
    assert sorted(line for line, _ in _platform_sql(ast.parse(code), False)) == [1, 2, 3, 4, 5, 6]
    assert sorted(line for line, _ in _platform_sql(ast.parse(code), True)) == [1, 2, 3]
