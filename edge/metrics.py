"""Prometheus metrics: request counts and latencies per route, plus the site's gauges.

Each app gets its own registry, so several apps in one process (tests) never collide.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response

from site_sync import dead_letters

if TYPE_CHECKING:
    from edge.site import Site


class Metrics:
    """The instruments of one app."""

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
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )  # fmt: skip
        self.gallery = Gauge(
            "gerbang_gallery_templates", "Templates in the gallery", registry=self.registry
        )
        self.dead_letters = Gauge(
            "gerbang_sync_dead_letters",
            "Changes the registry refused, set aside until an officer retries or drops them",
            registry=self.registry,
        )
        self.ready = Gauge(
            "gerbang_ready", "1 when models and gallery are loaded", registry=self.registry
        )


class MetricsMiddleware(BaseHTTPMiddleware):
    """Count and time every request by its route template (not its raw path, which holds ids)."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", "unmatched")
        metrics: Metrics = request.app.state.metrics
        metrics.requests.labels(name, request.method, str(response.status_code)).inc()
        metrics.latency.labels(name).observe(time.perf_counter() - start)
        return response


def render_metrics(site: Site) -> str:
    """Refresh the gauges and render the registry."""
    metrics: Metrics = site.metrics
    metrics.ready.set(1 if site.ready else 0)
    metrics.gallery.set(len(site.gallery_) if site.gallery_ is not None else 0)
    with site.db.reading() as tx:
        metrics.dead_letters.set(dead_letters.open_count(tx))
    return generate_latest(metrics.registry).decode()
