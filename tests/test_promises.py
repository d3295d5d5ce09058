"""Every PROMISES.md row is well formed and honest: a unique id, a quote that really is in
the seed, and a test that really exists (or a reason why there is none)."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SEEDS = ROOT.parent / "shared" / "seeds"
PLATFORMS = {
    "omni-one": ("OO", "omni-one-privacy-policy.txt"),
    "onetagger": ("OT", "onetagger-privacy-policy-pl.txt"),
    "onestepai": ("OS", "onestepai-privacy-policy.txt"),
}
HEADER = ["ID", "Seed quote", "Keeps it", "Test", "Out of scope"]
TEST_REF = re.compile(r"tests/[\w/]+\.py::[\w]+(?:\[[^\]]*\])?")
NOT_YET = re.compile(r"not yet\s*[—:-]\s*(\S.{10,})", re.IGNORECASE)


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def split_row(line: str) -> list[str]:
    # cells are separated by pipes; the tables never use a pipe inside a cell
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def table(name: str) -> list[list[str]]:
    """The promise rows of examples/<name>/PROMISES.md, checked against its header."""
    lines = (EXAMPLES / name / "PROMISES.md").read_text(encoding="utf-8").splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("| ID |"))
    assert split_row(lines[head]) == HEADER, f"{name}: the table header is {HEADER}"
    rows: list[list[str]] = []
    for line in lines[head + 2:]:
        if not line.startswith("|"):
            break
        rows.append(split_row(line))
    return rows


def quote_pieces(cell: str) -> list[str]:
    """The seed text a quote cell claims: one or more "…"-quoted runs, joined by " … " or " / ";
    inside a run, " … " marks words left out."""
    assert cell.startswith('"') and cell.endswith('"'), f"the quote cell is only quotes: {cell[:60]}"
    inner = cell[1:-1]
    pieces: list[str] = []
    for run in re.split(r'"\s*(?:…|/)\s*"', inner):
        pieces.extend(p for p in (norm(x) for x in re.split(r"\s…\s", run)) if p)
    return pieces


@cache
def test_functions(path: str) -> frozenset[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return frozenset(node.name for node in ast.walk(tree)
                     if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef))


def test_refs(cell: str) -> list[str]:
    return TEST_REF.findall(cell)


test_refs.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test
test_functions.__test__ = False  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(PLATFORMS))
def test_rows_have_unique_ids_and_an_answer(name: str) -> None:
    prefix, _ = PLATFORMS[name]
    rows = table(name)
    assert len(rows) > 50
    ids = [r[0] for r in rows]
    assert all(re.fullmatch(rf"{prefix}-\d{{2,3}}", i) for i in ids), ids
    assert len(ids) == len(set(ids)), "ids are unique"
    problems = []
    for row in rows:
        assert len(row) == len(HEADER), f"{row[0]}: {len(row)} cells"
        row_id, _quote, keeps, test, scope = row
        if not keeps:
            problems.append(f"{row_id}: says nothing about how Pledge keeps it")
        refs = test_refs(test)
        if "not yet" in test.lower() and not NOT_YET.search(test):
            problems.append(f"{row_id}: 'not yet' must say what is missing ('not yet — …')")
        if not refs and "not yet" not in test.lower() and len(scope) < 15:
            problems.append(f"{row_id}: names no test, no 'not yet — …' and no out-of-scope reason")
        if test and not refs and "not yet" not in test.lower():
            problems.append(f"{row_id}: the test cell holds no tests/x.py::name reference")
    assert problems == []


@pytest.mark.parametrize("name", sorted(PLATFORMS))
def test_every_referenced_test_exists(name: str) -> None:
    missing = []
    for row in table(name):
        for ref in test_refs(row[3]):
            path, _, func = ref.partition("::")
            func = func.split("[", 1)[0]
            if not (ROOT / path).is_file():
                missing.append(f"{row[0]}: {path} does not exist")
            elif func not in test_functions(path):
                missing.append(f"{row[0]}: {path} defines no {func}")
    assert missing == []


@pytest.mark.parametrize("name", sorted(PLATFORMS))
def test_every_quote_is_in_the_seed(name: str) -> None:
    seed = SEEDS / PLATFORMS[name][1]
    if not seed.exists():
        pytest.skip(f"seed {seed} is not beside the repository")
    text = norm(seed.read_text(encoding="utf-8"))
    missing: list[tuple[str, str]] = []
    for row in table(name):
        try:
            missing.extend((row[0], piece) for piece in quote_pieces(row[1]) if piece not in text)
        except AssertionError as bad:
            missing.append((row[0], str(bad).splitlines()[0]))
    assert missing == []


def test_the_parser_reads_pieces_and_refs() -> None:
    assert quote_pieces('"a b … c" / "d: "e" … f"') == ["a b", "c", 'd: "e"', "f"]
    assert test_refs("encoding: `tests/a.py::t[x-1]`, `tests/b.py::u` (sample)") == [
        "tests/a.py::t[x-1]", "tests/b.py::u"]
    assert NOT_YET.search("not yet — the console has no such page")
    assert not NOT_YET.search("not yet")
