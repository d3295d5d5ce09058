"""Deadlines: GDPR calendar months (month ends, 29 February), CCPA business days, stricter promises."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from pledge.policy.model import Controller, Policy, RegimeDeadline, Rights
from pledge.rights.deadlines import add_business_days, days_left, deadline_for, is_overdue, regime_for


def policy(promise: str | None = None, regimes: list[str] | None = None, **extra: object) -> Policy:
    rights = Rights(promise=promise, deadlines=[  # type: ignore[arg-type]
        RegimeDeadline(regime="gdpr", respond="P1M", extension="P2M"),  # type: ignore[arg-type]
        RegimeDeadline(regime="ccpa", respond="P45D", extension="P45D", confirm_business_days=10),  # type: ignore[arg-type]
    ])
    return Policy(version="1", controller=Controller(name="X", country="PL"), rights=rights,
                  regimes=regimes or ["gdpr", "ccpa"], **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize(("received", "due"), [
    (date(2026, 1, 31), date(2026, 2, 28)),   # no 31 February: the month's last day
    (date(2028, 1, 31), date(2028, 2, 29)),   # leap year
    (date(2028, 1, 29), date(2028, 2, 29)),
    (date(2028, 2, 29), date(2028, 3, 29)),   # from 29 February
    (date(2026, 3, 31), date(2026, 4, 30)),
    (date(2026, 12, 15), date(2027, 1, 15)),  # across the year end
    (date(2026, 8, 31), date(2026, 9, 30)),
])
def test_gdpr_one_calendar_month(received: date, due: date) -> None:
    d = deadline_for(policy(), "gdpr", received)
    assert d.legal_due == due
    assert d.due == due
    assert d.confirm_by is None


def test_gdpr_extension_is_two_more_months_and_must_be_sent_in_the_first() -> None:
    d = deadline_for(policy(), "gdpr", date(2027, 11, 30))
    assert d.due == date(2027, 12, 30)
    assert d.extended_due == date(2028, 2, 29)  # 30 Dec + 2 months, clamped in a leap February
    assert d.extension_notice_by == d.due


def test_stricter_promise_wins_only_when_earlier() -> None:
    p = policy(promise="P30D")
    # 31 days in January: 30 days is earlier than one month
    jan = deadline_for(p, "gdpr", date(2026, 1, 10))
    assert jan.legal_due == date(2026, 2, 10) and jan.promise_due == date(2026, 2, 9) and jan.due == date(2026, 2, 9)
    # February is shorter than 30 days: the legal month is earlier, so it stays
    feb = deadline_for(p, "gdpr", date(2026, 2, 10))
    assert feb.legal_due == date(2026, 3, 10) and feb.promise_due == date(2026, 3, 12)
    assert feb.due == date(2026, 3, 10)


@pytest.mark.parametrize(("received", "confirm"), [
    (date(2026, 3, 2), date(2026, 3, 16)),    # Monday + 10 working days = Monday two weeks later
    (date(2026, 3, 6), date(2026, 3, 20)),    # Friday
    (date(2026, 3, 7), date(2026, 3, 20)),    # Saturday: counting starts Monday
    (date(2028, 2, 25), date(2028, 3, 10)),   # across 29 February
])
def test_ccpa_confirm_in_ten_business_days(received: date, confirm: date) -> None:
    d = deadline_for(policy(), "ccpa", received)
    assert d.confirm_by == confirm
    assert confirm.weekday() < 5


def test_ccpa_answer_in_45_days_with_one_45_day_extension() -> None:
    d = deadline_for(policy(), "ccpa", datetime(2028, 1, 20, 23, 30, tzinfo=UTC))
    assert d.legal_due == date(2028, 3, 5)   # 45 days, 29 February counted
    assert d.extended_due == date(2028, 4, 19)


def test_business_days_skip_weekends() -> None:
    assert add_business_days(date(2026, 3, 6), 1) == date(2026, 3, 9)
    assert add_business_days(date(2026, 3, 9), 5) == date(2026, 3, 16)


def test_regime_follows_kind_and_policy() -> None:
    assert regime_for(policy(), "ccpa_know") == "ccpa"
    assert regime_for(policy(), "access") == "gdpr"
    assert regime_for(policy(regimes=["uk_gdpr"]), "erasure") == "uk_gdpr"


def test_days_left_and_overdue() -> None:
    due = date(2026, 2, 28)
    assert days_left(due, date(2026, 2, 27)) == 1
    assert days_left(due, due) == 0 and not is_overdue(due, due)
    assert days_left(due, date(2026, 3, 1)) == -1 and is_overdue(due, date(2026, 3, 1))


def test_missing_regime_rules_fall_back_to_the_law() -> None:
    p = Policy(version="1", controller=Controller(name="X", country="PL"))
    d = deadline_for(p, "gdpr", date(2026, 5, 31))
    assert d.due == date(2026, 6, 30) and d.extended_due == date(2026, 8, 30)
