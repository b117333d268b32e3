"""The container image copies every package pyproject.toml installs.

The house plan added packages (kernel, site_sync, httpkit, console) that the Dockerfile did not
copy, so the image's `pip install -e .` gave a `gerbang` that failed on import. That every package
is installed at all is tests/unit/test_import_rules.py's check."""

from __future__ import annotations

import tomllib

from tests.conftest import REPO


def test_the_image_copies_every_installed_package() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["packages"]["find"]["include"]
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    for package in (p.removesuffix("*") for p in patterns):
        assert f"COPY {package} ./{package}" in dockerfile, package
