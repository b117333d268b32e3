"""Real engines built once per session from the shared models (converted dlib ResNet included)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from edge import wiring
from edge.settings import Settings
from models.engine import FaceEngine
from models.obtain import ensure_converted


@pytest.fixture(scope="session")
def real_settings(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings on the shared models, with a throwaway data dir for the converted recogniser."""
    return Settings(model_dir=model_dir, data_dir=tmp_path_factory.mktemp("gerbang-data"))


@pytest.fixture(scope="session")
def engine_for(real_settings: Settings):  # type: ignore[no-untyped-def]
    """Build (once) the engine of a pack by id."""
    cache: dict[str, FaceEngine] = {}

    def build(pack_id: str) -> FaceEngine:
        if pack_id not in cache:
            spec = wiring.engine_spec(real_settings, pack_id)
            ensure_converted(spec.store, spec.pack)
            cache[pack_id] = spec.build()
        return cache[pack_id]

    return build


@pytest.fixture(scope="session")
def default_engine(engine_for) -> FaceEngine:  # type: ignore[no-untyped-def]
    return engine_for("open-yunet-dlib")


@pytest.fixture(scope="session")
def dev_labels(dev_faces: Path) -> dict[str, list[Path]]:
    """identity → its photos, from labels.csv."""
    groups: dict[str, list[Path]] = {}
    with (dev_faces / "labels.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            groups.setdefault(row["identity"], []).append(dev_faces / row["relative_path"])
    return groups
