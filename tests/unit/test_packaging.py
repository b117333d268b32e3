"""Every top-level package is installed, and the container image copies each one.

The house plan added packages (site_sync, kernel, ...) that pyproject.toml's list and the
Dockerfile did not name: `pip install -e .` then gave a `gerbang` that failed on import."""

from __future__ import annotations

import tomllib

from tests.conftest import REPO


def _installed() -> list[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["packages"]["find"]["include"]
    return [p.removesuffix("*") for p in patterns]


def test_every_package_with_an_init_is_installed() -> None:
    packages = {p.parent.name for p in REPO.glob("*/__init__.py")} - {"tests", "bench"}
    assert packages <= set(_installed()), packages - set(_installed())


def test_the_image_copies_every_installed_package() -> None:
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    for package in _installed():
        assert f"COPY {package} ./{package}" in dockerfile, package
