"""The user guide (mkdocs.yml over docs/): it builds with no warning, and its examples run.

Every page's fenced blocks are examples, run here in order, page by page, each page in a
fresh folder that holds a copy of ``examples/`` (with no state) and the session's keys:

* ``sh`` (or ``bash``, ``shell``): each command line runs in bash (``pledge`` is this
  venv's); it must exit 0, or the code its trailing ``# exits N`` comment names. A line
  ``NAME=value`` sets a variable for the block's later lines;
* ``python``: the block runs as a script in the same folder;
* ``yaml``: a block whose first line is ``# file: NAME`` is written to NAME (a later block
  uses it) and loaded as what its name says (``pledge.yaml`` a deployment, ``policy.yaml``
  a policy, ``dataset.yaml`` a data map); one whose first line is ``# model: NAME`` is
  validated as that model of ``pledge.policy.model`` or ``pledge.datamap.model`` (a list:
  each item). Any other yaml block is a fragment: it must validate as a whole model of
  those modules (a list: each item), or as some of a model's fields (``facts: …`` of a
  data map). A block that fits nothing fails: an example nobody checks goes stale.

Other languages are not run: ``console`` blocks are terminal sessions that install Pledge
or start a server (``pip install privacy-pledge``, ``pledge demo``, ``make demo``;
tests/test_wheel.py runs those on the built wheel); ``text``, ``json`` and bare blocks show
output.

The reference pages are checked against the code too: every field of every policy and data
map model has a row in its table (and no row names a field that is gone), every lint code
is listed, and every route of the JSON API is in docs/api.md.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from pledge.datamap import model as datamap_model
from pledge.policy import model as policy_model

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BIN = Path(sys.executable).parent
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
                   re.MULTILINE | re.DOTALL)
SHELL = ("sh", "bash", "shell")
RUN = (*SHELL, "python", "yaml")
EXITS = re.compile(r"#\s*exits\s+(\d+)\s*$")
ASSIGNMENT = re.compile(r"^(export\s+)?[A-Za-z_][A-Za-z0-9_]*=\S*$")


def blocks(page: Path) -> list[tuple[str, str, int]]:
    """(language, body, line) of every fenced block of a page, dedented."""
    text = page.read_text(encoding="utf-8")
    found = []
    for m in FENCE.finditer(text):
        indent = len(m["indent"])
        body = "".join(line[indent:] if line[:indent].isspace() else line
                       for line in m["body"].splitlines(keepends=True))
        found.append((m["lang"], body, text.count("\n", 0, m.start()) + 1))
    return found


def example_pages() -> list[Path]:
    return [p for p in sorted(DOCS.glob("*.md")) if any(lang in RUN for lang, _, _ in blocks(p))]


def test_the_site_builds_with_no_warning(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    res = subprocess.run([BIN / "properdocs", "build", "--strict", "-f", ROOT / "mkdocs.yml", "-d", tmp_path / "site"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    output = res.stdout + res.stderr
    assert res.returncode == 0 and "WARNING" not in output, output
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "datamap-format.html").is_file()


def _all_models() -> dict[str, type[BaseModel]]:
    return {name: obj for module in (policy_model, datamap_model) for name, obj in vars(module).items()
            if isinstance(obj, type) and issubclass(obj, BaseModel) and obj.__module__ == module.__name__}


def _model(name: str) -> type[BaseModel]:
    found = _all_models().get(name)
    if found is None:
        raise AssertionError(f"# model: {name} is neither a policy nor a data map model")
    return found


def _fits(data: object) -> str | None:
    """The model an unmarked fragment validates as, if any: each item of a list as a whole
    model; a mapping as a whole model, or else as some of a model's fields."""
    def whole(model: type[BaseModel], item: object) -> bool:
        try:
            model.model_validate(item)
        except ValidationError:
            return False
        return True

    def some_fields(model: type[BaseModel], item: object) -> bool:
        if not isinstance(item, dict) or not item or not set(item) <= set(model.model_fields):
            return False
        try:
            for key, value in item.items():
                TypeAdapter(model.model_fields[key].annotation).validate_python(value)
        except ValidationError:
            return False
        return True

    for name, model in _all_models().items():
        if isinstance(data, list) and data and all(whole(model, item) for item in data):
            return name
        if not isinstance(data, list) and (whole(model, data) or some_fields(model, data)):
            return name
    return None


def _check_yaml(body: str, folder: Path, where: str) -> None:
    first = body.splitlines()[0].strip() if body.strip() else ""
    if m := re.fullmatch(r"#\s*file:\s*(\S+)", first):
        path = folder / m[1]
        path.write_text(body, encoding="utf-8")
        if path.name == "pledge.yaml":
            from pledge.settings import load_config

            load_config(path)
        elif path.name.endswith("policy.yaml"):
            from pledge.policy.load import load_policy

            load_policy(path)
        elif path.name.endswith("dataset.yaml"):
            from pledge.datamap.load import load_dataset

            load_dataset(path)
        return
    if m := re.fullmatch(r"#\s*model:\s*(\w+)", first):
        model = _model(m[1])
        data = yaml.safe_load(body)
        for item in data if isinstance(data, list) else [data]:
            model.model_validate(item)
        return
    assert _fits(yaml.safe_load(body)) is not None, (
        f"{where}: this yaml example is no policy or data map model, nor fields of one; "
        "start it with '# file: NAME' or '# model: NAME' to say what it is")


