"""Request metrics per calendar year (CCPA §7102 layout) and their CSV."""

from __future__ import annotations

import csv
import io
import statistics
from datetime import UTC, datetime, timedelta

from pledge.reports.metrics import OUTCOMES, RequestFact, metrics_csv, request_metrics


def at(y: int, m: int, d: int, h: int = 12) -> datetime:
    return datetime(y, m, d, h, tzinfo=UTC)


FACTS = [
    # 2025: three access requests (answered in 3, 10 and 31 days), one denied erasure, one expired
    RequestFact("access", "completed", at(2025, 1, 5), at(2025, 1, 8)),
    RequestFact("access", "completed", at(2025, 6, 1), at(2025, 6, 11)),
    RequestFact("access", "partially_completed", at(2025, 12, 31, 23), at(2026, 1, 31, 1)),
    RequestFact("erasure", "denied", at(2025, 3, 1), at(2025, 3, 2), "legal_obligation"),
    RequestFact("erasure", "expired", at(2025, 4, 1), at(2025, 5, 1)),
    # 2026: one open, one denied without a recorded ground, one CCPA deletion done the same day
    RequestFact("access", "verifying", at(2026, 1, 1, 0)),
    RequestFact("ccpa_delete", "denied", at(2026, 2, 1), at(2026, 2, 20)),
    RequestFact("ccpa_delete", "completed", at(2026, 2, 2, 8), at(2026, 2, 2, 17)),
]


def test_counts_by_year_of_receipt_kind_and_outcome() -> None:
    report = request_metrics(FACTS)
    assert [y.year for y in report] == [2026, 2025]
    y2025 = report[1]
    access = y2025.kinds["access"]
    # the request received on 31 December belongs to 2025 even though it closed in 2026
    assert access.received == 3
    assert access.outcomes == {"completed": 2, "partially_completed": 1, "denied": 0, "expired": 0, "open": 0}
    assert y2025.kinds["erasure"].outcomes["denied"] == 1 and y2025.kinds["erasure"].outcomes["expired"] == 1
    assert report[0].kinds["access"].outcomes["open"] == 1
    total = y2025.total
    assert total.received == 5 and sum(total.outcomes.values()) == 5


def test_days_to_complete_count_answered_requests_only() -> None:
    report = request_metrics(FACTS)
    access = report[1].kinds["access"]
    assert access.days == [3, 10, 31]
    assert access.median_days == 10 and access.mean_days == round(44 / 3, 1)
    # the expired erasure has no answer time; the denied one took 1 day
    assert report[1].kinds["erasure"].days == [1]
    pooled = report[1].total
    assert pooled.median_days == statistics.median([3, 10, 31, 1])
    assert report[0].kinds["ccpa_delete"].days == [19, 0]
    assert report[0].kinds["access"].median_days is None


def test_denial_grounds_per_year() -> None:
    report = request_metrics(FACTS)
    assert report[1].denial_grounds == {"legal_obligation": 1}
    assert report[0].denial_grounds == {"unspecified": 1}


def test_csv_has_a_row_per_year_and_kind_and_the_grounds() -> None:
    rows = list(csv.DictReader(io.StringIO(metrics_csv(request_metrics(FACTS)))))
    req = {(r["year"], r["request_type"]): r for r in rows if r["section"] == "requests"}
    assert set(req) == {("2025", "access"), ("2025", "erasure"), ("2025", "all"),
                        ("2026", "access"), ("2026", "ccpa_delete"), ("2026", "all")}
    a = req[("2025", "access")]
    assert [a[o] for o in OUTCOMES] == ["2", "1", "0", "0", "0"]
    assert a["median_days_to_complete"] == "10" and a["mean_days_to_complete"] == "14.7"
    assert req[("2026", "access")]["median_days_to_complete"] == ""
    grounds = [(r["year"], r["denial_ground"], r["count"]) for r in rows if r["section"] == "denials"]
    assert grounds == [("2026", "unspecified", "1"), ("2025", "legal_obligation", "1")]


def test_empty_input_gives_an_empty_report() -> None:
    assert request_metrics([]) == []
    assert metrics_csv([]).count("\n") == 1


def test_many_requests_in_one_year_median_is_exact() -> None:
    start = at(2024, 3, 1)
    facts = [RequestFact("portability", "completed", start, start + timedelta(days=d)) for d in range(1, 102)]
    km = request_metrics(facts)[0].kinds["portability"]
    assert km.median_days == 51 and km.mean_days == 51.0 and km.received == 101
