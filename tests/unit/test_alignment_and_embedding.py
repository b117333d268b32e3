"""Alignment recovers known transforms; the embedder batches and normalises on a real session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.aligner import ARCFACE_112, ChipSpec, cut_chip, similarity_transform
from models.embedder import FaceEmbedder
from models.runtime import choose_providers, create_session, physical_cores
from tests.factories import tiny_recogniser


def test_similarity_transform_recovers_a_known_rotation_scale_and_shift() -> None:
    angle, scale, shift = np.deg2rad(17), 2.5, np.array([40.0, -12.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    source = ARCFACE_112.astype(np.float64)
    target = source @ (scale * rotation).T + shift
    matrix = similarity_transform(source, target)
    assert matrix[:, :2] == pytest.approx(scale * rotation, abs=1e-4)
    assert matrix[:, 2] == pytest.approx(shift, abs=1e-3)


def test_similarity_transform_never_mirrors() -> None:
    mirrored = ARCFACE_112.copy()
    mirrored[:, 0] = 112 - mirrored[:, 0]
    matrix = similarity_transform(ARCFACE_112.astype(np.float64), mirrored.astype(np.float64))
    assert np.linalg.det(matrix[:, :2]) > 0


def test_cut_chip_puts_marked_landmarks_on_the_template() -> None:
    spec = ChipSpec(112, ARCFACE_112)
    landmarks = ARCFACE_112 * 3 + np.array([100, 50], dtype=np.float32)
    image = np.zeros((600, 600, 3), dtype=np.uint8)
    x, y = landmarks[0].astype(int)
    image[y - 2 : y + 3, x - 2 : x + 3] = 255  # mark the left eye
    chip = cut_chip(image, landmarks, spec)
    bright = np.argwhere(chip.max(axis=2) > 100).mean(axis=0)[::-1]
    assert bright == pytest.approx(ARCFACE_112[0], abs=1.5)


@pytest.fixture(scope="module")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> FaceEmbedder:
    path = tiny_recogniser(tmp_path_factory.mktemp("onnx") / "tiny.onnx")
    return FaceEmbedder(create_session(path, choose_providers(), 1), "dlib150", max_batch=3)


def test_templates_are_unit_length_and_batching_changes_nothing(embedder: FaceEmbedder) -> None:
    rng = np.random.default_rng(1)
    chips = [rng.integers(0, 255, (150, 150, 3), dtype=np.uint8) for _ in range(7)]
    together = embedder.embed(chips)
    one_by_one = np.concatenate([embedder.embed([c]) for c in chips])
    assert together.shape == (7, 8)
    assert np.linalg.norm(together, axis=1) == pytest.approx(np.ones(7), abs=1e-5)
    assert together == pytest.approx(one_by_one, abs=1e-5)


def test_chips_reach_the_network_as_rgb(embedder: FaceEmbedder) -> None:
    blue_bgr = np.zeros((150, 150, 3), dtype=np.uint8)
    blue_bgr[..., 0] = 255
    red_bgr = blue_bgr[..., ::-1].copy()
    a, b = embedder.embed([blue_bgr, red_bgr])
    assert float(a @ b) < 0.99  # swapping channels must change the template


def test_unknown_recogniser_kind_is_refused(tmp_path: Path) -> None:
    session = create_session(tiny_recogniser(tmp_path / "t.onnx"), ["CPUExecutionProvider"], 1)
    with pytest.raises(ValueError, match="unknown recogniser kind"):
        FaceEmbedder(session, "mystery")


def test_thread_default_is_at_least_one_core() -> None:
    assert physical_cores() >= 1
    assert choose_providers(["NoSuchProvider"])[-1] == "CPUExecutionProvider"
