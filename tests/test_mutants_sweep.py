"""Tests written for mutants of ``pledge.retention.sweep`` that survived the suite (docs/mutation.md).

The sweep's own account of what it did: the plan and the report name each rule, table and
action, the report counts rows and batches, the audit log holds the start and the end with
the total, and a sweep of a key range stays inside it.
"""

from __future__ import annotations

from pathlib import Path

from pledge.platforms import REFERENCE
from pledge.retention import sweep
from tests.retention_support import deployment


def test_plan_report_and_audit_say_what_the_sweep_did(tmp_path: Path) -> None:
    engine = deployment(tmp_path, "onetagger", f"sqlite:///{tmp_path / 'p.db'}", users=40, now=REFERENCE,
                        boundary=True)
    planned = sweep.plan(engine, REFERENCE)
    assert planned["dry_run"] is True and planned["total_rows"] > 0
    for t in planned["targets"]:
        assert {"rule", "collection", "action", "erasure"} <= set(t)
        assert t["erasure"] in ("person", t["action"])

    report = sweep.run(engine, REFERENCE)
    assert (report["dry_run"], report["status"], report["resumed"]) == (False, "done", False)
    assert report["total_rows"] == sum(t["rows"] for t in report["targets"]) > 0
    assert isinstance(report["seconds"], float)
    planned_rows = {(t["rule"], t["collection"]): t["rows"] for t in planned["targets"]}
    for t in report["targets"]:
        assert {"rule", "collection", "action", "rows", "batches", "done"} <= set(t)
        assert (t["rule"], t["collection"]) in planned_rows
        assert t["done"] is True
        if t["rows"]:
            assert t["batches"] == 1, t  # a few dozen rows fit one batch

    done = engine.audit.entries(action="retention.sweep.done")
    assert len(done) == 1 and done[0]["actor"] == "retention"
    assert engine.audit.entries(action="retention.sweep.start")
    assert sweep.plan(engine, REFERENCE)["total_rows"] == 0


def test_a_key_range_sweep_leaves_the_rows_after_its_range(tmp_path: Path) -> None:
    engine = deployment(tmp_path, "onetagger", f"sqlite:///{tmp_path / 'p.db'}", users=40, now=REFERENCE,
                        boundary=True)
    before = {(t["rule"], t["collection"]): t for t in sweep.plan(engine, REFERENCE, sample=1000)["targets"]}
    end = 10
    sweep.run(engine, REFERENCE, start_pk=None, end_pk=end)
    after = {(t["rule"], t["collection"]): t for t in sweep.plan(engine, REFERENCE, sample=1000)["targets"]}
    beyond = [i for t in before.values() for i in t["sample_ids"] if isinstance(i, int) and i > end]
    assert beyond, "the generated data has expired rows after the range"
    inside = [i for t in before.values() for i in t["sample_ids"] if isinstance(i, int) and i <= end]
    assert inside, "the generated data has expired rows inside the range"
    for key, t in before.items():
        kept = [i for i in t["sample_ids"] if isinstance(i, int) and i > end]
        assert set(kept) <= set(after[key]["sample_ids"]), key
        swept = [i for i in t["sample_ids"] if isinstance(i, int) and i <= end]
        assert not set(swept) & set(after[key]["sample_ids"]), key
