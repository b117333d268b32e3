"""`gerbang serve` on a site-only install: no psycopg anywhere, and the site service still starts
and answers /ready (the registry's driver is the optional `registry` extra)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.integration.test_sync_processes import _free_port, _stop, _wait_for
from tests.unit.test_console_without_registry_driver import REPO, WITHOUT_PSYCOPG

pytestmark = [pytest.mark.model, pytest.mark.slow]


def test_the_site_service_starts_without_the_registry_driver(
    model_dir: Path, tmp_path: Path
) -> None:
    port = _free_port()
    env = {**os.environ, "EDGE_MODEL_DIR": str(model_dir), "EDGE_DATA_DIR": str(tmp_path / "site"),
           "EDGE_SITE_ID": "UPT-SITEONLY", "EDGE_LIVENESS": "false"}  # fmt: skip
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", WITHOUT_PSYCOPG, "serve", "--port", str(port)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        ready = f"http://127.0.0.1:{port}/ready"
        try:
            _wait_for(lambda: httpx.get(ready, timeout=2).status_code == 200, ready, 90)
        except AssertionError as exc:
            raise AssertionError(log.read_text()[-3000:]) from exc
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=30).status_code == 200
    finally:
        _stop(process)
    assert "psycopg" not in log.read_text()
