"""Optional OpenTelemetry tracing of the web app.

Off unless ``PLEDGE_OTEL=1``. Then, when ``opentelemetry-instrumentation-fastapi`` is
installed, every request becomes a span (probes and scrapes excluded), and log lines
carry ``trace_id``/``span_id`` (:mod:`pledge.logs`). Where the spans go is configured the
usual OpenTelemetry way (an SDK and exporter installed, ``OTEL_*`` variables, or
``opentelemetry-instrument pledge serve …``). Without the package it logs one warning and
the app runs untraced: tracing never stops Pledge from starting.
"""

from __future__ import annotations

import logging
import os
from typing import Any

__all__ = ["enabled", "install"]

log = logging.getLogger("pledge.web.tracing")
EXCLUDED = "healthz,readyz,metrics,static"


def enabled(environ: dict[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return env.get("PLEDGE_OTEL", "").strip().lower() in ("1", "true", "yes", "on")


def install(app: Any) -> bool:
    """Instrument ``app`` when tracing is asked for and possible; True when it was."""
    if not enabled():
        return False
    try:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    except ImportError:
        log.warning("PLEDGE_OTEL is set but opentelemetry-instrumentation-fastapi is not installed: "
                    "requests are not traced (pip install opentelemetry-instrumentation-fastapi)")
        return False
    FastAPIInstrumentor.instrument_app(app, excluded_urls=EXCLUDED)
    return True
