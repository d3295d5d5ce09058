"""Tests written for mutants of ``pledge.retention.sweep.run`` that survived the suite (docs/mutation.md).

The top-level sweep: its checkpoints (a stopped sweep resumes with the clock it started with, then
sweeps again at the moment it was asked for, inside what is left of ``max_rows``; each key range
keeps its own checkpoints), its audit entries, its log lines (docs/observability.md) and its report.

A small SQLite platform built here: one table ``events`` deleted one year after ``created_at``
(a plain delete, :mod:`pledge.retention.ranged`). Rows 1-10 are past the period at ``T1``, rows
11-14 ten days later (``T2``), rows 15-16 at ``T3``, rows 17-19 at ``T4``; row 20 never. Every
expectation is plain SQL on the database or these dates.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table
from sqlalchemy.engine import Engine as SAEngine

from pledge.engine import Engine
from pledge.retention import sweep
from pledge.retention.holds import Holds
from tests.erasure_exact_support import make_engine
from tests.test_mutants_sweep_gaps import _fill, _ids

T1 = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
DAY = timedelta(days=1)
T2, T3, T4 = T1 + 10 * DAY, T1 + 20 * DAY, T1 + 30 * DAY
ENGINE_CLOCK = T1 - 100 * DAY  # the engine's own clock: nothing is past the period by it
CUT1 = T1.replace(year=T1.year - 1, tzinfo=None)  # P1Y before T1

POLICY: dict[str, Any] = {
    "version": "1", "controller": {"name": "Work Ltd", "country": "PL"},
    "retention": [{"key": "old_events", "name": "Old events", "collections": ["main.events"],
                   "trigger": "created_at", "period": "P1Y", "action": "delete"}]}
DATASET: dict[str, Any] = {"name": "work", "databases": [{"name": "main", "collections": [
    {"name": "events", "fields": [{"name": "id", "primary_key": True}, {"name": "kind"},
                                  {"name": "created_at"}]}]}]}


def _created(i: int) -> datetime:
    if i <= 10:
        return CUT1 - (11 - i) * DAY  # past the period at T1
    if i <= 14:
        return CUT1 + (i - 10) * DAY - timedelta(hours=12)  # at T2
    if i <= 16:
        return CUT1 + (i - 3) * DAY  # days 12-13: at T3
    if i <= 19:
        return CUT1 + (i + 5) * DAY  # days 22-24: at T4
    return T1.replace(tzinfo=None)


def events_platform(tmp_path: Path) -> tuple[Engine, SAEngine]:
    engine = make_engine(tmp_path / "cfg", f"sqlite:///{tmp_path / 'p.db'}", DATASET, POLICY, ENGINE_CLOCK)
    md = MetaData()
    Table("events", md, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("kind", String(20)), Column("created_at", DateTime, nullable=False))
    eng = engine.platform_engine("main")
    md.create_all(eng)
    _fill(eng, md, {"events": [{"id": i, "kind": "click", "created_at": _created(i)} for i in range(1, 21)]})
    return engine, eng


def _details(engine: Engine, action: str) -> list[tuple[str, dict[str, Any]]]:
    """(actor, details) of the audit entries of ``action``, oldest first."""
    return [(e["actor"], e["details"]) for e in reversed(engine.audit.entries(action=action))]


def test_a_stopped_sweep_resumes_at_its_clock_then_sweeps_at_the_new_one_within_max_rows(tmp_path: Path) -> None:
    """``run`` (its docstring, docs/retention.md): a stopped sweep resumes first, "with the clock it started
    with", and then sweeps at the moment it was asked for; ``max_rows`` counts the rows of both ("still
    exact"), and the report of the resumed part is kept as ``resumed_first``. The audit log records each
    start (``retention.sweep.start``, or ``retention.sweep.resume`` with the clock resumed) with the
    actor, and each end with the run's ``total_rows`` (read by :mod:`pledge.gauges`)."""
    engine, eng = events_platform(tmp_path)
    try:
        first = sweep.run(engine, T1, max_rows=3, batch_size=2)
        assert (first["status"], first["stopped_by"], first["total_rows"], first["now"]) == (
            "partial", "max_rows", 3, T1.isoformat())
        assert _ids(eng, "events") == set(range(4, 21))
        assert _details(engine, "retention.sweep.start") == [
            ("retention", {"now": T1.isoformat(), "start_pk": None, "end_pk": None})]
        assert _details(engine, "retention.sweep.paused") == [
            ("retention", {"now": T1.isoformat(), "total_rows": 3, "stopped_by": "max_rows"})]
        # the expected rows are counted only when progress is given: no count in the range's intent
        ranges = _details(engine, "retention.sweep.range")
        assert ranges and all("rows_expected" not in d for _, d in ranges)

        # 7 rows were left at T1: a budget of 8 finishes the resumed sweep, then one row at T2 (row 11)
        second = sweep.run(engine, T2, max_rows=8)
        assert (second["now"], second["resumed"], second["status"], second["total_rows"]) == (
            T2.isoformat(), False, "partial", 1)
        before = second["resumed_first"]
        assert (before["now"], before["resumed"], before["status"], before["total_rows"]) == (
            T1.isoformat(), True, "done", 7)
        assert _ids(eng, "events") == set(range(12, 21))
        assert _details(engine, "retention.sweep.resume") == [
            ("retention", {"now": T1.isoformat(), "start_pk": None, "end_pk": None})]

        # resumed at the same moment: it finishes and does not sweep again
        third = sweep.run(engine, T2)
        assert (third["now"], third["resumed"], third["status"], third["total_rows"]) == (
            T2.isoformat(), True, "done", 3)
        assert "resumed_first" not in third
        assert _ids(eng, "events") == set(range(15, 21)), "rows past the period only at T3 are kept"

        # a finished sweep starts afresh at its own moment
        fourth = sweep.run(engine, T3, max_rows=1)
        assert (fourth["resumed"], fourth["status"], fourth["total_rows"]) == (False, "partial", 1)
        assert _ids(eng, "events") == set(range(16, 21))

        # resumed at T3 (row 16), then everything past the period at T4 (17-19), no row limit; batches of
        # batch_size rows that never grow past max_batch
        calls: list[tuple[str, int, int]] = []
        fifth = sweep.run(engine, T4, progress=lambda key, done, expected: calls.append((key, done, expected)),
                          actor="ops", batch_size=1, max_batch=1)
        assert (fifth["now"], fifth["resumed"], fifth["status"], fifth["total_rows"]) == (
            T4.isoformat(), False, "done", 3)
        assert (fifth["resumed_first"]["now"], fifth["resumed_first"]["total_rows"]) == (T3.isoformat(), 1)
        assert _ids(eng, "events") == {20}
        assert [t["batches"] for t in fifth["targets"]] == [3], "one row per batch"
        assert calls[-1][1:] == (3, 3), "the sweep at T4 reports its own target: 3 rows of 3 expected"
        starts = _details(engine, "retention.sweep.start")
        assert starts[-1] == ("ops", {"now": T4.isoformat(), "start_pk": None, "end_pk": None})
        assert _details(engine, "retention.sweep.resume")[-1] == (
            "ops", {"now": T3.isoformat(), "start_pk": None, "end_pk": None})
        assert _details(engine, "retention.sweep.done")[-1] == (
            "ops", {"now": T4.isoformat(), "total_rows": 3, "stopped_by": None})
    finally:
        engine.close()


