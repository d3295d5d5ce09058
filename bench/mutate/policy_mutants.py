"""Policy mutation testing: do the promise tests notice when policy.yaml says something else?

For each example under ``examples/`` this script makes small, valid changes ("mutants") to
``policy.yaml`` and runs the tests that the example's ``PROMISES.md`` cites against each one.
A mutant is *killed* when a promise test fails, and *survives* when they all pass: a promise
whose encoding could drift without any test saying so.

Mutations (issue #13): every duration shortened and lengthened by one unit of its own kind
(P30D -> P29D / P31D, P12M -> P11M / P13M, PT72H style hour counts too); every retention rule
removed; every rule's ``cascade`` flipped; every exemption removed (the definition and every
rule's reference to it) and every rule's reference to an exemption removed on its own; every
age limit moved by one year either way; every optional notice or deadline period dropped.

The YAML is edited structurally but as text: PyYAML (the parser :mod:`pledge.yamlio` uses)
composes the node tree, and each edit replaces or removes the exact span of a node, so
comments, quoting and layout stay as they were. Every mutant is loaded with Pledge's own
policy loader first: one that does not validate is reported as *invalid*, one that loads to
the same policy as the original as *equivalent*; neither counts.

All of this happens in throwaway copies of the tree (one per job, under ``--work``): the
repository's own files are never written. The tests run with the running Python and
``PYTHONPATH`` pointing at the copy. Tests marked postgres, mariadb or browser are left out
unless ``--all-markers``: they repeat the SQLite checks on other engines and cost minutes.

    .venv/bin/python bench/mutate/policy_mutants.py            # all three examples, 2 jobs
    .venv/bin/python bench/mutate/policy_mutants.py --list     # only print the mutants

Results: ``bench/mutate/results/policy_mutants.json`` and ``.md`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ("omni-one", "onestepai", "onetagger")
TEST_REF = re.compile(r"tests/[\w/]+\.py::[\w]+(?:\[[^\]]*\])?")
DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")
UNITS = ("Y", "M", "W", "D", "H", "TM")
SKIP_MARKERS = "not postgres and not mariadb and not browser"
IGNORE = shutil.ignore_patterns(".venv", ".git", ".mypy_cache", ".pytest_cache", ".ruff_cache",
                                ".hypothesis", "artifacts", "__pycache__", "results", ".pledge")


# --------------------------------------------------------------------------- mutants


@dataclass
class Mutant:
    example: str
    id: str            # e.g. "retention[closed_accounts].period P90D->P89D"
    kind: str          # period-shortened, period-lengthened, rule-removed, ...
    hint: str          # a word to find the PROMISES.md rows this touches
    text: str = field(repr=False)
    status: str = "pending"   # killed, survived, timeout, error, invalid, equivalent
    killed_by: str | None = None
    seconds: float = 0.0
    detail: str = ""


Edit = tuple[int, int, str]  # replace text[start:end] with the string


def _line_starts(text: str) -> list[int]:
    starts = [0]
    starts.extend(i + 1 for i, ch in enumerate(text) if ch == "\n")
    return starts


def _last_line(node: Node) -> int:
    """The last line (0-based) that holds part of ``node``."""
    # a block collection's own end mark is the next token (the next item's "- "): use its children
    end = node.end_mark
    last = node.start_mark.line
    if isinstance(node, ScalarNode) or getattr(node, "flow_style", False):
        last = end.line if end.column > 0 else end.line - 1
    if isinstance(node, MappingNode):
        for k, v in node.value:
            last = max(last, _last_line(k), _last_line(v))
    elif isinstance(node, SequenceNode):
        for item in node.value:
            last = max(last, _last_line(item))
    return max(last, node.start_mark.line)


class Doc:
    """policy.yaml text plus its PyYAML node tree, for span-exact edits."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.root = yaml.compose(text, Loader=yaml.SafeLoader)
        self.starts = _line_starts(text)

    def lines_span(self, first: int, last: int) -> Edit:
        start = self.starts[first]
        end = self.starts[last + 1] if last + 1 < len(self.starts) else len(self.text)
        return (start, end, "")

    def replace(self, node: Node, new: str) -> Edit:
        return (node.start_mark.index, node.end_mark.index, new)

    def drop_entry(self, key: Node, value: Node) -> Edit:
        return self.lines_span(key.start_mark.line, _last_line(value))

    def drop_item(self, item: Node) -> Edit:
        return self.lines_span(item.start_mark.line, _last_line(item))

    def insert_after(self, item: MappingNode, line: str) -> Edit:
        at = self.lines_span(_last_line(item), _last_line(item))[1]
        return (at, at, " " * item.start_mark.column + line + "\n")

    def apply(self, edits: list[Edit]) -> str:
        out = self.text
        for start, end, new in sorted(edits, key=lambda e: e[0], reverse=True):
            out = out[:start] + new + out[end:]
        return out


