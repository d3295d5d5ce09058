"""Structured logs: one line per event, JSON off a terminal, never a person's data.

Entry points call :func:`configure` once (``pledge serve``, the ASGI factory, ``pledge
worker``); a library user keeps their own logging. It puts one handler on the root logger:

- **format**: JSON lines when stderr is not a terminal (or ``PLEDGE_LOG_FORMAT=json``),
  readable text on a terminal (or ``PLEDGE_LOG_FORMAT=text``); level from
  ``PLEDGE_LOG_LEVEL`` (default ``INFO``);
- **context**: every line carries the fields bound with :func:`bind` in the current
  context (``request_id`` for a web request, ``task`` for a job), kept in a
  :class:`contextvars.ContextVar`, so they follow ``await`` and worker threads (never a
  thread-local);
- **redaction**: :class:`Redact` masks anything that looks like an email address or an
  API key, in the message, its arguments, extra fields and tracebacks. It is a guard: the
  code logs ids, states and counts, never identities.

:func:`activity` logs the start and the end (with duration and counts) of a unit of work:
a job, a sweep. Extra fields are passed as ``extra={"rows": 3}`` and appear as JSON keys.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import IO, Any

__all__ = ["JsonFormatter", "Redact", "TextFormatter", "activity", "bind", "configure", "context",
           "redact", "request_id"]

#: the fields bound to the current context (request id, task id); a new dict on each bind
_CONTEXT: ContextVar[Mapping[str, Any]] = ContextVar("pledge_log_context", default=MappingProxyType({}))

#: an address, also percent-encoded in a URL (``ada%40example.com``)
EMAIL = re.compile(r"[A-Za-z0-9._%+\-']+(?:@|%40)[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+", re.IGNORECASE)
#: ``plk_<prefix>_<secret>``: the prefix may be shown (it names the key), the secret never
API_KEY = re.compile(r"\b(plk_[0-9a-f]+_)[A-Za-z0-9_\-]+")
EMAIL_MASK = "[email]"

#: attributes every LogRecord has; anything else on a record is an extra field
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime",
                                                                               "taskName", "color_message"}


def redact(text: str) -> str:
    """``text`` with email addresses and API key secrets masked."""
    if "@" in text or "%40" in text:
        text = EMAIL.sub(EMAIL_MASK, text)
    if "plk_" in text:
        text = API_KEY.sub(r"\1…", text)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(v) for v in value)
    return value


class Redact(logging.Filter):
    """Masks emails and API keys in a record's message, arguments and extra fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: log what was given
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact(message), None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str | Mapping | list | tuple):
                setattr(record, key, _redact_value(value))
        return True


# -- context --------------------------------------------------------------------------------
def context() -> Mapping[str, Any]:
    """The fields bound in the current context."""
    return _CONTEXT.get()


def request_id() -> str | None:
    """The current web request's id (``X-Request-ID``), if any."""
    value = _CONTEXT.get().get("request_id")
    return str(value) if value is not None else None


@contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every line logged inside the block (in this context only)."""
    token = _CONTEXT.set({**_CONTEXT.get(), **fields})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def _tracing_on() -> bool:
    return os.environ.get("PLEDGE_OTEL", "").strip().lower() in ("1", "true", "yes", "on")


def _trace_ids() -> dict[str, str]:
    """The current OpenTelemetry trace and span ids (pledge.web.tracing), if a span is on."""
    try:
        from opentelemetry import trace
    except ImportError:
        return {}
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return {}
    return {"trace_id": f"{ctx.trace_id:032x}", "span_id": f"{ctx.span_id:016x}"}


# -- formats --------------------------------------------------------------------------------
class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the bound context, extra fields."""

    def __init__(self) -> None:
        super().__init__()
        self.traced = _tracing_on()  # PLEDGE_OTEL: add the current span's ids

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update(_CONTEXT.get())
        if self.traced:
            out.update(_trace_ids())
        out.update(_extras(record))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        return redact(json.dumps(out, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    """``time level logger [request] message key=value …`` for people at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        bound = dict(_CONTEXT.get())
        rid = bound.pop("request_id", None)
        message = record.getMessage()
        fields = {k: v for k, v in {**bound, **_extras(record)}.items() if str(v) not in message}
        line = f"{at} {record.levelname:<7} {record.name}"
        if rid:
            line += f" [{rid}]"
        line += f" {message}"
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line)


#: libraries whose INFO lines would carry personal data or flood the log: SQLAlchemy logs each
#: statement with its parameters (emails), httpx each URL with its query, aiosmtpd (the
#: demo's mail sink, ``mail.log``) each recipient; Alembic says "Context impl" at every look
QUIET_LIBRARIES = ("sqlalchemy", "alembic", "httpx", "httpcore", "mail.log", "multipart", "faker")


def _wants_json(fmt: str, stream: IO[str]) -> bool:
    if fmt == "json":
        return True
    if fmt == "text":
        return False
    isatty = getattr(stream, "isatty", None)
    return not (callable(isatty) and isatty())


def configure(*, level: str | int | None = None, fmt: str | None = None,
              stream: IO[str] | None = None) -> logging.Handler:
    """Put Pledge's handler on the root logger (replacing one put there before).

    ``fmt``: ``json``, ``text`` or ``auto`` (JSON unless ``stream`` is a terminal); default
    ``$PLEDGE_LOG_FORMAT`` or auto. ``level`` default ``$PLEDGE_LOG_LEVEL`` or INFO."""
    out = stream or sys.stderr
    choice = (fmt or os.environ.get("PLEDGE_LOG_FORMAT") or "auto").strip().lower()
    if choice not in ("json", "text", "auto"):
        raise ValueError(f"PLEDGE_LOG_FORMAT={choice!r} is not json, text or auto")
    handler = logging.StreamHandler(out)
    handler.set_name("pledge")
    handler.setFormatter(JsonFormatter() if _wants_json(choice, out) else TextFormatter())
    handler.addFilter(Redact())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "pledge"]:
        root.removeHandler(old)
    root.addHandler(handler)
    wanted = level if level is not None else os.environ.get("PLEDGE_LOG_LEVEL", "INFO")
    root.setLevel(wanted.upper() if isinstance(wanted, str) else wanted)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler


# -- units of work ------------------------------------------------------------------------------
@contextmanager
def activity(logger: logging.Logger, event: str, **fields: Any) -> Iterator[dict[str, Any]]:
    """Log ``event`` started and done (or failed), with its duration; the caller puts its
    counts in the yielded dict, and they are logged with the end."""
    counts: dict[str, Any] = {}
    logger.info("%s started", event, extra={"event": f"{event}.start", **fields})
    started = time.perf_counter()
    try:
        yield counts
    except BaseException as exc:
        logger.warning("%s failed: %s", event, type(exc).__name__,
                       extra={"event": f"{event}.failed", **fields, **counts,
                              "duration_ms": round((time.perf_counter() - started) * 1000, 1)})
        raise
    logger.info("%s done", event, extra={"event": f"{event}.done", **fields, **counts,
                                          "duration_ms": round((time.perf_counter() - started) * 1000, 1)})
