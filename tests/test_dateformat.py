"""pledge.dateformat writes what babel writes (#19): every field it computes itself, and the
ones it leaves to babel, in several languages, for values across the day and the year."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time

import pytest
from babel import Locale
from babel.dates import parse_pattern

from pledge.dateformat import compiled

#: every field computed here (y yy yyyy, M… L…, d dd, h hh H HH K k, m mm s ss, a), and two left to babel (EEEE, G)
PATTERNS = ["y yy yyyy", "M MM MMM MMMM MMMMM", "LLL LLLL", "d dd", "h hh H HH K k", "m mm s ss", "a h:mm a",
            "EEEE d MMMM y G", "d 'o''clock' MMM, HH:mm:ss"]


def _values(rnd: random.Random) -> list[datetime]:
    edges = [datetime(2024, 1, 1, h, 5, 9, tzinfo=UTC) for h in (0, 1, 11, 12, 13, 23)]
    return edges + [datetime(rnd.randint(1, 9999), rnd.randint(1, 12), rnd.randint(1, 28), rnd.randint(0, 23),
                             rnd.randint(0, 59), rnd.randint(0, 59), tzinfo=UTC) for _ in range(300)]


@pytest.mark.parametrize("lang", ["en", "pl", "de", "fi", "ja"])
def test_each_field_is_what_babel_writes(lang: str) -> None:
    loc = Locale.parse(lang)
    values = _values(random.Random(lang))
    for text in PATTERNS:
        pattern = parse_pattern(text)
        fast = compiled(pattern, loc)
        for value in values:
            assert fast.apply(value) == pattern.apply(value, loc), (lang, text, value)
    on_dates, on_times = parse_pattern("d MMMM y"), parse_pattern("h:mm a HH")
    for value in values[:50]:
        assert compiled(on_dates, loc).apply(value.date()) == on_dates.apply(value.date(), loc)
        clock = time(value.hour, value.minute)
        assert compiled(on_times, loc).apply(clock) == on_times.apply(clock, loc)
    assert compiled(parse_pattern("y"), loc).apply(date(7, 1, 1)) == "7"
