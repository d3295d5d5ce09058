"""pytest plugin for the engine mutation run: a mutant's tests run fastest first, slow ones never.

mutmut runs each mutant's tests with ``-x`` in the order it passes them (a set). Putting the
cheapest test first makes a killed mutant cost the time of the cheapest test that kills it.
The durations come from mutmut's own stats pass (``mutants/mutmut-stats.json``); before that
pass exists the order is left alone. engine_mutants.py loads it with ``-p mutant_order``.

:data:`LEFT_OUT` names tests that are too slow to run for every mutant; they are deselected
at collection, so mutmut's stats never map them to a function (and a test left out during a
run becomes obsolete to mutmut: its earlier verdicts stay, it is not run again).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_DURATIONS: dict[str, float] | None = None
#: the retention CLI end to end (plan, holds, limits, replay through typer): 6 s a run, a third of
#: the sweep's whole test time; tests/test_mutants_sweep.py checks limits and holds directly
LEFT_OUT = ("tests/test_retention_ops.py::test_cli_plan_run_limits_and_holds",)


def _durations() -> dict[str, float]:
    global _DURATIONS
    if not _DURATIONS:  # read again until the stats pass has written it (workers fork from one process)
        try:  # pytest runs with mutants/ as its working directory
            data = json.loads(Path("mutmut-stats.json").read_text(encoding="utf-8"))
            _DURATIONS = {k: float(v) for k, v in data.get("duration_by_test", {}).items()}
        except (OSError, ValueError):
            _DURATIONS = {}
    return _DURATIONS


def pytest_collection_modifyitems(session: Any, config: Any, items: list[Any]) -> None:
    dropped = [item for item in items if item.nodeid.removeprefix("mutants/") in LEFT_OUT]
    if dropped:
        items[:] = [item for item in items if item not in dropped]
        config.hook.pytest_deselected(items=dropped)
    durations = _durations()
    if durations:
        items.sort(key=lambda item: durations.get(item.nodeid, durations.get(f"mutants/{item.nodeid}", 1e9)))
