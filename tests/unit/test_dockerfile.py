"""The Dockerfile serves HTTPS only, with the README's serve (tests/unit/test_packaging.py checks its packages)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile").read_text()


def test_the_image_serves_https_with_a_certificate_made_on_first_start() -> None:
    assert "EDGE_HOST=0.0.0.0" in DOCKERFILE  # a network address: serve refuses it without TLS
    assert "gerbang tls init" in DOCKERFILE
    assert "exec .venv/bin/gerbang serve" in DOCKERFILE
    assert "https://localhost:8080/health" in DOCKERFILE
    assert "gerbang serve" in (REPO / "README.md").read_text()
