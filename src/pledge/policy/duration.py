"""Typed ISO 8601 durations: ``P30D``, ``P12M``, ``P5Y``, ``PT72H``.

Calendar arithmetic is exact: months and years move the calendar date and clamp the
day to the month's end (31 January + P1M is 28 or 29 February), as GDPR deadlines
are counted.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any, TypeVar

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_PATTERN = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?)?$"
)
PATTERN_TEXT = "an ISO 8601 duration such as P30D, P12M, P5Y or PT72H"

D = TypeVar("D", date, datetime)


@dataclass(frozen=True, order=True)
class Duration:
    years: int = 0
    months: int = 0
    weeks: int = 0
    days: int = 0
    hours: int = 0
    minutes: int = 0

    @classmethod
    def parse(cls, text: str) -> Duration:
        m = _PATTERN.match(text.strip().upper()) if isinstance(text, str) else None
        if m is None:
            raise ValueError(f"{text!r} is not {PATTERN_TEXT}")
        return cls(**{k: int(v) for k, v in m.groupdict().items() if v})

    def __str__(self) -> str:
        date_part = "".join(
            f"{v}{u}" for v, u in ((self.years, "Y"), (self.months, "M"), (self.weeks, "W"), (self.days, "D")) if v
        )
        time_part = "".join(f"{v}{u}" for v, u in ((self.hours, "H"), (self.minutes, "M")) if v)
        return "P" + date_part + (("T" + time_part) if time_part else "") if (date_part or time_part) else "P0D"

    @property
    def approx_days(self) -> float:
        """Length in days for comparisons (a month counts 30.44 days)."""
        return (self.years * 365.25 + self.months * 30.44 + self.weeks * 7 + self.days
                + self.hours / 24 + self.minutes / 1440)

    def after(self, start: D) -> D:
        """``start`` moved forward by this duration."""
        return _shift(start, self, 1)

    def before(self, end: D) -> D:
        """``end`` moved back by this duration (a retention cutoff)."""
        return _shift(end, self, -1)


def _shift(moment: D, d: Duration, sign: int) -> D:
    total_months = moment.month - 1 + sign * (d.years * 12 + d.months)
    year = moment.year + total_months // 12
    month = total_months % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    moved = moment.replace(year=year, month=month, day=day)
    delta = timedelta(weeks=d.weeks, days=d.days, hours=d.hours, minutes=d.minutes)
    if isinstance(moved, datetime):
        return moved + sign * delta
    return moved + timedelta(days=sign * (d.weeks * 7 + d.days + (d.hours // 24)))


def _coerce(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    if isinstance(value, str):
        return Duration.parse(value)
    raise ValueError(f"expected {PATTERN_TEXT}, got {type(value).__name__}")


DurationField = Annotated[
    Duration,
    BeforeValidator(_coerce),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": _PATTERN.pattern, "description": PATTERN_TEXT}),
]
