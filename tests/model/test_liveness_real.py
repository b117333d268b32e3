"""The real fused MiniFASNet models on the colour dev portraits and on re-photographed copies.

Measured when written (bench/liveness_dev.py, YuNet boxes): 61/63 deepface + facerec portraits
score live at 0.5; the synthetic re-photographs below average 0.13 against 0.91 for the
originals. A synthetic attack is a regression check, not an APCER: real attacks were not
available.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.liveness_dev import create_yunet, detection_image, dev_images, largest_face
from models.faces import ImageBGR
from models.liveness import LivenessModel, load_liveness_model

pytestmark = pytest.mark.model

COLOUR_PORTRAITS = ("deepface", "facerec")


@pytest.fixture(scope="module")
def liveness(model_dir: Path) -> LivenessModel:
    return load_liveness_model(model_dir)


@pytest.fixture(scope="module")
def detector(model_dir: Path) -> cv2.FaceDetectorYN:
    return create_yunet(model_dir)


@pytest.fixture(scope="module")
def portraits(dev_faces: Path) -> list[ImageBGR]:
    """The colour web portraits, shrunk as the gate pipeline shrinks its frames."""
    images = [
        detection_image(img)[0] for src, img in dev_images(dev_faces) if src in COLOUR_PORTRAITS
    ]
    assert len(images) >= 50
    return images


def rephotograph(image: ImageBGR) -> ImageBGR:
    """The portrait as a printed/screen copy held up to the camera.

    Low resolution (a phone screen or print of a small file), a crossed halftone/pixel grid
    that turns into moiré, washed-out tones with a bluish cast, a dark bezel and the room
    around it, then JPEG again as a camera would.
    """
    height, width = image.shape[:2]
    factor = 160 / max(height, width)
    low = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    pixelated = cv2.resize(low, (width, height), interpolation=cv2.INTER_NEAREST)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle, period = np.deg2rad(30), 3.0
    u, v = xx * np.cos(angle) + yy * np.sin(angle), -xx * np.sin(angle) + yy * np.cos(angle)
    screen = 1 + 0.25 * np.cos(2 * np.pi * u / period) * np.cos(2 * np.pi * v / period)
    shown = pixelated.astype(np.float32) * screen[..., None] * 0.8 + 30
    shown[..., 0] *= 1.08
    side = int(0.12 * max(height, width))
    framed = cv2.copyMakeBorder(
        np.clip(shown, 0, 255).astype(np.uint8),
        *[side // 3] * 4,
        cv2.BORDER_CONSTANT,
        value=(20, 20, 20),
    )
    room = cv2.copyMakeBorder(framed, *[side] * 4, cv2.BORDER_CONSTANT, value=(150, 160, 170))
    _, jpeg = cv2.imencode(".jpg", room, [cv2.IMWRITE_JPEG_QUALITY, 70])
    return cv2.imdecode(jpeg, cv2.IMREAD_COLOR)


def live_scores(
    model: LivenessModel, detector: cv2.FaceDetectorYN, images: list[ImageBGR]
) -> np.ndarray:
    """Fused score of the largest face in each image (NaN when YuNet finds none)."""
    scores = []
    for image in images:
        small, _ = detection_image(image)
        face = largest_face(detector, small)
        scores.append(np.nan if face is None else model.live_score(small, face))
    return np.asarray(scores)


def test_colour_dev_portraits_are_live_at_the_default_threshold(liveness, detector, portraits):
    scores = live_scores(liveness, detector, portraits)
    assert not np.isnan(scores).any()
    assert (scores >= liveness.threshold).mean() >= 0.90


def test_rephotographed_portraits_score_lower_than_the_originals(liveness, detector, portraits):
    originals = live_scores(liveness, detector, portraits)
    attacks = live_scores(liveness, detector, [rephotograph(image) for image in portraits])
    assert np.isnan(attacks).mean() < 0.1  # the copy must still be found as a face
    assert np.nanmean(attacks) < np.nanmean(originals) - 0.3


def test_real_sessions_score_several_faces_one_at_a_time(liveness, detector, portraits):
    image = portraits[0]
    face = largest_face(detector, image)
    assert face is not None
    assert all(not branch.batches for branch in liveness.branches)  # exported with batch 1
    pair = liveness.live_scores(image, [face, face])
    assert pair == pytest.approx([liveness.live_score(image, face)] * 2, abs=1e-6)


@pytest.mark.parametrize("attack", ["print", "screen"])
def test_the_bench_s_bordered_attacks_score_far_below_the_originals(
    liveness, detector, portraits, attack
):
    """bench/presentation_attacks.py as bench/liveness_dev.py --attacks runs it (README table)."""
    from bench.presentation_attacks import ATTACKS

    sample = portraits[::4]
    made = [ATTACKS[attack](img, np.random.default_rng([7, n])) for n, img in enumerate(sample)]
    attacks = live_scores(liveness, detector, made)
    assert np.isnan(attacks).mean() < 0.1
    assert np.nanmean(attacks) < np.nanmean(live_scores(liveness, detector, sample)) - 0.3
