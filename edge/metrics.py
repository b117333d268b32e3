"""The site's Prometheus metrics: requests and latencies per route (httpkit.metrics), the gate's
decision latency per kind of passage, and figures read from the site database at each scrape
(decisions by passage and result, open alarms, the outbox, sync and what stopped it, readiness).

Every name here is listed in the README's Monitoring section and used by deploy/prometheus
(alert rules) and deploy/grafana (the dashboard); tests/integration/test_monitoring.py scrapes a
running site and checks that each name they use is exported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import Histogram, generate_latest
from prometheus_client.core import Metric

from httpkit.metrics import (
    LATENCY_BUCKETS,
    RequestMetrics,
    Snapshot,
    age_seconds,
    gauge,
    labelled_counter,
    labelled_gauge,
    timestamp,
)
from site_sync import dead_letters, problems

if TYPE_CHECKING:
    import sqlite3

    from edge.site import Site

DECISION_ROUTES = {  # gate routes that decide a passage -> the decision kind they record
    "/v1/gates/{gate_id}/visitor-entry": "visitor_entry",
    "/v1/gates/{gate_id}/visitor-exit": "visitor_exit",
    "/v1/gates/{gate_id}/staff": "staff",
    "/v1/gates/{gate_id}/inmate-movement": "inmate_movement",
}


class Metrics(RequestMetrics):
    """The instruments of one site app."""

    def __init__(self) -> None:
        super().__init__()
        self.decision_latency = Histogram(
            "gerbang_gate_decision_seconds",
            "Time to answer a gate passage (photo in, decision out), by kind",
            ["kind"],
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self.snapshot = Snapshot()
        self.registry.register(self.snapshot)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Record one request; a gate decision also feeds the decision histogram."""
        super().observe(route, method, status, seconds)
        if (kind := DECISION_ROUTES.get(route)) is not None and status < 500:
            self.decision_latency.labels(kind).observe(seconds)


def render_metrics(site: Site) -> str:
    """Read the site's figures and render the registry."""
    metrics: Metrics = site.metrics
    figures: list[Metric] = [
        gauge("gerbang_ready", "1 when models and gallery are loaded", 1 if site.ready else 0),
        gauge("gerbang_model_ready", "1 when the face models are loaded", site.engine_ is not None),
        gauge(
            "gerbang_gallery_templates",
            "Templates in the gallery",
            len(site.gallery_) if site.gallery_ is not None else 0,
        ),
    ]
    with site.db.reading() as tx:
        figures += _database_figures(tx)
    metrics.snapshot.replace(figures)
    return generate_latest(metrics.registry).decode()


def _database_figures(tx: sqlite3.Connection) -> list[Metric]:
    """Decisions, alarms, outbox and sync, as the site database holds them now."""
    decisions = tx.execute(
        "SELECT passage, result, count(*) FROM gate_events GROUP BY passage, result"
    ).fetchall()
    alarms, oldest_alarm = tx.execute(
        "SELECT count(*), min(at) FROM gate_events"
        " WHERE result = 'alarm' AND alarm_cleared_by IS NULL"
    ).fetchone()
    pending, oldest_pending, last_push = tx.execute(
        "SELECT count(*) FILTER (WHERE sent_at IS NULL),"
        " min(created_at) FILTER (WHERE sent_at IS NULL), max(sent_at) FROM outbox"
    ).fetchone()
    return [
        labelled_counter(
            "gerbang_gate_decisions",
            "Gate decisions recorded, by passage and result (admit, deny, alarm)",
            ["passage", "result"],
            [((passage, result), count) for passage, result, count in decisions],
        ),
        gauge("gerbang_alarms_open", "Gate alarms not yet cleared by an officer", alarms),
        gauge(
            "gerbang_alarm_oldest_open_age_seconds",
            "Age of the oldest uncleared gate alarm (0 when none)",
            age_seconds(oldest_alarm),
        ),
        gauge("gerbang_outbox_pending", "Changes waiting to be pushed to the registry", pending),
        gauge(
            "gerbang_outbox_oldest_pending_age_seconds",
            "Age of the oldest change not yet pushed (0 when none)",
            age_seconds(oldest_pending),
        ),
        gauge(
            "gerbang_sync_last_push_timestamp_seconds",
            "When the registry last acknowledged a pushed change (0: never)",
            timestamp(last_push),
        ),
        gauge(
            "gerbang_sync_dead_letters",
            "Changes the registry refused, set aside until an officer retries or drops them",
            dead_letters.open_count(tx),
        ),
        *_stopped_figures(problems.stored(tx)),
    ]


def _stopped_figures(stored: dict[problems.Direction, dict[str, Any] | None]) -> list[Metric]:
    """Whether the registry refuses this site, and how long it has been out of reach."""
    unreachable = max(problems.unreachable_for(p) for p in stored.values())
    return [
        labelled_gauge(
            "gerbang_sync_refused",
            "1 while the registry refuses this site's pushes or pulls (a revoked or unknown key...),"
            " until it accepts one again",
            ["direction"],
            [((direction,), float(problems.is_refusal(p))) for direction, p in stored.items()],
        ),
        gauge(
            "gerbang_sync_registry_unreachable_seconds",
            "How long the site agent has failed to reach the registry (0 while it answers)",
            unreachable.total_seconds(),
        ),
    ]
