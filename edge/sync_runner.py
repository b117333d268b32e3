"""The site agent inside the site service: a background thread started after the Site and stopped
before it closes, so pulled merges, transfers and watchlist entries reach the live gallery.

The agent's retries sleep on the runner's stop event, so shutdown never waits out a backoff; a
push in flight is bounded by the HTTP timeout. Everything the agent needs to resume is in the
database, so stopping at any point loses nothing.
"""

from __future__ import annotations

import logging
import threading

from edge.settings import SyncSettings
from edge.site import Site
from edge.sync_cli import agent_for_site
from site_sync.agent import SiteAgent
from site_sync.site_key import site_key
from site_sync.uplink import Backoff, RegistryClient

log = logging.getLogger(__name__)
HTTP_TIMEOUT_S = 20.0
CRASH_PAUSE_S = 5.0  # after an unexpected error, before the agent runs again


class AgentStopped(Exception):
    """Raised inside the agent's retry sleep once the service is shutting down."""


class SyncRunner:
    """Runs a Site's agent on a daemon thread until `stop()`."""

    def __init__(self, site: Site, settings: SyncSettings) -> None:
        if settings.registry_url is None:
            raise ValueError("SyncRunner needs settings.registry_url")
        self.site, self.settings = site, settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Connect to the registry with the site key and start the agent's thread.

        A missing site key raises SiteKeyMissing here, at start, with the fix.
        """
        key = site_key(self.site.settings)
        url = str(self.settings.registry_url)
        sync = self.site.settings.sync
        registry = RegistryClient.connect(
            url, self.site.settings.site_id, key, HTTP_TIMEOUT_S, sync.registry_ca_file
        )
        agent = agent_for_site(
            self.site,
            registry,
            batch_size=self.settings.batch_size,
            max_batch_bytes=self.settings.max_batch_bytes,
            backoff=Backoff(cap_s=self.settings.max_backoff_seconds),
            sleep=self._sleep,
        )
        self._thread = threading.Thread(
            target=self._run, args=(agent, registry), name="gerbang-sync", daemon=True
        )
        self._thread.start()
        log.info("site agent started: registry %s, every %.1fs", url, self.settings.poll_seconds)

    def stop(self, timeout_s: float = HTTP_TIMEOUT_S + 5) -> None:
        """Ask the agent to stop and wait for its thread (a push in flight finishes or times out)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("the site agent did not stop within %.0fs", timeout_s)

    def _sleep(self, seconds: float) -> None:
        """The agent's backoff sleep, cut short (and the round abandoned) on stop."""
        if self._stop.wait(seconds):
            raise AgentStopped

    def _run(self, agent: SiteAgent, registry: RegistryClient) -> None:
        """Rounds until stopped; an unexpected error is logged and the agent runs again."""
        try:
            while not self._stop.is_set():
                try:
                    agent.run_forever(self.settings.poll_seconds, self._stop)
                except AgentStopped:
                    return
                except Exception:  # a bug must not silently end syncing for the site's lifetime
                    log.exception("the site agent failed; it restarts in %.0fs", CRASH_PAUSE_S)
                    self._stop.wait(CRASH_PAUSE_S)
        finally:
            registry.close()
