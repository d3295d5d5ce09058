"""Run the surviving engine mutants of a finished mutmut run against tests written after it.

mutmut copies the tree when a run starts, so a test written while it runs (or after it, aimed
at its survivors) is never counted by it. This script takes the survivors and the no-tests
mutants of a report (``engine_mutants*.json``), copies that run's ``mutants/`` folder, puts the
repository's current ``tests/`` in it, and runs the given test files once per mutant, in one
Python process: mutmut's trampoline reads ``MUTANT_UNDER_TEST`` at every call, so one
``pytest.main`` per mutant is enough. A mutant is killed when the tests fail.

    /tmp/pledge-mutvenv/bin/python bench/mutate/check_survivors.py \\
        --work /tmp/pledge-engine-mutants-rest --report /tmp/pledge-engine-mutants-rest/results/engine_mutants.json \\
        --tests tests/test_mutants_erasure_plan.py --match _decide

Each verdict is printed and appended to ``--out`` (``mutant verdict seconds``), after a ``#``
line naming the run, the tests and the time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UNDECIDED = ("survived", "no tests")


def _inner(names: list[str], tests: list[str], markers: str, deselect: str, timeout: int) -> None:
    """In the copy: one ``pytest.main`` per mutant."""
    import pytest
    from mutmut.mutation.trampoline import set_mutant_under_test

    sys.path.insert(0, str(Path("src").resolve()))

    def too_long(signum: int, frame: object) -> None:
        raise _TooLong

    signal.signal(signal.SIGALRM, too_long)
    for name in names:
        set_mutant_under_test(name)
        clock = time.monotonic()
        signal.alarm(timeout)  # a mutant can loop forever (mutmut's "timeout"): it is caught, as mutmut counts it
        try:
            rc = pytest.main([*tests, "-x", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:randomly",
                              "-m", markers, "-k", deselect, "--no-header", "-o", "addopts="])
            verdict = {0: "survived", 1: "killed", 5: "no tests ran"}.get(int(rc), f"error {int(rc)}")
        except _TooLong:
            verdict = "timeout"
        finally:
            signal.alarm(0)
        print(f"VERDICT {name} {verdict} {time.monotonic() - clock:.1f}", flush=True)


class _TooLong(BaseException):
    """Raised by SIGALRM in the middle of a test: not an Exception, so no test can catch it."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="the run's work folder (holds tree/mutants)")
    parser.add_argument("--report", type=Path, required=True, help="its engine_mutants*.json")
    parser.add_argument("--tests", nargs="+", required=True, help="test files (or node ids) of the repository")
    parser.add_argument("--match", default="", help="only mutants whose name contains this")
    parser.add_argument("--names", nargs="*", default=None, help="only these mutants (any status)")
    parser.add_argument("-k", dest="keyword", default="",
                        help="also leave out tests not matching this expression (a test of code changed since the run)")
    parser.add_argument("--timeout", type=int, default=120, help="seconds a mutant's tests may take (then: timeout)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "mutate" / "results" / "engine_new_tests.txt")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from engine_mutants import DESELECT, MARKERS  # beside this file

    if args.inner:
        _inner(args.names or [], args.tests, MARKERS, f"({DESELECT}) and ({args.keyword})" if args.keyword else DESELECT,
               args.timeout)
        return 0
    statuses: dict[str, str] = json.loads(args.report.read_text(encoding="utf-8"))["statuses"]
    names = args.names if args.names is not None else [
        n for n, s in statuses.items() if s in UNDECIDED and args.match in n]
    if not names:
        print("no mutant to check", file=sys.stderr)
        return 1
    copy = args.work / "check"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(args.work / "tree" / "mutants", copy, symlinks=True)
    shutil.rmtree(copy / "tests")
    shutil.copytree(ROOT / "tests", copy / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    started = datetime.now(UTC).isoformat(timespec="seconds")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(copy / "src"), str(copy), str(Path(__file__).parent)])}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--inner", "--work", str(args.work),
           "--report", str(args.report), "--tests", *args.tests, "-k", args.keyword, "--timeout", str(args.timeout), "--names", *names]
    proc = subprocess.run(cmd, cwd=copy, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          check=False)
    lines = [line.removeprefix("VERDICT ") for line in proc.stdout.splitlines() if line.startswith("VERDICT ")]
    if len(lines) != len(names):
        print(proc.stdout[-6000:], file=sys.stderr)
        print(f"only {len(lines)} of {len(names)} mutants checked", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a", encoding="utf-8") as fh:
        fh.write(f"# {len(names)} mutants of {args.report} checked against {' '.join(args.tests)} "
                 f"({started}), one pytest.main per mutant in a copy of {args.work / 'tree' / 'mutants'}: "
                 "mutant, verdict, seconds\n")
        fh.writelines(line + "\n" for line in lines)
    for line in lines:
        print(line)
    killed = sum(1 for line in lines if line.split()[1] in ("killed", "timeout"))
    print(f"{killed} of {len(lines)} killed", flush=True)
    return 0 if len(lines) == len(names) else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    raise SystemExit(main())
