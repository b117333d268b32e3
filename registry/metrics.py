"""The registry's Prometheus metrics: requests and latencies per route (httpkit.metrics), and
figures read from its database and this replica's index at each scrape: last contact per site,
open duplicate cases, templates waiting for the duplicate search, and how far this replica's
national index trails the gallery feed.

Every name is listed in the README's Monitoring section; deploy/prometheus and deploy/grafana
use them, and tests/integration/test_monitoring.py checks each one they use is exported.
A site that never made contact has last contact 0 (the Unix epoch): it reads as silent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import generate_latest

from httpkit.metrics import RequestMetrics, Snapshot, gauge, labelled_gauge, timestamp
from registry import gallery_feed

if TYPE_CHECKING:
    from registry.service import RegistryService


class RegistryMetrics(RequestMetrics):
    """The instruments of one registry process."""

    def __init__(self) -> None:
        super().__init__()
        self.snapshot = Snapshot()
        self.registry.register(self.snapshot)


def render_registry_metrics(service: RegistryService, metrics: RegistryMetrics) -> str:
    """Read the registry's figures and render them."""
    with service.db.transaction() as tx:
        sites = tx.execute("SELECT id, region, last_contact FROM sites ORDER BY id").fetchall()
        cases = tx.execute("SELECT count(*) AS n FROM duplicate_cases WHERE state = 'open'")
        unsearched = tx.execute(
            "SELECT count(*) AS n FROM national_templates WHERE searched_at IS NULL"
        )
        open_cases, waiting = cases.fetchone()["n"], unsearched.fetchone()["n"]
        head = gallery_feed.head(tx)
    metrics.snapshot.replace([
        labelled_gauge(
            "gerbang_registry_site_last_contact_timestamp_seconds",
            "When each site last pushed or pulled (0: never)",
            ["site_id", "region"],
            [((s["id"], s["region"]), timestamp(s["last_contact"])) for s in sites],
        ),
        gauge("gerbang_registry_sites", "Sites registered", len(sites)),
        gauge("gerbang_registry_cases_open", "Duplicate cases waiting for an officer", open_cases),
        gauge(
            "gerbang_registry_templates_unsearched",
            "Templates committed but not yet searched against the national gallery",
            waiting,
        ),
        gauge(
            "gerbang_registry_gallery_templates",
            "Templates in this replica's national index",
            len(service.gallery.index),
        ),
        gauge(
            "gerbang_registry_feed_lag",
            "Gallery feed rows committed that this replica's index has not applied yet",
            max(0, head - service.follower.cursor),
        ),
        gauge(
            "gerbang_registry_ready",
            "1 when this replica's national index matches the database (not being rebuilt)",
            0 if service.follower.stale else 1,
        ),
    ])  # fmt: skip
    return generate_latest(metrics.registry).decode()