def test_each_key_range_keeps_its_own_checkpoints_and_stays_inside_its_range(tmp_path: Path) -> None:
    """``start_pk``/``end_pk`` bound the row key, "so a sweep can be split into tasks over key ranges"
    and "each range keeps its own checkpoints" (docs/retention.md): a range sweep neither resumes a
    stopped sweep of another range nor leaves its own range, also when it resumes and sweeps again.
    ``progress`` gets the rows expected in the target: expired, not held, inside the range."""
    engine, eng = events_platform(tmp_path)
    try:
        assert sweep.run(engine, T1, max_rows=1)["status"] == "partial"  # a whole-table sweep, stopped
        assert _ids(eng, "events") == set(range(2, 21))

        upto = sweep.run(engine, T1, end_pk=3)
        assert (upto["resumed"], upto["status"], upto["total_rows"]) == (False, "done", 2)
        assert _ids(eng, "events") == set(range(4, 21))
        assert _details(engine, "retention.sweep.start")[-1] == (
            "retention", {"now": T1.isoformat(), "start_pk": None, "end_pk": 3})

        Holds(engine).add_records("main.events", ids=[6], reason="dispute 7/2026", expires_at=T4 + 100 * DAY)
        calls: list[tuple[str, int, int]] = []
        part = sweep.run(engine, T2, start_pk=5, end_pk=8, max_rows=1,
                         progress=lambda key, done, expected: calls.append((key, done, expected)))
        assert (part["resumed"], part["status"], part["total_rows"], part["now"]) == (
            False, "partial", 1, T2.isoformat())
        assert calls and calls[0][2] == 3, "rows 5, 7 and 8 are expected: 6 is held, 4 and 9 are outside"
        assert _ids(eng, "events") == {4} | set(range(6, 21))
        assert _details(engine, "retention.sweep.start")[-1][1] == {"now": T2.isoformat(), "start_pk": 5,
                                                                    "end_pk": 8}
        assert _details(engine, "retention.sweep.range")[-1][1]["rows_expected"] == 3

        rest = sweep.run(engine, T3, start_pk=5, end_pk=8)
        assert (rest["now"], rest["status"], rest["resumed_first"]["now"]) == (T3.isoformat(), "done",
                                                                               T2.isoformat())
        assert _ids(eng, "events") == {4, 6} | set(range(9, 21)), "only rows 5-8 that are not held go"
    finally:
        engine.close()


