"""Shared fixtures: where the real models and photos live, and how to skip (or fail in CI) without them."""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as console/main.py does, before NumPy loads
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("GERBANG_SHARED_DIR", REPO.parent / "shared"))


def _require(path: Path, what: str) -> Path:
    """Return path, or skip locally / fail under CI=true when the shared material is missing."""
    if path.exists():
        return path
    message = f"{what} not found at {path}"
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(message)
    pytest.skip(message)
    return path  # unreachable; keeps type checkers calm


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The folder with the shared ONNX detectors and anti-spoof models (EDGE_MODEL_DIR)."""
    return _require(Path(os.environ.get("EDGE_MODEL_DIR", SHARED / "models")), "model directory")


@pytest.fixture(scope="session")
def dev_faces() -> Path:
    """The labelled dev photo set: dev/<identity>/<n>.jpg plus labels.csv."""
    default = SHARED / "data" / "faces" / "dev"
    return _require(Path(os.environ.get("GERBANG_DEV_FACES", default)), "dev face photos")


@pytest.fixture(scope="session")
def fingerprints() -> Path:
    """The FVC2002 B sets: fvc2002-db1_b/ and fvc2002-db3_b/ with FFF_I.tif images."""
    default = SHARED / "data" / "fingerprints"
    return _require(Path(os.environ.get("GERBANG_FINGERPRINTS", default)), "fingerprint images")


@pytest.fixture(scope="session")
def nbis_library() -> Path:
    """The NBIS shared library built by scripts/build_nbis.sh (or GERBANG_NBIS_LIB)."""
    from models.fingerprint.nbis import library_path

    return _require(library_path(), "NBIS library (run: bash scripts/build_nbis.sh)")
