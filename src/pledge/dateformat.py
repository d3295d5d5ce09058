"""A babel date pattern applied without babel's per-value work (#19).

``DateTimePattern.apply`` builds a ``DateTimeFormat`` for every value and, field by field,
parses the locale and looks its names up again: about 12 µs per timestamp, and an access
package shows one per timestamp it holds. :func:`compiled` reads a pattern's names from the
locale once and keeps, per field, a function of the value. The fields a date or a time is
written with in practice (year, month, day, the hours, minutes, seconds and the day period)
are computed here as babel computes them; any other field is left to babel's own
``DateTimeFormat``, so the text is always babel's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import time
from typing import Any, Literal

from babel import Locale
from babel.dates import DateTimeFormat, DateTimePattern, get_month_names

__all__ = ["Compiled", "compiled"]

Field = Callable[[Any], str]
_WIDTHS: dict[int, Literal["abbreviated", "wide", "narrow"]] = {3: "abbreviated", 4: "wide", 5: "narrow"}
_HOURS: dict[str, Callable[[int], int]] = {"h": lambda h: h % 12 or 12, "H": lambda h: h,
                                            "K": lambda h: h % 12, "k": lambda h: h or 24}


def _padded(num: int, part: Callable[[Any], int]) -> Field:
    return lambda v: "%0*d" % (num, part(v))  # noqa: UP031 - babel's own formatting


def _field(name: str, locale: Locale) -> Field:
    """What ``DateTimeFormat(value, locale)[name]`` gives, as a function of the value."""
    char, num = name[0], len(name)
    if char == "y":
        full = _padded(num, lambda v: v.year)
        return (lambda v: full(v)[-2:]) if num == 2 else full
    if char in ("M", "L") and num <= 2:
        return _padded(num, lambda v: v.month)
    if char in ("M", "L") and num in _WIDTHS:
        names = get_month_names(_WIDTHS[num], "format" if char == "M" else "stand-alone", locale)
        by_month = {m: str(names[m]) for m in range(1, 13)}
        return lambda v: by_month[v.month]
    if char == "d":
        return _padded(num, lambda v: v.day)
    if char in _HOURS:
        hour = _HOURS[char]
        return _padded(num, lambda v: hour(v.hour))
    if char == "m":
        return _padded(num, lambda v: v.minute)
    if char == "s":
        return _padded(num, lambda v: v.second)
    if char == "a":  # the day period: babel picks it by the hour alone
        am, pm = (DateTimeFormat(time(h), locale).format_period("a", num) for h in (0, 12))
        return lambda v: pm if v.hour >= 12 else am
    return lambda v: DateTimeFormat(v, locale)[name]


@dataclass(frozen=True)
class Compiled:
    """A pattern with its fields ready: :meth:`apply` writes what ``pattern.apply`` writes."""

    format: str
    fields: tuple[tuple[str, Field], ...]

    def apply(self, value: Any) -> str:
        return self.format % {name: field(value) for name, field in self.fields}


def compiled(pattern: DateTimePattern, locale: Locale) -> Compiled:
    text = str(pattern.format)  # babel's %-string: "%(MMM)s %(d)s, %(y)s"
    names = dict.fromkeys(re.findall(r"%\((\w+)\)s", text))
    return Compiled(text, tuple((name, _field(name, locale)) for name in names))