def entry(node: Node | None, key: str) -> tuple[ScalarNode, Node] | None:
    if not isinstance(node, MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, ScalarNode) and k.value == key:
            return k, v
    return None


def value(node: Node | None, key: str) -> Node | None:
    found = entry(node, key)
    return found[1] if found else None


def items(node: Node | None, key: str) -> list[MappingNode]:
    seq = value(node, key)
    return [i for i in seq.value if isinstance(i, MappingNode)] if isinstance(seq, SequenceNode) else []


def label(item: MappingNode, fallback: int) -> str:
    for name in ("key", "regime", "kind"):
        v = value(item, name)
        if isinstance(v, ScalarNode):
            return str(v.value)
    return str(fallback)


def shifted(duration: str) -> list[tuple[str, str]]:
    """(kind, new text): the duration one unit shorter and one unit longer, in its smallest unit."""
    m = DURATION.match(duration)
    if not m or not duration.strip("P"):
        return []
    parts = list(m.groups())
    idx = max((i for i, v in enumerate(parts) if v is not None), default=3)
    current = int(parts[idx] or 0)
    out: list[tuple[str, str]] = []
    for kind, delta in (("period-shortened", -1), ("period-lengthened", 1)):
        if current + delta < 0:
            continue
        new = list(parts)
        new[idx] = str(current + delta)
        date = "".join(f"{v}{u}" for v, u in zip(new[:4], UNITS[:4], strict=True) if v is not None)
        clock = "".join(f"{v}{u[-1]}" for v, u in zip(new[4:], UNITS[4:], strict=True) if v is not None)
        text = "P" + date + ("T" + clock if clock else "")
        out.append((kind, text if text != "P" else "P0D"))
    return out