def _commands(body: str) -> list[str]:
    lines, current = [], ""
    for raw in body.splitlines():
        current += raw.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        if current.strip() and not current.lstrip().startswith("#"):
            lines.append(current.strip())
        current = ""
    return lines


@pytest.mark.parametrize("page", example_pages(), ids=lambda p: p.name)
def test_the_examples_of_a_page_run(page: Path, tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples",
                    ignore=shutil.ignore_patterns(".pledge", "*.db", "*.db-*"))
    env = {k: v for k, v in os.environ.items() if k not in ("PLEDGE_DATABASE_URL", "PLEDGE_PLATFORM_URL",
                                                            "PLEDGE_CONFIG", "PLEDGE_ENVIRONMENT")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    for lang, body, line in blocks(page):
        where = f"docs/{page.name}:{line}"
        if lang == "yaml":
            _check_yaml(body, tmp_path, where)
        elif lang == "python":
            script = tmp_path / f"example_{line}.py"
            script.write_text(body, encoding="utf-8")
            res = subprocess.run([sys.executable, script], cwd=tmp_path, env=env, capture_output=True,
                                 text=True, timeout=600)
            assert res.returncode == 0, f"{where}: the python example failed:\n{res.stdout}\n{res.stderr}"
        elif lang in SHELL:
            assignments: list[str] = []  # C=… lines: later commands of the block see them
            for command in _commands(body):
                if ASSIGNMENT.match(command):
                    assignments.append(command)
                    continue
                m = EXITS.search(command)
                expected = int(m[1]) if m else 0
                res = subprocess.run(["bash", "-c", "\n".join([*assignments, command])], cwd=tmp_path, env=env,
                                     capture_output=True, text=True, timeout=600)
                assert res.returncode == expected, (
                    f"{where}: `{command}` exited {res.returncode}, not {expected}:\n{res.stdout}\n{res.stderr}")


# -- the reference pages against the code -------------------------------------------------------
def _models(root: type[BaseModel]) -> list[type[BaseModel]]:
    """``root`` and every model reachable through its fields, each once."""
    seen: list[type[BaseModel]] = []

    def walk(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.append(model)
        for f in model.model_fields.values():
            stack = [f.annotation]
            while stack:
                t = stack.pop()
                if isinstance(t, type) and issubclass(t, BaseModel):
                    walk(t)
                stack.extend(typing.get_args(t))

    walk(root)
    return seen


def _documented(page: str, section: str) -> list[str] | None:
    """The field names in the first column of the table under ``## section``."""
    m = re.search(rf"^## {re.escape(section)}\n(?P<body>.*?)(?=^## |\Z)", page, re.MULTILINE | re.DOTALL)
    if m is None:
        return None
    return re.findall(r"^\| `([^`]+)` \|", m["body"], re.MULTILINE)


@pytest.mark.parametrize(("root", "page"), [(policy_model.Policy, "policy.md"),
                                            (datamap_model.Dataset, "datamap-format.md")])
def test_every_field_of_every_model_is_documented(root: type[BaseModel], page: str) -> None:
    text = (DOCS / page).read_text(encoding="utf-8")
    problems = []
    for model in _models(root):
        documented = _documented(text, model.__name__)
        if documented is None:
            problems.append(f"## {model.__name__}: no section (a table of its fields)")
            continue
        fields = list(model.model_fields)
        if missing := [f for f in fields if f not in documented]:
            problems.append(f"## {model.__name__}: undocumented {', '.join(missing)}")
        if gone := [f for f in documented if f not in fields]:
            problems.append(f"## {model.__name__}: documents {', '.join(gone)}, which the model lacks")
    assert problems == [], f"docs/{page} and the models disagree:\n" + "\n".join(problems)


def test_every_lint_code_is_documented() -> None:
    from pledge.policy.lint import RULES

    text = (DOCS / "policy.md").read_text(encoding="utf-8")
    assert [code for code in RULES if f"| `{code}` |" not in text] == []


def test_every_route_of_the_json_api_is_documented(tmp_path: Path) -> None:
    from pledge.engine import Engine
    from pledge.web.app import create_app

    shutil.copytree(ROOT / "examples" / "onetagger", tmp_path / "onetagger",
                    ignore=shutil.ignore_patterns(".pledge", "*.db", "*.db-*"))
    engine = Engine.from_config_file(tmp_path / "onetagger" / "pledge.yaml")
    try:
        spec = create_app(engine).openapi()
    finally:
        engine.close()
    routes = {f"{method.upper()} {path}" for path, ops in spec["paths"].items() for method in ops
              if path.startswith("/v1/")}
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`((?:GET|POST|PUT|PATCH|DELETE) /v1/[^`]*)`", text))
    assert sorted(routes - documented) == [], "routes missing from docs/api.md"
    assert sorted(documented - routes) == [], "docs/api.md names routes the app does not have"