def test_the_report_and_the_log_lines_give_the_outcome_rows_and_duration(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """docs/observability.md: sweeps log ``sweep.start`` and ``sweep.done`` "with the rows removed, the
    outcome and the duration" (``duration_ms``, a float in milliseconds like the other lines); the
    report gives the seconds the sweep took and the rows per second (printed by ``pledge retention run``)."""
    engine, _eng = events_platform(tmp_path)
    try:
        caplog.set_level(logging.INFO, logger="pledge.retention.sweep")
        began = time.perf_counter()
        report = sweep.run(engine, T1)
        wall = time.perf_counter() - began
        assert report["total_rows"] == 10
        assert 0 < report["seconds"] <= wall + 0.001
        rate = report["rows_per_second"]
        assert isinstance(rate, float)
        seconds = report["seconds"]  # rounded to the millisecond: the rate was taken before rounding
        assert seconds > 0.001 and 10 / (seconds + 0.0005) - 0.05 <= rate <= 10 / (seconds - 0.0005) + 0.05

        lines = [r for r in caplog.records if r.name == "pledge.retention.sweep"]
        events = [getattr(r, "event", None) for r in lines]
        assert "sweep.start" in events and "sweep.done" in events
        done = lines[events.index("sweep.done")]
        assert (getattr(done, "status", None), getattr(done, "rows", None)) == ("done", 10)
        message = done.getMessage()
        assert "done" in message and "10" in message, message
        duration = getattr(done, "duration_ms", None)
        assert isinstance(duration, float)
        assert abs(duration - report["seconds"] * 1000) <= 1.0
    finally:
        engine.close()


def test_the_deadline_also_stops_the_sweep_that_follows_a_resumed_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``run``: ``until`` (a wall-clock deadline) stops the sweep between batches, and that is the whole
    call: once the resumed sweep has finished, the sweep at the new moment keeps the same deadline. The
    wall clock here passes the deadline as the resumed sweep records its end (``retention.sweep.done``)."""
    engine, eng = events_platform(tmp_path)
    try:
        assert sweep.run(engine, T1, max_rows=3)["status"] == "partial"
        late = {"on": False}

        class WallClock(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
                return datetime.now(tz) + (timedelta(hours=2) if late["on"] else timedelta(0))

        monkeypatch.setattr(sweep, "datetime", WallClock)
        record = engine.audit.record

        def audited(action: str, **kwargs: Any) -> int:
            if action == "retention.sweep.done":
                late["on"] = True
            return record(action, **kwargs)

        monkeypatch.setattr(engine.audit, "record", audited)
        report = sweep.run(engine, T2, until=datetime.now(UTC) + timedelta(hours=1))
        assert (report["resumed_first"]["status"], report["resumed_first"]["total_rows"]) == ("done", 7)
        assert (report["status"], report["stopped_by"], report["total_rows"]) == ("partial", "until", 0)
        assert _ids(eng, "events") == set(range(11, 21))
    finally:
        engine.close()
