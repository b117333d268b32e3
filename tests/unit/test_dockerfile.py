"""The Dockerfile stays true to the repository: every package copied, HTTPS only, the README's serve."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile").read_text()


def test_the_image_copies_every_installed_package() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = {
        name.rstrip("*") for name in config["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    copied = set(re.findall(r"^COPY (\w+) \./\1$", DOCKERFILE, re.M))
    assert packages <= copied, packages - copied


def test_the_image_serves_https_with_a_certificate_made_on_first_start() -> None:
    assert "EDGE_HOST=0.0.0.0" in DOCKERFILE  # a network address: serve refuses it without TLS
    assert "gerbang tls init" in DOCKERFILE
    assert "exec .venv/bin/gerbang serve" in DOCKERFILE
    assert "https://localhost:8080/health" in DOCKERFILE
    assert "gerbang serve" in (REPO / "README.md").read_text()
