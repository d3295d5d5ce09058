"""One report of every engine mutant, from the runs that decided them and the verdicts on survivors.

The engine mutants are run in parts (a module at a time, on different mornings, stopped and
resumed), so no single mutmut run holds every verdict. This script reads:

* ``results/runs/*.json``: the report of each run (``engine_mutants.py --out``), in name order
  (the names start with the run's start time). A later run's verdict on a mutant replaces an
  earlier one; "not checked" never replaces a verdict.
* ``results/engine_new_tests.txt``: survivors run again against tests written after their run
  (``check_survivors.py``); a mutant any check killed counts as killed.
* ``results/engine_verdicts.json``: every other survivor's explanation, by group
  (``{"groups": {key: {"module", "text"}}, "verdicts": {mutant: key}}``).

It writes ``results/engine_mutants.json`` and ``.md``: per module, how many mutants were
generated, run, killed by the run, killed by a later test, explained, **unexplained** and not
run; and every survivor with its verdict and its change. It exits 1 while any survivor is
unexplained or any mutant has not been run, and prints them.

    python bench/mutate/engine_report.py
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
MODULES = ("pledge.retention.sweep", "pledge.rights.erasure_plan", "pledge.consent.decisions",
           "pledge.retention.rules")
NO_VERDICT = ("not checked", "missing")
SURVIVED = ("survived", "no tests", "suspicious", "timeout", "segfault")
COLUMNS = ("generated", "run", "killed", "survived", "no tests", "timeout", "killed by a new test", "explained",
           "unexplained", "not run")


def _module(name: str) -> str:
    return next(m for m in MODULES if name.startswith(m + "."))


def _change(diff: str) -> str:
    lines = [ln for ln in diff.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    return " | ".join(ln.strip() for ln in lines) or diff.strip()


def load_runs(folder: Path) -> tuple[dict[str, str], dict[str, str], list[dict[str, Any]]]:
    """Each mutant's latest verdict, its change, and the runs' headers."""
    status: dict[str, str] = {}
    changes: dict[str, str] = {}
    runs: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for name, st in data.get("statuses", {}).items():
            if st not in NO_VERDICT or name not in status:
                status[name] = st
        for surv in data.get("survivors", []):
            changes[surv["name"]] = _change(surv.get("diff", ""))
        for name, diff in data.get("diffs", {}).items():
            changes.setdefault(name, diff)
        runs.append({"file": path.name, "started": data.get("started") or data.get("date", ""),
                     "command": data.get("command") or " ".join(data.get("header", [])[:1]),
                     "seconds": data.get("seconds"), "load": data.get("load")})
    return status, changes, runs


def load_new_tests(path: Path) -> dict[str, str]:
    """Each mutant's verdict from the checks against later tests: ``killed`` when any check
    killed it (each check runs some of the test files, and tests are only ever added)."""
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith("#") and "__mutmut_" in parts[0]:
            verdict = "killed" if parts[1] in ("killed", "timeout") else parts[1]
            if out.get(parts[0]) != "killed":
                out[parts[0]] = verdict
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    res = args.results
    status, changes, runs = load_runs(res / "runs")
    rechecked = load_new_tests(res / "engine_new_tests.txt")
    explained = json.loads((res / "engine_verdicts.json").read_text(encoding="utf-8"))
    groups: dict[str, dict[str, str]] = explained["groups"]
    why: dict[str, str] = explained["verdicts"]

    table = {m: Counter[str]() for m in MODULES}
    rows: list[dict[str, str]] = []
    unexplained: list[str] = []
    for name in sorted(status):
        st, mod = status[name], _module(name)
        counts = table[mod]
        counts["generated"] += 1
        if st in NO_VERDICT:
            counts["not run"] += 1
            continue
        counts["run"] += 1
        counts[st if st in ("killed", "survived", "no tests", "timeout") else "survived"] += 1
        if st not in SURVIVED:
            continue
        if rechecked.get(name) in ("killed", "timeout"):
            verdict = "killed by a new test"
        elif st == "timeout" and "timeout" in groups:  # the tests hang on it: caught, as mutmut counts it
            verdict = "timeout"
        elif name in why:
            verdict = why[name]
            if verdict not in groups:
                raise SystemExit(f"{name}: unknown group {verdict!r} in engine_verdicts.json")
        else:
            verdict = "UNEXPLAINED"
            unexplained.append(name)
        counts["explained" if verdict in groups else verdict.lower()] += 1
        rows.append({"mutant": name, "status": st, "verdict": verdict, "change": changes.get(name, "")})

    total: Counter[str] = sum(table.values(), Counter())
    by_group = Counter(r["verdict"] for r in rows)
    data = {"runs": runs, "table": {m: {c: table[m][c] for c in COLUMNS} for m in MODULES},
            "total": {c: total[c] for c in COLUMNS}, "groups": groups,
            "group_counts": dict(by_group), "survivors": rows, "statuses": status}
    (res / "engine_mutants.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    md = ["# Engine mutants (mutmut), every run together", "",
          "Written by `python bench/mutate/engine_report.py` from `runs/*.json` (one report per run),",
          "`engine_new_tests.txt` (survivors run again against later tests) and `engine_verdicts.json` (the",
          "explanations). docs/mutation.md tells the story of the runs.", "", "## Runs", ""]
    md += [f"- `{r['file']}`: started {r['started']}, {r['command']}"
           + (f", {r['seconds'] / 60:.1f} min" if r.get("seconds") else "")
           + (f", load average at the end {', '.join(f'{x:.2f}' for x in r['load'])}" if r.get("load") else "")
           for r in runs]
    md += ["", "## Per module", "", "| module | " + " | ".join(COLUMNS) + " |",
           "|---|" + "---|" * len(COLUMNS)]
    for m in (*MODULES, "all"):
        c = total if m == "all" else table[m]
        md.append(f"| `{m}` | " + " | ".join(f"{c[col]:,}" for col in COLUMNS) + " |")
    md += ["", "## Survivors by verdict", "", "| verdict | n |", "|---|---|"]
    for key, n in by_group.most_common():
        text = groups[key]["text"] if key in groups else key
        md.append(f"| {text} | {n} |")
    md += ["", "## Every survivor", "", "| mutant | mutmut | verdict | change |", "|---|---|---|---|"]
    for r in rows:
        change = r["change"].replace("|", "\\|").replace("\n", " ")
        md.append(f"| `{r['mutant']}` | {r['status']} | {r['verdict']} | `{change}` |")
    (res / "engine_mutants.md").write_text("\n".join(md) + "\n", encoding="utf-8")

    print(" | ".join(COLUMNS))
    for m in (*MODULES, "all"):
        c = total if m == "all" else table[m]
        print(f"{m}: " + ", ".join(f"{col} {c[col]}" for col in COLUMNS if c[col]))
    for name in unexplained:
        print(f"UNEXPLAINED {name}: {changes.get(name, '')}", file=sys.stderr)
    return 1 if unexplained or total["not run"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
