"""Duration: parsing, printing, and calendar arithmetic (month ends, leap years)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pledge.policy.duration import Duration


@pytest.mark.parametrize(("text", "expected"), [
    ("P30D", Duration(days=30)), ("P12M", Duration(months=12)), ("P5Y", Duration(years=5)),
    ("PT72H", Duration(hours=72)), ("P1Y2M3W4DT5H6M", Duration(1, 2, 3, 4, 5, 6)), ("p1m", Duration(months=1)),
])
def test_parse(text: str, expected: Duration) -> None:
    assert Duration.parse(text) == expected


@pytest.mark.parametrize("text", ["", "P", "PT", "30D", "P1.5M", "P-1D", "one month", "P1DT", "P1H"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601 duration"):
        Duration.parse(text)


@given(st.builds(Duration, *(st.integers(0, 500) for _ in range(6))))
def test_str_round_trips(d: Duration) -> None:
    assert Duration.parse(str(d)) == d


@pytest.mark.parametrize(("start", "duration", "end"), [
    (date(2025, 1, 31), "P1M", date(2025, 2, 28)),     # clamps to the month's end
    (date(2024, 1, 31), "P1M", date(2024, 2, 29)),     # leap year
    (date(2024, 2, 29), "P1Y", date(2025, 2, 28)),     # leap day + one year
    (date(2024, 2, 29), "P4Y", date(2028, 2, 29)),
    (date(2025, 3, 31), "P1M", date(2025, 4, 30)),
    (date(2025, 11, 30), "P3M", date(2026, 2, 28)),    # across the year end
    (date(2025, 1, 31), "P30D", date(2025, 3, 2)),
    (date(2025, 12, 31), "P1M1D", date(2026, 2, 1)),
])
def test_after(start: date, duration: str, end: date) -> None:
    assert Duration.parse(duration).after(start) == end


@pytest.mark.parametrize(("end", "duration", "start"), [
    (date(2025, 3, 31), "P1M", date(2025, 2, 28)),
    (date(2024, 3, 31), "P1M", date(2024, 2, 29)),
    (date(2025, 2, 28), "P5Y", date(2020, 2, 28)),
    (date(2026, 1, 15), "P24M", date(2024, 1, 15)),
])
def test_before(end: date, duration: str, start: date) -> None:
    assert Duration.parse(duration).before(end) == start


def test_datetime_keeps_time_and_zone() -> None:
    moment = datetime(2024, 1, 31, 23, 30, tzinfo=UTC)
    assert Duration.parse("P1MT1H").after(moment) == datetime(2024, 3, 1, 0, 30, tzinfo=UTC)
    assert Duration.parse("PT72H").before(moment) == datetime(2024, 1, 28, 23, 30, tzinfo=UTC)


def test_approx_days_orders_durations() -> None:
    assert Duration.parse("P1M").approx_days < Duration.parse("P45D").approx_days < Duration.parse("P2M").approx_days
    assert Duration.parse("P1Y").approx_days == pytest.approx(365.25)
