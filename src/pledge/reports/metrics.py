"""Request metrics per calendar year, in the layout of CCPA regulations §7102.

§7102(a) asks a business to compile, for the previous calendar year, the number of
requests to know, delete, correct and opt out that it received, complied with in whole
or in part, and denied, and the median or mean number of days within which it
substantively responded. Pledge does this for every request type it handles, adds the
denial grounds, and exports the same table as CSV.

The input is any iterable of request facts (:class:`RequestFact` or any object with the
same attributes): the request service hands these out, so this module never reads
tables itself. Nothing here holds personal data: only kinds, states, dates and grounds.

Interface::

    report = request_metrics(facts)            # -> list[YearMetrics], newest year first
    csv_text = metrics_csv(report)
"""

from __future__ import annotations

import io
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from pledge import csvcells

__all__ = ["OUTCOMES", "KindMetrics", "RequestFact", "YearMetrics", "metrics_csv", "request_metrics"]

#: outcome columns, in §7102 order: complied in whole, in part, denied, then the rest
OUTCOMES = ("completed", "partially_completed", "denied", "expired", "open")
CLOSED = {"completed": "completed", "partially_completed": "partially_completed",
          "denied": "denied", "expired": "expired"}


class FactLike(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def received_at(self) -> datetime: ...
    @property
    def closed_at(self) -> datetime | None: ...
    @property
    def denial_ground(self) -> str | None: ...


@dataclass(frozen=True)
class RequestFact:
    """The few facts about one request that the metrics need."""

    kind: str
    state: str
    received_at: datetime
    closed_at: datetime | None = None
    denial_ground: str | None = None


@dataclass
class KindMetrics:
    kind: str
    received: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    days: list[int] = field(default_factory=list)

    @property
    def median_days(self) -> float | None:
        return float(statistics.median(self.days)) if self.days else None

    @property
    def mean_days(self) -> float | None:
        return round(statistics.fmean(self.days), 1) if self.days else None


@dataclass
class YearMetrics:
    year: int
    kinds: dict[str, KindMetrics] = field(default_factory=dict)
    denial_grounds: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> KindMetrics:
        """All kinds together (the days pooled, so the median is the true median)."""
        out = KindMetrics("all")
        for k in self.kinds.values():
            out.received += k.received
            for o in OUTCOMES:
                out.outcomes[o] += k.outcomes[o]
            out.days.extend(k.days)
        return out


def outcome_of(state: str) -> str:
    """A request state as a §7102 outcome column; anything not closed is ``open``."""
    return CLOSED.get(state, "open")


def days_to_complete(received_at: datetime, closed_at: datetime) -> int:
    """Calendar days from receipt to the substantive answer (same day is 0)."""
    return (_day(closed_at) - _day(received_at)).days


def _day(value: datetime | date) -> date:
    return value.date() if isinstance(value, datetime) else value


def request_metrics(facts: Iterable[FactLike]) -> list[YearMetrics]:
    """Counts by kind and outcome, days to complete and denial grounds, per year of receipt.

    A request belongs to the calendar year in which it was received. Days to complete
    count only requests that were answered (completed, partially completed or denied);
    expired and open requests are counted but have no answer time.
    """
    years: dict[int, YearMetrics] = {}
    for fact in facts:
        year = _day(fact.received_at).year
        ym = years.setdefault(year, YearMetrics(year))
        km = ym.kinds.setdefault(fact.kind, KindMetrics(fact.kind))
        km.received += 1
        outcome = outcome_of(fact.state)
        km.outcomes[outcome] += 1
        if outcome in ("completed", "partially_completed", "denied") and fact.closed_at is not None:
            km.days.append(days_to_complete(fact.received_at, fact.closed_at))
        if outcome == "denied":
            ground = fact.denial_ground or "unspecified"
            ym.denial_grounds[ground] = ym.denial_grounds.get(ground, 0) + 1
    for ym in years.values():
        ym.kinds = dict(sorted(ym.kinds.items()))
        ym.denial_grounds = dict(sorted(ym.denial_grounds.items(), key=lambda kv: (-kv[1], kv[0])))
    return [years[y] for y in sorted(years, reverse=True)]


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:g}"


def metrics_csv(report: Iterable[YearMetrics]) -> str:
    """One CSV: a row per year and kind (plus an ``all`` row), then the denial grounds."""
    buf = io.StringIO()
    writer = csvcells.writer(buf, lineterminator="\n")
    writer.writerow(["section", "year", "request_type", "received", *OUTCOMES,
                     "median_days_to_complete", "mean_days_to_complete", "denial_ground", "count"])
    grounds: list[list[str | int]] = []
    for ym in report:
        for km in [*ym.kinds.values(), ym.total]:
            writer.writerow(["requests", ym.year, km.kind, km.received, *(km.outcomes[o] for o in OUTCOMES),
                             _num(km.median_days), _num(km.mean_days), "", ""])
        for ground, count in ym.denial_grounds.items():
            grounds.append(["denials", ym.year, "", "", *([""] * len(OUTCOMES)), "", "", ground, count])
    writer.writerows(grounds)
    return buf.getvalue()