def enumerate_mutants(example: str, text: str) -> list[Mutant]:
    doc = Doc(text)
    root = doc.root
    out: list[Mutant] = []

    def add(mid: str, kind: str, hint: str, edits: list[Edit]) -> None:
        out.append(Mutant(example, mid, kind, hint, doc.apply(edits)))

    def periods(where: str, node: Node | None, key: str, hint: str, *, droppable: bool) -> None:
        found = entry(node, key)
        if not found or not isinstance(found[1], ScalarNode):
            return
        k, v = found
        for kind, new in shifted(v.value):
            add(f"{where}.{key} {v.value}->{new}", kind, hint, [doc.replace(v, new)])
        if droppable:
            add(f"{where}.{key} {v.value} dropped", "period-dropped", hint, [doc.drop_entry(k, v)])

    def number(where: str, node: Node | None, key: str, kind: str, hint: str, *,
               droppable: bool = False) -> None:
        found = entry(node, key)
        if not found or not isinstance(found[1], ScalarNode) or not found[1].value.isdigit():
            return
        k, v = found
        n = int(v.value)
        for delta in (-1, 1):
            if n + delta >= 0:
                add(f"{where}.{key} {n}->{n + delta}", kind, hint, [doc.replace(v, str(n + delta))])
        if droppable:
            add(f"{where}.{key} {n} dropped", "period-dropped", hint, [doc.drop_entry(k, v)])

    rules = items(root, "retention")
    exemptions = items(root, "exemptions")

    # retention rules: periods, removal, cascade
    for i, rule in enumerate(rules):
        name = label(rule, i)
        where = f"retention[{name}]"
        periods(where, rule, "period", name, droppable=False)
        add(f"{where} removed", "rule-removed", name, [doc.drop_item(rule)])
        cascade = entry(rule, "cascade")
        if cascade:
            k, v = cascade
            flipped = "false" if v.value.lower() == "true" else "true"
            add(f"{where}.cascade {v.value}->{flipped}", "cascade-flipped", name, [doc.replace(v, flipped)])
        else:
            add(f"{where}.cascade (default true)->false", "cascade-flipped", name,
                [doc.insert_after(rule, "cascade: false")])
        action = value(rule, "action")
        if isinstance(action, ScalarNode) and action.value == "anonymise":
            # the sweep never cascades an anonymising rule (retention.sweep._cascade): same behaviour
            out[-1].status, out[-1].detail = "equivalent", "an anonymise rule never cascades (sweep._cascade)"
        refs = value(rule, "exemptions")
        if isinstance(refs, SequenceNode):
            for ref in refs.value:
                rest = [r.value for r in refs.value if r is not ref]
                add(f"{where}.exemptions -{ref.value}", "exemption-unlinked", name,
                    [doc.replace(refs, "[" + ", ".join(rest) + "]")])

    # exemptions: their legal period, and removing one everywhere
    for i, ex in enumerate(exemptions):
        name = label(ex, i)
        periods(f"exemptions[{name}]", ex, "period", name, droppable=False)
        top = entry(root, "exemptions")
        if len(exemptions) == 1 and top:
            # the only one: the list becomes empty rather than null
            start, end, _ = doc.drop_entry(*top)
            edits = [(start, end, " " * top[0].start_mark.column + "exemptions: []\n")]
        else:
            edits = [doc.drop_item(ex)]
        for rule in rules:
            refs = value(rule, "exemptions")
            if isinstance(refs, SequenceNode) and any(r.value == name for r in refs.value):
                rest = [r.value for r in refs.value if r.value != name]
                edits.append(doc.replace(refs, "[" + ", ".join(rest) + "]"))
        add(f"exemptions[{name}] removed", "exemption-removed", name, edits)

    # processors' own retention
    for i, rec in enumerate(items(root, "recipients")):
        name = label(rec, i)
        periods(f"recipients[{name}]", rec, "retention_period", name, droppable=True)

    # rights: deadlines per regime, the policy's own promise
    rights = value(root, "rights")
    for i, dl in enumerate(items(rights, "deadlines")):
        where = f"rights.deadlines[{label(dl, i)}]"
        periods(where, dl, "respond", "deadline", droppable=False)
        periods(where, dl, "extension", "extension", droppable=True)
        number(where, dl, "confirm_business_days", "period-moved", "confirm", droppable=True)
    periods("rights", rights, "promise", "rights.promise", droppable=True)

    verification = value(root, "verification")
    periods("verification", verification, "code_ttl", "code", droppable=True)

    # age limits
    age = value(root, "age")
    for key in ("minimum", "parental_consent_from", "parental_consent_until"):
        number("age", age, key, "age-moved", "age")

    # notices of change, backups, breach clock
    periods("changes", value(root, "changes"), "notice_period", "notice_period", droppable=True)
    periods("backups", value(root, "backups"), "retention", "backups", droppable=False)
    number("breach", value(root, "breach"), "authority_hours", "period-moved", "72")
    return out


def _links_into(example: str, src: Path) -> tuple[set[str], set[str]]:
    """(tables something links into, tables of people) of an example's main database.

    A link is a foreign key of the platform's schema or a ``references`` entry of its
    ``dataset.yaml`` (what :func:`pledge.rights.fkgraph.database_links` reads); a table of
    people has a primary key that is an identity (``retention.rules._is_people``)."""
    sys.path.insert(0, str(src))
    from pledge.datamap.load import load_dataset
    from pledge.platforms import PLATFORMS

    linked = {fk.column.table.name for t in PLATFORMS[example].metadata.tables.values() for fk in t.foreign_keys}
    people: set[str] = set()
    for db in load_dataset(ROOT / "examples" / example / "dataset.yaml").databases:
        for coll in db.collections:
            if any(f.identity and f.primary_key for f in coll.fields):
                people.add(f"{db.name}.{coll.name}")
            for f in coll.fields:
                for ref in f.references:
                    rdb, table, _col = ref.target
                    if ref.direction == "from":
                        linked.add(f"{rdb}.{table}" if rdb != "main" else table)
    return {t if "." in t else f"main.{t}" for t in linked}, people


