"""Tests written for mutants of ``pledge.retention.rules`` that survived the suite (docs/mutation.md).

Each one pins a behaviour the older tests left loose: the exact error a bad condition gets
(every message ends with the list of what is allowed, so matching a word like "IS NULL"
anywhere in it proved nothing), numbers in conditions, and the year-end exemption bound on
the first instant of a year.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Column, Float, Integer, MetaData, String, Table

from pledge.policy.model import Exemption
from pledge.retention.rules import ConditionError, exemption_bound, parse_condition


@pytest.fixture
def table() -> Table:
    return Table("people", MetaData(), Column("id", Integer, primary_key=True),
                 Column("status", String(20)), Column("score", Float))


@pytest.mark.parametrize(("cond", "message"), [
    ("status = NULL", "compare with NULL using IS NULL or IS NOT NULL (position 9)"),
    ("status IS 'x'", "IS must be followed by NULL or NOT NULL"),
    ("(status = 'x' status", "a parenthesis is not closed"),
    ("status = 'x' AND", "it ends too early"),
])
def test_a_bad_condition_gets_its_own_message(table: Table, cond: str, message: str) -> None:
    with pytest.raises(ConditionError) as info:
        parse_condition(cond, table)
    head = str(info.value).split("; allowed:")[0]
    assert head == f"condition {cond!r}: {message}"


def test_numbers_keep_their_kind(table: Table) -> None:
    params = parse_condition("score > 2.5 AND id = 3", table).compile().params
    values = sorted(params.values())
    assert values == [2.5, 3]
    assert [type(v) for v in values] == [float, int]


def _tax(year_end: bool) -> Exemption:
    return Exemption(key="tax", name="Tax records", law="a tax law", period="P5Y",
                     trigger="issued_at", year_end=year_end, collections=["main.invoices"])


@pytest.mark.parametrize(("now", "bound"), [
    # the cutoff (now - 5 years) falls inside 2026: everything issued before 2026 is past its period
    (datetime(2031, 6, 15, 12, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)),
    (datetime(2031, 1, 1, 0, 0, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)),
    # the cutoff is exactly 1 January 2026 00:00: 2025's records are still inside their period
    (datetime(2031, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)),
])
def test_year_end_exemption_bound_on_both_sides_of_new_year(now: datetime, bound: datetime) -> None:
    assert exemption_bound(_tax(True), now) == bound


def test_exemption_without_year_end_counts_from_the_trigger() -> None:
    now = datetime(2031, 6, 15, 12, tzinfo=UTC)
    assert exemption_bound(_tax(False), now) == datetime(2026, 6, 15, 12, tzinfo=UTC)
