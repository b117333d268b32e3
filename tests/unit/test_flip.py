"""Flip test-time augmentation (models/embedder.py) and the pack that carries it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.calibration import SHIPPED_CALIBRATIONS, Calibration
from models.embedder import FaceEmbedder, l2_normalise
from models.manifest import load_packs
from models.openset import OpenSetCalibration
from models.runtime import create_session
from tests.factories import dense_recogniser


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> object:
    path = dense_recogniser(tmp_path_factory.mktemp("flip") / "dense.onnx")
    return create_session(path, ["CPUExecutionProvider"], 1)


def chips(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.integers(0, 256, (112, 112, 3), dtype=np.uint8) for _ in range(count)]


def test_flip_averages_a_chip_and_its_mirror(session: object) -> None:
    plain = FaceEmbedder(session, "arcface112")  # type: ignore[arg-type]
    flip = FaceEmbedder(session, "arcface112", flip=True)  # type: ignore[arg-type]
    faces = chips(5)
    mirrored = [np.ascontiguousarray(c[:, ::-1]) for c in faces]
    want = l2_normalise(plain.embed(faces) + plain.embed(mirrored))
    got = flip.embed(faces)
    assert np.allclose(got, want, atol=1e-5)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    # the network tells a face from its mirror, so flip changes the template...
    assert np.max(np.abs(got - plain.embed(faces))) > 0.05
    # ...and the flip template is the same for a face and its mirror image
    assert np.allclose(flip.embed(mirrored), got, atol=1e-5)


def test_flip_batches_beyond_the_session_batch(session: object) -> None:
    flip = FaceEmbedder(session, "arcface112", max_batch=3, flip=True)  # type: ignore[arg-type]
    faces = chips(7)
    one_by_one = np.concatenate([flip.embed([c]) for c in faces])
    assert np.allclose(flip.embed(faces), one_by_one, atol=1e-5)


def test_the_flip_pack_is_its_own_template_version(tmp_path: Path) -> None:
    packs = load_packs()
    plain, flip = packs["open-yunet-dlib"], packs["open-yunet-dlib-flip"]
    assert flip.flip and not plain.flip
    assert flip.files == plain.files  # the same model files, different templates
    # calibrated on its own templates: 1:1 FMR points and the open-set fallback
    fmr = Calibration.load(SHIPPED_CALIBRATIONS / "open-yunet-dlib-flip.json")
    assert fmr.recogniser_id == "open-yunet-dlib-flip"
    fallback = OpenSetCalibration.load(SHIPPED_CALIBRATIONS / "open-yunet-dlib-flip.openset.json")
    assert "flip" in fallback.dataset and fallback.people > 100
    # a site's own manifest can ask for flip too
    (tmp_path / "packs").mkdir()
    document = {"packs": [{"id": "mine-flip", "description": "d", "licence_summary": "l",
                           "embedding_dim": 128, "flip": True, "files": ["yunet_2026may",
                                                                          "dlib_resnet_v1"]}]}  # fmt: skip
    (tmp_path / "packs" / "mine.json").write_text(json.dumps(document))
    assert load_packs(tmp_path)["mine-flip"].flip
