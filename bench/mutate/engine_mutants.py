"""Engine mutation testing with mutmut, on the core modules that keep the promises.

Modules: retention rules and sweeps (``retention/rules.py``, ``retention/sweep.py``), the
erasure plan (``rights/erasure_plan.py``) and consent decisions (``consent/decisions.py``).

Why mutmut (3.x) and not cosmic-ray: mutmut imports the code and the tests once and forks
one process per mutant (cosmic-ray starts the whole test command again for every mutant, and
an import of Pledge with FastAPI, SQLAlchemy and Alembic costs seconds on a busy machine);
it records which tests call which function and runs only those against a mutant of it; and
``only_mutate`` plus ``pytest_add_cli_args_test_selection`` give the focused set per module.
Its mutants live in a ``mutants/`` folder beside the code, so we run it in a throwaway copy
of the tree (``--work``): the repository's files are never touched.

A full run is about 3,600 mutants. Each module is run in turn, in priority order (sweeps, the
erasure plan, decisions, rules), so a run stopped early has covered the first modules
completely; ``--modules`` picks some. ``--every K`` samples deterministically instead: the
mutants of each module in mutmut's own order (by function, then mutant number), every K-th
from the first. ``--every 1`` (the default) runs them all. mutmut keeps its verdicts in
``--work``: ``--reuse`` carries on from them, ``--report-only`` only writes the report.

A mutant costs the tests that reach its function (a survivor runs them all), so the selection
is fast SQLite tests only (:data:`TESTS`, :data:`MARKERS`, :data:`DESELECT`, and the plugin
``mutant_order.py``, which runs a mutant's tests fastest first and leaves out the few that
cost seconds each). mutmut runs under ``nice -n 15`` (``--nice``).

    /tmp/pledge-mutvenv/bin/python bench/mutate/engine_mutants.py --jobs 2   # mutmut installed here

Results: one report per run in ``bench/mutate/results/runs/`` (``<start>-<modules>.json`` and
``.md``, with the diff of every survivor, ``mutmut show``); ``engine_report.py`` merges the runs
with the later checks and the explanations into ``results/engine_mutants.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# in priority order: a run stopped early has covered the first ones completely
MODULES = {
    "src/pledge/retention/sweep.py": "pledge.retention.sweep",
    "src/pledge/rights/erasure_plan.py": "pledge.rights.erasure_plan",
    "src/pledge/consent/decisions.py": "pledge.consent.decisions",
    "src/pledge/retention/rules.py": "pledge.retention.rules",
}
# The fast unit and promise tests that exercise those modules, on SQLite (mutmut's stats pass
# narrows this to the tests that reach each function). Left out: tests marked slow, the other
# engines (the postgres/mariadb markers and the [postgresql]/[mariadb] parameters, which
# repeat the SQLite checks), browser and broker tests, and the SIGKILL test, which starts the
# CLI in a subprocess (a subprocess imports the unmutated tree, so it cannot see a mutant).
TESTS = [
    "tests/test_retention.py", "tests/test_retention_ops.py", "tests/test_retention_ranged.py",
    "tests/test_retention_composite.py",
    "tests/test_erasure.py", "tests/test_erasure_exact.py", "tests/test_erasure_masking.py",
    "tests/test_consent.py", "tests/test_consent_props.py",
]
TESTS += sorted(f"tests/{p.name}" for p in (ROOT / "tests").glob("test_mutants_*.py"))
MARKERS = "not postgres and not mariadb and not browser and not redis and not rabbitmq and not slow"
DESELECT = "not postgresql and not mariadb and not sigkill"
_IGNORE = shutil.ignore_patterns(".venv", ".git", ".mypy_cache", ".pytest_cache", ".ruff_cache",
                                 ".hypothesis", "artifacts", "__pycache__", "mutants", "results", ".pledge",
                                 "site", "dist", "build", "*.db")


def IGNORE(folder: str, names: list[str]) -> set[str]:
    """What the copy leaves out: caches, build output, and of bench/ everything but this harness
    (other benchmarks keep large working folders there)."""
    if Path(folder).resolve() == ROOT / "bench":
        return {n for n in names if n != "mutate"}
    return set(_IGNORE(folder, names))
NAME = re.compile(r"^def (x\w*?__mutmut_\d+)\(|^    def (x\S*?__mutmut_\d+)\(", re.MULTILINE)
# mutmut's own documented filter (``type_check_command``): a mutant that mypy rejects, such as
# ``x: str = None``, is noise, because ``make test`` type-checks every change. Off by default:
# mutmut 3.8.1 stops with "Could not find mutant for type error" on this code (mypy reports
# the untyped trampoline decorator on methods, outside any mutant).
TYPE_CHECK = ["mypy", "src/pledge", "--output", "json", "--disable-error-code", "unused-ignore"]


def setup_cfg(type_check: bool, modules: list[str] | None = None) -> str:
    lines = ["[mutmut]", "source_paths=src/", "only_mutate="]
    lines += [f"    {p}" for p, m in MODULES.items() if not modules or m in modules]
    lines += ["also_copy=", "    tests/", "    examples/", "    pyproject.toml", "    bench/mutate/"]
    lines += ["pytest_add_cli_args=", "    -p", "    no:cacheprovider", "    -p", "    mutant_order",
              "    -m", f"    {MARKERS}"]
    lines += ["pytest_add_cli_args_test_selection="] + [f"    {t}" for t in TESTS] + ["    -k", f"    {DESELECT}"]
    lines += ["timeout_multiplier=5.0", "timeout_constant=20.0", "use_git_change_detection=false"]
    if type_check:
        lines += ["type_check_command="] + [f"    {a}" for a in TYPE_CHECK]
    return "\n".join(lines) + "\n"


def mutmut(tree: Path, *args: str, capture: bool = False, nice: int = 0) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("mutmut")
    # PYTHONPATH for -p mutant_order; PATH for the repository's mypy (mutmut looks for "mypy" by name)
    env = {**os.environ, "PYTHONPATH": str(tree / "bench" / "mutate"),
           "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}"}
    cmd = [str(exe), *args]
    if nice:
        cmd = ["nice", "-n", str(nice), *cmd]
    return subprocess.run(cmd, cwd=tree, text=True, check=False, env=env,
                          stdout=subprocess.PIPE if capture else None,
                          stderr=subprocess.STDOUT if capture else None)


def mutant_names(tree: Path) -> dict[str, list[str]]:
    """Every mutant mutmut generated, per module, in file order."""
    out: dict[str, list[str]] = {}
    for path, module in MODULES.items():
        if not (tree / "mutants" / path).exists():
            continue
        text = (tree / "mutants" / path).read_text(encoding="utf-8")
        out[module] = [f"{module}.{a or b}" for a, b in NAME.findall(text)]
    return out


def statuses(tree: Path) -> dict[str, str]:
    listing = mutmut(tree, "results", "--all", "true", capture=True).stdout
    found: dict[str, str] = {}
    for line in listing.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if "__mutmut_" in name:
            found[name] = status.strip()
    return found


def known_verdicts(reports: list[Path]) -> dict[str, str]:
    """The verdicts of earlier reports ("not checked" and "missing" are no verdict)."""
    found: dict[str, str] = {}
    for path in reports:
        for name, status in json.loads(path.read_text(encoding="utf-8")).get("statuses", {}).items():
            if status not in ("not checked", "missing"):
                found[name] = status
    return found


def report(tree: Path, out: Path, names: dict[str, list[str]], sample: dict[str, list[str]],
           data: dict[str, Any]) -> None:
    status = statuses(tree)
    modules: dict[str, Any] = {}
    survivors: list[dict[str, str]] = []
    for module, ns in sample.items():
        counts: dict[str, int] = {}
        for n in ns:
            s = status.get(n, "missing")
            counts[s] = counts.get(s, 0) + 1
            if s in ("survived", "no tests", "suspicious", "timeout", "segfault"):
                diff = mutmut(tree, "show", n, capture=True).stdout
                survivors.append({"module": module, "name": n, "status": s, "diff": diff})
        modules[module] = {"generated": len(names[module]), "sampled": len(ns), "statuses": counts}
    data.update(modules=modules, survivors=survivors,
                statuses={n: status.get(n, "missing") for ns in sample.values() for n in ns})
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{data['started'][:16].replace(':', '')}-" + "-".join(m.rsplit(".", 1)[1] for m in sample)
    (out / f"{stem}.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    lines = [f"# Engine mutants (mutmut) — {data['started'][:16].replace('T', ' ')} UTC", "",
             f"Command: `{data['command']}`, every {data['every']}-th mutant per module, "
             f"{data['seconds'] / 60:.1f} min; load average at the end {data['load']}.", "",
             "`not checked`: not run before the run was stopped. `caught by type check`: mypy rejects "
             "the mutant (mutmut's `type_check_command`), so it never runs.", "",
             "| module | generated | sampled | killed | survived | other |", "|---|---|---|---|---|---|"]
    for module, m in modules.items():
        st = m["statuses"]
        other = {k: v for k, v in st.items() if k not in ("killed", "survived")}
        lines.append(f"| {module} | {m['generated']} | {m['sampled']} | {st.get('killed', 0)} | "
                     f"{st.get('survived', 0)} | {', '.join(f'{k} {v}' for k, v in sorted(other.items())) or '—'} |")
    lines += ["", "## Survivors", ""]
    for surv in survivors:
        lines += [f"### `{surv['name']}` ({surv['status']})", "", "```diff", surv["diff"].strip(), "```", ""]
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"report in {out / stem}.md", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--every", type=int, default=1, help="run every K-th mutant of each module")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--nice", type=int, default=15, help="run mutmut under nice -n N (0: not)")
    parser.add_argument("--modules", nargs="*", default=None,
                        help="only these modules (e.g. pledge.retention.sweep), in this order")
    parser.add_argument("--type-check", action="store_true",
                        help="filter out mutants mypy rejects (mutmut's type_check_command; aborts on this code "
                             "with mutmut 3.8.1, see docs/mutation.md)")
    parser.add_argument("--no-type-check", action="store_true", help=argparse.SUPPRESS)  # the default
    parser.add_argument("--work", type=Path, default=Path("/tmp/pledge-engine-mutants"))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "mutate" / "results" / "runs")
    parser.add_argument("--reuse", action="store_true", help="keep --work from an earlier run (its stats, its verdicts)")
    parser.add_argument("--known", type=Path, nargs="*", default=[],
                        help="reports (engine_mutants*.json) whose verdicts stand: their mutants are not run again "
                             "(mutant names are stable while the module's source is unchanged)")
    parser.add_argument("--report-only", action="store_true", help="only write the report of --work's verdicts")
    parser.add_argument("--ran", default="", help="with --report-only: the command of the run being reported")
    parser.add_argument("--started", default="", help="with --report-only: when that run started (ISO)")
    parser.add_argument("--seconds", type=float, default=0.0, help="with --report-only: how long it ran")
    args = parser.parse_args(argv)
    started, clock = datetime.now(UTC), time.monotonic()

    tree = args.work / "tree"
    if not args.report_only and (not args.reuse or not tree.exists()):
        if tree.exists():
            shutil.rmtree(tree)
        shutil.copytree(ROOT, tree, ignore=IGNORE, symlinks=True)
        shared = ROOT.parent / "shared"
        if shared.exists():  # tests read the seeds from <ROOT>/../shared; pytest's ROOT is tree/mutants
            (tree / "shared").symlink_to(shared)
        (tree / "setup.cfg").write_text(setup_cfg(args.type_check and not args.no_type_check, args.modules),
                                        encoding="utf-8")
        # generate the mutants, filter them with mypy, record which tests call which function; run none yet
        mutmut(tree, "run", "--max-children", str(args.jobs), "zzz-no-such-mutant", nice=args.nice)

    names = mutant_names(tree)
    earlier = known_verdicts(args.known)
    order = args.modules or list(names)
    sample = {m: names[m][:: args.every] for m in order}
    data: dict[str, Any] = {"started": args.started or started.isoformat(timespec="seconds"),
                            "command": args.ran or " ".join(["python", *sys.argv]), "every": args.every,
                            "tests": TESTS, "markers": MARKERS, "deselect": DESELECT}
    try:
        if not args.report_only:
            for module, chosen in sample.items():
                print(f"{module}: {len(names[module])} mutants, running {len(chosen)} "
                      f"(every {args.every}-th)", flush=True)
                # mutmut runs every mutant it is given by name or pattern again, decided or not: with
                # --reuse, only the ones without a verdict
                if args.reuse or args.known:
                    known = {**earlier, **(statuses(tree) if args.reuse else {})}
                    chosen = [n for n in chosen if known.get(n, "not checked") == "not checked"]
                    print(f"  {len(chosen)} of them without a verdict", flush=True)
                    if not chosen:
                        continue
                which = [f"{module}.*"] if args.every == 1 and not (args.reuse or args.known) else chosen
                mutmut(tree, "run", "--max-children", str(args.jobs), *which, nice=args.nice)
    finally:
        data.update(seconds=args.seconds or round(time.monotonic() - clock, 1), load=os.getloadavg())
        report(tree, args.out, names, sample, data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
