"""Run every benchmark at a quick size, one after the other, and print their figures.

The full-size runs (1,000,000 people, 10 million messages, Fides at 100,000 customers)
take much longer; bench/README.md gives the command for each. Set BENCH_FULL=1 to run
the full sizes here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FULL = os.environ.get("BENCH_FULL") == "1"

RUNS: list[list[str]] = [
    ["decisions.py"] + ([] if FULL else ["--people", "500", "--requests", "5000"]),
    ["rights.py"] + ([] if FULL else ["--users", "20000", "--backend", "sqlite"]),
    ["retention.py", "--engine", "sqlite"] + (["--rows", "10000000"] if FULL else ["--rows", "200000"]),
]


def main() -> int:
    failed = 0
    for args in RUNS:
        print(f"\n=== bench/{' '.join(args)}", flush=True)
        failed += subprocess.call([sys.executable, str(HERE / args[0]), *args[1:]]) != 0
    print("\nPledge against Fides: bash bench/vs_fides/run.sh (installs Fides in its own venv)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
