"""Prometheus instruments every Gerbang app shares: request counts and latencies per route
template, and the middleware that records them. Each app owns its own `CollectorRegistry`, so
several apps in one process (tests) never collide. The site's and the registry's own figures
are read from their databases at scrape time (edge/metrics.py, registry/metrics.py); every
metric is listed in the README's Monitoring section.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class RequestMetrics:
    """An app's registry with its request counter and latency histogram."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gerbang_requests_total",
            "HTTP requests",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "gerbang_request_seconds", "HTTP request latency", ["route"], registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )  # fmt: skip

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Record one answered request."""
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)


class MetricsMiddleware(BaseHTTPMiddleware):
    """Count and time every request by its route template (not its raw path, which holds ids)."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", "unmatched")
        metrics: RequestMetrics = request.app.state.metrics
        metrics.observe(name, request.method, response.status_code, time.perf_counter() - start)
        return response


class Snapshot(Collector):
    """Figures read at scrape time, handed over whole: gauges and counters with labels."""

    def __init__(self) -> None:
        self._metrics: list[Metric] = []

    def replace(self, metrics: Sequence[Metric]) -> None:
        """The families the next collect yields (read from the database by the caller)."""
        self._metrics = list(metrics)

    def collect(self) -> Iterator[Metric]:
        yield from self._metrics


def gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    """One unlabelled gauge."""
    return GaugeMetricFamily(name, help_text, value=value)


def labelled_gauge(
    name: str, help_text: str, labels: Sequence[str], rows: Sequence[tuple[Sequence[str], float]]
) -> GaugeMetricFamily:
    """A gauge with one sample per label tuple."""
    family = GaugeMetricFamily(name, help_text, labels=list(labels))
    for values, value in rows:
        family.add_metric(list(values), value)
    return family


def labelled_counter(
    name: str, help_text: str, labels: Sequence[str], rows: Sequence[tuple[Sequence[str], float]]
) -> CounterMetricFamily:
    """A counter (exposed as NAME_total) with one sample per label tuple: totals the database
    keeps, so they survive restarts and never go down."""
    family = CounterMetricFamily(name, help_text, labels=list(labels))
    for values, value in rows:
        family.add_metric(list(values), value)
    return family


def age_seconds(stamp: str | datetime | None, now: datetime | None = None) -> float:
    """Seconds since an ISO-8601 time (or datetime); 0 when there is none."""
    if stamp is None:
        return 0.0
    moment = datetime.fromisoformat(stamp) if isinstance(stamp, str) else stamp
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, ((now or datetime.now(UTC)) - moment).total_seconds())


def timestamp(stamp: str | datetime | None) -> float:
    """Seconds since the epoch of an ISO-8601 time (or datetime); 0 when there is none."""
    if stamp is None:
        return 0.0
    moment = datetime.fromisoformat(stamp) if isinstance(stamp, str) else stamp
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