def static_equivalents(mutants: list[Mutant], original: str, src: Path) -> None:
    """Mark mutants whose change the engine provably never acts on, with the reason.

    * ``cascade`` flipped on a rule whose collections nothing links into (no foreign key in the
      schema, no declared reference) and that is not a person rule: the sweep's cascade walks
      incoming links only (``sweep._cascade``, ``sweep.run_target``), and ``cascade`` picks the
      person path only for a delete rule on a table of people (``rules.compile_rules``).
    * a CCPA ``confirm_business_days`` dropped where it equals the engine's default for the
      regime (``rights.deadlines.DEFAULTS``: 10 business days, 11 CCR § 7021(a))."""
    sys.path.insert(0, str(src))
    from pledge.rights.deadlines import DEFAULTS

    if not mutants:
        return
    example = mutants[0].example
    linked, people = _links_into(example, src)
    raw = yaml.safe_load(original)
    rules = {r.get("key"): r for r in raw.get("retention") or []}
    deadlines = {d.get("regime"): d for d in (raw.get("rights") or {}).get("deadlines") or []}
    for m in mutants:
        if m.status != "pending":
            continue
        if m.kind == "cascade-flipped":
            key = m.id.split("[", 1)[1].split("]", 1)[0]
            rule = rules.get(key) or {}
            colls = list(rule.get("collections") or [])
            person = rule.get("action", "delete") == "delete" and any(c in people for c in colls)
            if colls and not person and not any(c in linked for c in colls):
                m.status = "equivalent"
                m.detail = (f"nothing links into {', '.join(colls)} (no foreign key, no declared reference) "
                            "and it is not a table of people: the sweep has nothing to cascade to")
        elif m.kind == "period-dropped" and ".confirm_business_days " in m.id:
            regime = m.id.split("[", 1)[1].split("]", 1)[0]
            default = DEFAULTS.get(regime, (None, None, None))[2]
            if default is not None and deadlines.get(regime, {}).get("confirm_business_days") == default:
                m.status = "equivalent"
                m.detail = (f"the engine's {regime} default is the same {default} business days "
                            "(rights.deadlines.DEFAULTS)")


def classify(mutants: list[Mutant], original: str, src: Path) -> None:
    """Mark mutants that do not load (invalid) or load to the original policy (equivalent)."""
    sys.path.insert(0, str(src))
    from pledge.policy.load import load_policy
    from pledge.yamlio import LoadError

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "policy.yaml"
        path.write_text(original, encoding="utf-8")
        base = load_policy(path).model_dump(mode="json")
        for m in mutants:
            path.write_text(m.text, encoding="utf-8")
            try:
                dumped = load_policy(path).model_dump(mode="json")
            except LoadError as exc:
                m.status, m.detail = "invalid", str(exc).splitlines()[-1][:200]
                continue
            if dumped == base:
                m.status = "equivalent"
    static_equivalents(mutants, original, src)


# --------------------------------------------------------------------------- promise tests


def promise_tests(example: str) -> list[str]:
    text = (ROOT / "examples" / example / "PROMISES.md").read_text(encoding="utf-8")
    refs = list(dict.fromkeys(TEST_REF.findall(text)))
    bare = {r for r in refs if "[" not in r}
    return [r for r in refs if r.split("[")[0] not in bare or "[" not in r]


def promise_rows(example: str, hint: str) -> list[str]:
    text = (ROOT / "examples" / example / "PROMISES.md").read_text(encoding="utf-8")
    rows = [line.split("|")[1].strip() for line in text.splitlines()
            if line.startswith("| ") and re.match(r"\|\s*O[OTS]-\d+", line)
            and len(line.split("|")) > 3 and hint in line.split("|")[3]]
    return rows


def junit_results(path: Path) -> tuple[list[tuple[str, float, str]], str | None]:
    """([(nodeid, seconds, outcome)], the first failing nodeid)."""
    if not path.exists():
        return [], None
    results: list[tuple[str, float, str]] = []
    first: str | None = None
    for case in ET.parse(path).getroot().iter("testcase"):
        cls, name = case.get("classname", ""), case.get("name", "")
        parts = cls.split(".")
        nodeid = "/".join(parts[:2]) + ".py::" + name if len(parts) >= 2 else f"{cls}::{name}"
        if case.find("failure") is not None or case.find("error") is not None:
            outcome = "failed"
            first = first or nodeid
        elif case.find("skipped") is not None:
            outcome = "skipped"
        else:
            outcome = "passed"
        results.append((nodeid, float(case.get("time", "0") or 0), outcome))
    return results, first


