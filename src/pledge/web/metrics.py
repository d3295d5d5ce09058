"""Prometheus metrics for one web app: ``GET /metrics`` (:mod:`pledge.web.ops`).

Each app owns its :class:`prometheus_client.CollectorRegistry` (never the library's
global one), so apps and tests never see each other's numbers. Series:

=====================================  ======================================================
``pledge_http_requests_total``         requests by method, route template and status
``pledge_http_request_duration_seconds``  their duration, by method and route template
``pledge_decision_latency_seconds``    purpose decisions (``GET /v1/decisions``, single, and
                                       ``POST /v1/decisions/batch``, batch), key check included
``pledge_requests``                    data-subject requests by kind and state (the store)
``pledge_requests_overdue``            open requests past their due date, by kind (the store)
``pledge_sweep_rows_total``            rows retention sweeps removed (the store's audit log)
``pledge_sweeps_total``                sweep runs by outcome, done or paused (the audit log)
``pledge_job_queue_depth``             tasks waiting in the broker's queue (0 in-process)
``pledge_store_up``                    1 when the store answered this scrape's queries
=====================================  ======================================================

The store-derived series are read at scrape time, so every process reports the same.
The request and decision series count what this process served; with several workers
(``pledge serve --workers N``) set ``PROMETHEUS_MULTIPROC_DIR`` to an empty folder (``pledge
serve`` does it for you) and every worker's scrape sums them all (prometheus-client's
multiprocess mode).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pledge.gauges import SweepTally, overdue_by_kind, requests_by_kind_state

if TYPE_CHECKING:
    from pledge.context import Context

__all__ = ["DECISION_ROUTES", "AppMetrics", "StoreCollector"]

log = logging.getLogger("pledge.web.metrics")
#: route template -> the ``endpoint`` label of the decision latency
DECISION_ROUTES = {"/v1/decisions": "single", "/v1/decisions/batch": "batch"}
DECISION_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                    0.5, 1.0, 2.5)
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def multiprocess_dir() -> str | None:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return path if path and os.path.isdir(path) else None


class StoreCollector(Collector):
    """The series read from the store (and the broker) when Prometheus scrapes."""

    def __init__(self, engine: Context) -> None:
        self.engine = engine
        self.sweeps = SweepTally()

    def describe(self) -> Iterable[Metric]:
        return []  # nothing is read when the collector is registered, only at scrapes

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("pledge_store_up", "1 when the store answered this scrape's queries")
        try:
            by_state = requests_by_kind_state(self.engine)
            overdue = overdue_by_kind(self.engine)
            rows, runs = self.sweeps.update(self.engine)
        except Exception as exc:
            log.warning("metrics: the store did not answer (%s)", type(exc).__name__)
            up.add_metric([], 0)
        else:
            up.add_metric([], 1)
            requests = GaugeMetricFamily("pledge_requests", "Data-subject requests by kind and state",
                                         labels=["kind", "state"])
            for (kind, state), n in sorted(by_state.items()):
                requests.add_metric([kind, state], n)
            late = GaugeMetricFamily("pledge_requests_overdue", "Open requests past their due date, by kind",
                                     labels=["kind"])
            for kind, n in sorted(overdue.items()):
                late.add_metric([kind], n)
            swept = CounterMetricFamily("pledge_sweep_rows", "Rows removed by retention sweeps")
            swept.add_metric([], rows)
            sweeps = CounterMetricFamily("pledge_sweeps", "Retention sweep runs by outcome", labels=["status"])
            for status, n in sorted(runs.items()):
                sweeps.add_metric([status], n)
            yield from (requests, late, swept, sweeps)
        yield up
        depth = self._queue_depth()
        if depth is not None:
            yield depth

    def _queue_depth(self) -> GaugeMetricFamily | None:
        family = GaugeMetricFamily("pledge_job_queue_depth", "Tasks waiting for a worker", labels=["queue"])
        url = self.engine.settings.broker_url
        if not url:
            family.add_metric(["in-process"], 0)  # tasks run as they are handed over
            return family
        try:
            from pledge.health import queue_depth
            from pledge.jobs.celery import JobSettings

            queue = JobSettings().jobs_queue
            family.add_metric([queue], queue_depth(url, queue))
        except Exception as exc:
            log.warning("metrics: the broker's queue depth is unknown (%s)", type(exc).__name__)
            return None
        return family


class AppMetrics:
    """The registry of one app and the series its requests feed."""

    def __init__(self, engine: Context) -> None:
        self.registry = CollectorRegistry()
        shared = multiprocess_dir()
        own = None if shared else self.registry  # multiprocess: the files are the registry
        self.http_requests = Counter("pledge_http_requests", "HTTP requests by method, route and status",
                                     ["method", "route", "status"], registry=own)
        self.http_seconds = Histogram("pledge_http_request_duration_seconds", "HTTP request duration",
                                      ["method", "route"], buckets=HTTP_BUCKETS, registry=own)
        self.decision_seconds = Histogram("pledge_decision_latency_seconds",
                                          "Purpose decision latency, the key check included",
                                          ["endpoint"], buckets=DECISION_BUCKETS, registry=own)
        if shared:
            from prometheus_client.multiprocess import MultiProcessCollector

            MultiProcessCollector(self.registry, path=shared)  # type: ignore[no-untyped-call]
        else:
            from prometheus_client import ProcessCollector

            ProcessCollector(registry=self.registry)
        self.registry.register(StoreCollector(engine))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_seconds.labels(method, route).observe(seconds)
        endpoint = DECISION_ROUTES.get(route)
        if endpoint is not None and status < 400:
            self.decision_seconds.labels(endpoint).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
