"""One background job at a time: the calibrations refitted off the decision path (the face's
open-set thresholds, the site's and the registry's finger tails) each run in such a worker."""

from __future__ import annotations

import threading
from collections.abc import Callable


class SingleWorker:
    """At most one daemon thread running a job; asking while one runs is a no-op."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.runs = 0  # jobs started, for checks and tests
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self, job: Callable[[], None]) -> bool:
        """Run `job` in a new thread unless one is still running; whether it was started."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return False
            self._thread = threading.Thread(target=job, name=self.name, daemon=True)
            self._thread.start()
            self.runs += 1
            return True

    def wait(self, timeout: float | None = None) -> None:
        """Until the job under way, if any, has finished (or `timeout` seconds)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
