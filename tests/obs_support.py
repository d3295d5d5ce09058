"""What the observability tests share: Pledge's production logging captured in a test."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pledge import logs

#: loggers that do not propagate to the root under uvicorn's own logging config
UVICORN = ("uvicorn", "uvicorn.access")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class _Raw(logging.Handler):
    """Every record as the code made it: message, extra fields and traceback, unredacted."""

    def __init__(self, into: list[dict[str, Any]]) -> None:
        super().__init__(logging.DEBUG)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        extras = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        text = record.getMessage() + " " + json.dumps(extras, default=str)
        if record.exc_info:
            text += " " + logging.Formatter().formatException(record.exc_info)
        self.into.append({"logger": record.name, "text": text, "extras": extras})


@dataclass
class Captured:
    """The lines an operator would read (JSON), and the raw records behind them."""

    buffer: io.StringIO
    raw: list[dict[str, Any]] = field(default_factory=list)

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.buffer.getvalue().splitlines() if line.strip()]

    def text(self) -> str:
        return self.buffer.getvalue() + "\n" + "\n".join(r["text"] for r in self.raw)


@contextmanager
def captured_logs(level: str = "INFO") -> Iterator[Captured]:
    """Configure logging as ``pledge serve`` does (JSON), into a buffer; restore it after.

    The raw handler runs before Pledge's own, whose redaction rewrites records in place, so
    the raw records show what the code itself logged."""
    root = logging.getLogger()
    touched = [root, *(logging.getLogger(n) for n in (*UVICORN, "pledge", *logs.QUIET_LIBRARIES))]
    saved = [(lg, lg.level, list(lg.handlers)) for lg in touched]
    cap = Captured(io.StringIO())
    handler = logs.configure(fmt="json", stream=cap.buffer, level=level)
    raw = _Raw(cap.raw)
    root.handlers.insert(0, raw)
    logging.getLogger("pledge").setLevel(logging.DEBUG)  # Pledge's own debug lines count too
    for name in UVICORN:
        logging.getLogger(name).handlers[:0] = [raw, handler]
    try:
        yield cap
    finally:
        for lg, lvl, handlers in saved:
            lg.setLevel(lvl)
            lg.handlers[:] = handlers
