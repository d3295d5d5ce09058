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

A full run is thousands of mutants. ``--every K`` samples deterministically: the mutants of
each module in mutmut's own order (by function, then mutant number), every K-th from the
first. ``--every 1`` runs them all.

    /tmp/mutvenv/bin/python bench/mutate/engine_mutants.py --every 12   # mutmut installed here

Results: ``bench/mutate/results/engine_mutants.json`` and ``.md``, with the diff of every
survivor (``mutmut show``).
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
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MODULES = {
    "src/pledge/retention/rules.py": "pledge.retention.rules",
    "src/pledge/retention/sweep.py": "pledge.retention.sweep",
    "src/pledge/rights/erasure_plan.py": "pledge.rights.erasure_plan",
    "src/pledge/consent/decisions.py": "pledge.consent.decisions",
}
# the tests that exercise those modules (mutmut narrows this per function from its stats)
TESTS = [
    "tests/test_retention.py", "tests/test_retention_ops.py", "tests/test_retention_ranged.py",
    "tests/test_erasure.py", "tests/test_erasure_exact.py",
    "tests/test_consent.py", "tests/test_consent_props.py",
]
TESTS += [f"tests/test_mutants_{Path(p).stem}.py" for p in MODULES
          if (ROOT / "tests" / f"test_mutants_{Path(p).stem}.py").exists()]
MARKERS = "not postgres and not mariadb and not browser and not redis and not rabbitmq"
IGNORE = shutil.ignore_patterns(".venv", ".git", ".mypy_cache", ".pytest_cache", ".ruff_cache",
                                ".hypothesis", "artifacts", "__pycache__", "mutants", "results", ".pledge")
NAME = re.compile(r"^def (x\w*?__mutmut_\d+)\(|^    def (x\S*?__mutmut_\d+)\(", re.MULTILINE)


def setup_cfg() -> str:
    lines = ["[mutmut]", "source_paths=src/", "only_mutate="]
    lines += [f"    {p}" for p in MODULES]
    lines += ["also_copy=", "    tests/", "    examples/", "    pyproject.toml"]
    lines += ["pytest_add_cli_args=", "    -p", "    no:cacheprovider", "    -m", f"    {MARKERS}"]
    lines += ["pytest_add_cli_args_test_selection="] + [f"    {t}" for t in TESTS]
    lines += ["timeout_multiplier=5.0", "timeout_constant=20.0", "use_git_change_detection=false"]
    return "\n".join(lines) + "\n"


def mutmut(tree: Path, *args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("mutmut")
    return subprocess.run([str(exe), *args], cwd=tree, text=True, check=False,
                          stdout=subprocess.PIPE if capture else None,
                          stderr=subprocess.STDOUT if capture else None)


def mutant_names(tree: Path) -> dict[str, list[str]]:
    """Every mutant mutmut generated, per module, in file order."""
    out: dict[str, list[str]] = {}
    for path, module in MODULES.items():
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--every", type=int, default=12, help="run every K-th mutant of each module")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("/tmp/pledge-engine-mutants"))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "mutate" / "results")
    parser.add_argument("--reuse", action="store_true", help="keep --work from an earlier run (its stats)")
    args = parser.parse_args(argv)
    started, clock = datetime.now(), time.monotonic()

    tree = args.work / "tree"
    if not args.reuse or not tree.exists():
        if tree.exists():
            shutil.rmtree(tree)
        shutil.copytree(ROOT, tree, ignore=IGNORE, symlinks=True)
        shared = ROOT.parent / "shared"
        if shared.exists():  # tests read the seeds from <ROOT>/../shared; pytest's ROOT is tree/mutants
            (tree / "shared").symlink_to(shared)
        (tree / "setup.cfg").write_text(setup_cfg(), encoding="utf-8")
        # generate the mutants and record which tests call which function; run none yet
        mutmut(tree, "run", "--max-children", str(args.jobs), "zzz-no-such-mutant")

    names = mutant_names(tree)
    sample = {m: ns[:: args.every] for m, ns in names.items()}
    chosen = [n for ns in sample.values() for n in ns]
    print(f"{sum(map(len, names.values()))} mutants, running {len(chosen)} (every {args.every}-th)", flush=True)
    mutmut(tree, "run", "--max-children", str(args.jobs), *chosen)

    status = statuses(tree)
    modules: dict[str, Any] = {}
    survivors: list[dict[str, str]] = []
    for module, ns in sample.items():
        counts: dict[str, int] = {}
        for n in ns:
            s = status.get(n, "missing")
            counts[s] = counts.get(s, 0) + 1
            if s in ("survived", "no tests", "suspicious", "timeout"):
                diff = mutmut(tree, "show", n, capture=True).stdout
                survivors.append({"module": module, "name": n, "status": s, "diff": diff})
        modules[module] = {"generated": len(names[module]), "sampled": len(ns), "statuses": counts}

    args.out.mkdir(parents=True, exist_ok=True)
    data = {"started": started.isoformat(timespec="seconds"), "seconds": round(time.monotonic() - clock, 1),
            "command": " ".join(["python", *sys.argv]), "every": args.every, "load": os.getloadavg(),
            "tests": TESTS, "modules": modules, "survivors": survivors,
            "statuses": {n: status.get(n, "missing") for ns in sample.values() for n in ns}}
    (args.out / "engine_mutants.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    lines = [f"# Engine mutants (mutmut) — {started:%Y-%m-%d %H:%M}", "",
             f"Command: `{data['command']}`, every {args.every}-th mutant per module, "
             f"{data['seconds'] / 60:.1f} min.", "",
             "| module | generated | sampled | killed | survived | other |", "|---|---|---|---|---|---|"]
    for module, m in modules.items():
        st = m["statuses"]
        other = {k: v for k, v in st.items() if k not in ("killed", "survived")}
        lines.append(f"| {module} | {m['generated']} | {m['sampled']} | {st.get('killed', 0)} | "
                     f"{st.get('survived', 0)} | {', '.join(f'{k} {v}' for k, v in other.items()) or '—'} |")
    lines += ["", "## Survivors", ""]
    for surv in survivors:
        lines += [f"### `{surv['name']}` ({surv['status']})", "", "```diff", surv["diff"].strip(), "```", ""]
    (args.out / "engine_mutants.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"report in {args.out / 'engine_mutants.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