def run_pytest(tree: Path, tests: list[str], *, stop_first: bool, timeout: float,
               markers: str | None) -> tuple[int | None, Path, float, str]:
    fd, name = tempfile.mkstemp(suffix=".xml", prefix="junit-")
    os.close(fd)
    junit = Path(name)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml", str(junit)]
    if stop_first:
        cmd.append("-x")
    if markers:
        cmd += ["-m", markers]
    env = dict(os.environ, PYTHONPATH=f"{tree / 'src'}{os.pathsep}{tree}")
    start = time.monotonic()
    proc = subprocess.Popen([*cmd, *tests], cwd=tree, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
        rc: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        rc = None
    return rc, junit, time.monotonic() - start, output[-2000:]


def make_trees(work: Path, jobs: int) -> list[Path]:
    work.mkdir(parents=True, exist_ok=True)
    shared = ROOT.parent / "shared"
    if shared.exists() and not (work / "shared").exists():
        (work / "shared").symlink_to(shared)  # tests read the seeds from <tree>/../shared/seeds
    trees = []
    for i in range(jobs):
        tree = work / f"tree{i}"
        if tree.exists():
            shutil.rmtree(tree)
        shutil.copytree(ROOT, tree, ignore=IGNORE, symlinks=True)
        trees.append(tree)
    return trees


@dataclass
class ExampleRun:
    name: str
    tests: list[str]
    baseline_failed: list[str] = field(default_factory=list)
    baseline_seconds: float = 0.0
    order: list[str] = field(default_factory=list)


def baseline(tree: Path, run: ExampleRun, markers: str | None) -> None:
    """Run every cited test once on the real policy: drop the ones that already fail, and
    order the rest cheapest first so a mutant dies as early as it can."""
    rc, junit, seconds, output = run_pytest(tree, run.tests, stop_first=False, timeout=3600, markers=markers)
    results, _ = junit_results(junit)
    junit.unlink(missing_ok=True)
    run.baseline_seconds = seconds
    cost: dict[str, float] = {}
    for ref in run.tests:
        bare = ref.split("[")[0]
        matching = [r for r in results if r[0] == ref or (("[" not in ref) and r[0].split("[")[0] == bare)]
        if any(o == "failed" for _, _, o in matching):
            run.baseline_failed.append(ref)
        elif matching and any(o == "passed" for _, _, o in matching):
            cost[ref] = sum(t for _, t, _ in matching)
    if rc not in (0, 1) and not results:
        raise SystemExit(f"{run.name}: the baseline run did not start (rc={rc}):\n{output}")
    run.order = sorted(cost, key=lambda r: cost[r])


def run_mutant(trees: queue.Queue[Path], run: ExampleRun, m: Mutant, markers: str | None) -> Mutant:
    tree = trees.get()
    policy = tree / "examples" / m.example / "policy.yaml"
    original = policy.read_text(encoding="utf-8")
    try:
        policy.write_text(m.text, encoding="utf-8")
        timeout = max(180.0, 3 * run.baseline_seconds)
        rc, junit, m.seconds, output = run_pytest(tree, run.order, stop_first=True, timeout=timeout,
                                                  markers=markers)
        _, first = junit_results(junit)
        junit.unlink(missing_ok=True)
        if rc is None:
            m.status, m.detail = "timeout", f"no answer in {timeout:.0f} s"
        elif rc == 0:
            m.status = "survived"
        elif rc == 1 and first:
            m.status, m.killed_by = "killed", first
        else:
            m.status, m.detail = "error", f"pytest exit {rc}: {output[-300:]}"
    finally:
        policy.write_text(original, encoding="utf-8")
        trees.put(tree)
    print(f"  {m.status:9} {m.seconds:6.1f}s  {m.example}: {m.id}"
          + (f"  <- {m.killed_by}" if m.killed_by else ""), flush=True)
    return m


# --------------------------------------------------------------------------- report


def summary(mutants: list[Mutant], example: str | None = None) -> dict[str, Any]:
    ms = [m for m in mutants if example is None or m.example == example]
    counted = [m for m in ms if m.status in ("killed", "survived", "timeout")]
    killed = [m for m in counted if m.status in ("killed", "timeout")]
    return {"mutants": len(ms), "counted": len(counted), "killed": len(killed),
            "survived": len(counted) - len(killed),
            "invalid": sum(m.status == "invalid" for m in ms),
            "equivalent": sum(m.status == "equivalent" for m in ms),
            "errors": sum(m.status == "error" for m in ms),
            "not_run": sum(m.status == "pending" for m in ms),
            "kill_rate": round(100 * len(killed) / len(counted), 1) if counted else None}


def write_reports(out: Path, runs: list[ExampleRun], mutants: list[Mutant], started: datetime,
                  seconds: float, argv: list[str], load: tuple[float, ...] | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    load = load or os.getloadavg()  # --report-only keeps the load the run recorded
    per_example = {r.name: {**summary(mutants, r.name), "tests": len(r.order),
                            "baseline_failed": r.baseline_failed,
                            "baseline_seconds": round(r.baseline_seconds, 1)} for r in runs}
    total = summary(mutants)
    data: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "command": " ".join(argv),
        "load": load,
        "total": total,
        "examples": per_example,
        "mutants": [{k: v for k, v in asdict(m).items() if k != "text"} for m in mutants],
    }
    (out / "policy_mutants.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n",
                                             encoding="utf-8")
    lines = [f"# Policy mutants — {started:%Y-%m-%d %H:%M}", "",
             f"Command: `{data['command']}` ({seconds / 60:.1f} min, load average "
             f"{' '.join(f'{x:.1f}' for x in load)} at the end).", "",
             "| example | mutants | invalid | equivalent | not run | counted | killed | survived | errors "
             "| kill rate |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in [*[(r.name, per_example[r.name]) for r in runs], ("**all**", total)]:
        lines.append(f"| {name} | {s['mutants']} | {s['invalid']} | {s['equivalent']} | {s['not_run']} | "
                     f"{s['counted']} | "
                     f"{s['killed']} | {s['survived']} | {s['errors']} | {s['kill_rate']}% |")
    for r in runs:
        if r.baseline_failed:
            lines += ["", f"{r.name}: cited tests failing on the real policy (left out): "
                      + ", ".join(f"`{t}`" for t in r.baseline_failed)]
    lines += ["", "## Survivors", "", "| example | mutation | kind | promise rows naming it |", "|---|---|---|---|"]
    for m in mutants:
        if m.status == "survived":
            rows = ", ".join(promise_rows(m.example, m.hint)[:8]) or "—"
            lines.append(f"| {m.example} | `{m.id}` | {m.kind} | {rows} |")
    for status in ("error", "invalid", "equivalent"):
        odd = [m for m in mutants if m.status == status]
        if odd:
            lines += ["", f"## {status.capitalize()} ({len(odd)})", ""]
            lines += [f"- {m.example}: `{m.id}` {m.detail[:160]}".rstrip() for m in odd]
    lines += ["", "## Killed", "", "| example | mutation | first failing test | s |", "|---|---|---|---|"]
    lines += [f"| {m.example} | `{m.id}` | `{m.killed_by or m.detail}` | {m.seconds:.0f} |"
              for m in mutants if m.status in ("killed", "timeout")]
    (out / "policy_mutants.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", default=",".join(EXAMPLES))
    parser.add_argument("--jobs", type=int, default=2, help="tree copies and pytest processes at once")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "pledge-policy-mutants")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "mutate" / "results")
    parser.add_argument("--list", action="store_true", help="print the mutants and stop")
    parser.add_argument("--match", default="", help="only mutants whose id contains this text")
    parser.add_argument("--all-markers", action="store_true", help="also run postgres/mariadb/browser tests")
    parser.add_argument("--resume", action="store_true",
                        help="keep the verdicts already in --out/policy_mutants.json, run only the rest")
    parser.add_argument("--rerun", default="",
                        help="with --resume: run these again, comma-separated: a status (survived, killed, "
                             "timeout) or text of a mutant id (e.g. 'notice_period P30D->P31D')")
    parser.add_argument("--check", default="",
                        help="run only these tests (comma-separated node ids) against the --match'ed mutants "
                             "and print each verdict; no baseline, the report is not touched")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite the report from --out/policy_mutants.json without running anything")
    args = parser.parse_args(argv)
    names = [n for n in args.examples.split(",") if n]
    markers = None if args.all_markers else SKIP_MARKERS
    started, clock = datetime.now(), time.monotonic()

    mutants: list[Mutant] = []
    for name in names:
        original = (ROOT / "examples" / name / "policy.yaml").read_text(encoding="utf-8")
        found = [m for m in enumerate_mutants(name, original) if args.match in m.id]
        classify(found, original, ROOT / "src")
        mutants += found
    if args.list:
        for m in mutants:
            print(f"{m.status:10} {m.example:10} {m.kind:19} {m.id} {m.detail}")
        return 0

    if args.check:
        # watch new tests fail: each mutant in a throwaway copy, only the given tests, nothing recorded
        tests = [t for t in args.check.split(",") if t]
        tree = make_trees(args.work, 1)[0]
        free_one: queue.Queue[Path] = queue.Queue()
        free_one.put(tree)
        for m in mutants:
            if m.status == "pending":
                run_mutant(free_one, ExampleRun(m.example, tests, order=tests), m, markers)
            else:
                print(f"  {m.status:9}          {m.example}: {m.id} {m.detail}")
        shutil.rmtree(args.work, ignore_errors=True)
        return 0

    done: dict[tuple[str, str], dict[str, Any]] = {}
    previous = args.out / "policy_mutants.json"
    before: dict[str, Any] = {}
    if (args.resume or args.report_only) and previous.exists():
        before = json.loads(previous.read_text(encoding="utf-8"))
        rerun = {x for x in args.rerun.split(",") if x}
        for old in before["mutants"]:
            again = old["status"] in rerun or any(r in old["id"] for r in rerun)
            if old["status"] in ("killed", "survived", "timeout") and not again:
                done[(old["example"], old["id"])] = old
    for m in mutants:
        old = done.get((m.example, m.id))
        if old and m.status == "pending":
            m.status, m.killed_by, m.seconds, m.detail = (old["status"], old["killed_by"], old["seconds"],
                                                          old.get("detail", ""))
    need = {n for n in names if any(m.example == n and m.status == "pending" for m in mutants)}
    if args.report_only:
        runs = [ExampleRun(n, promise_tests(n)) for n in names]
        for r in runs:
            r.baseline_failed = before.get("examples", {}).get(r.name, {}).get("baseline_failed", [])
        write_reports(args.out, runs, mutants, datetime.fromisoformat(before["started"]),
                      float(before["seconds"]), str(before["command"]).split(), tuple(before.get("load") or ()))
        print(f"report rewritten: {summary(mutants)}")
        return 0

    trees = make_trees(args.work, max(1, args.jobs))
    free: queue.Queue[Path] = queue.Queue()
    for tree in trees:
        free.put(tree)
    runs = [ExampleRun(n, promise_tests(n)) for n in names]

    def base(run: ExampleRun) -> None:
        tree = free.get()
        try:
            baseline(tree, run, markers)
        finally:
            free.put(tree)
        print(f"baseline {run.name}: {len(run.order)} tests, {run.baseline_seconds:.0f} s, "
              f"failing on the real policy: {run.baseline_failed or 'none'}", flush=True)

    with ThreadPoolExecutor(max_workers=len(trees)) as pool:
        list(pool.map(base, [r for r in runs if r.name in need]))
        by_name = {r.name: r for r in runs if r.name in need}
        pending = [m for m in mutants if m.status == "pending" and m.example in by_name]
        # round robin over the examples, so a run stopped early has measured each of them
        queues = {n: [m for m in pending if m.example == n] for n in by_name}
        todo = [q[i] for i in range(max(map(len, queues.values()), default=0)) for q in queues.values()
                if i < len(q)]
        print(f"{len(todo)} mutants to run ({len(mutants) - len(todo)} invalid, equivalent or resumed)",
              flush=True)
        lock = threading.Lock()

        def one(m: Mutant) -> None:
            run_mutant(free, by_name[m.example], m, markers)
            with lock:  # the report is rewritten after every mutant: a stopped run still has one
                write_reports(args.out, runs, mutants, started, time.monotonic() - clock, ["python", *sys.argv])

        list(pool.map(one, todo))

    write_reports(args.out, runs, mutants, started, time.monotonic() - clock, ["python", *sys.argv])
    total = summary(mutants)
    print(f"policy mutants: {total['killed']}/{total['counted']} killed ({total['kill_rate']}%), "
          f"report in {args.out / 'policy_mutants.md'}")
    shutil.rmtree(args.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
