"""The real default pack on the real dev photos: detection, calibrated matching, error codes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge import wiring
from edge.settings import Settings
from models.calibration import Calibration
from models.engine import FaceEngine, cosine
from models.error_rates import pair_scores
from models.errors import DigestMismatch, MultipleFaces, NoFaceFound
from models.imaging import read_image_file
from models.loader import load_engine
from models.manifest import load_packs
from models.store import ModelStore
from models.yunet import YunetDetector

pytestmark = pytest.mark.model

COLOUR_SOURCES = ("deepface-", "facerec-")


def _calibration(settings: Settings, pack_id: str) -> Calibration:
    return Calibration.load(wiring.SHIPPED_CALIBRATIONS / f"{pack_id}.json")


def test_yunet_decoding_matches_opencv_on_real_photos(
    default_engine: FaceEngine, model_dir: Path, dev_labels: dict[str, list[Path]]
) -> None:
    detector = default_engine.detector
    assert isinstance(detector, YunetDetector)
    path = model_dir / "opencv_zoo/face_detection_yunet_2026may.onnx"
    for photos in list(dev_labels.values())[:12]:
        image = cv2.imread(str(photos[0]))
        scale = min(1.0, 640 / max(image.shape[:2]))
        image = cv2.resize(image, None, fx=scale, fy=scale)
        reference = cv2.FaceDetectorYN.create(
            str(path), "", (image.shape[1], image.shape[0]), 0.6, 0.3, 5000
        )
        _, rows = reference.detect(image)
        ours = detector.detect(image)
        assert len(ours) == (0 if rows is None else len(rows))
        if ours:
            x, y, w, h = rows[0][:4]
            assert ours[0].box == pytest.approx((x, y, x + w, y + h), abs=0.5)
            assert ours[0].landmarks.reshape(-1) == pytest.approx(rows[0][4:14], abs=0.5)


def test_same_person_scores_above_and_strangers_below_the_fmr_1e3_threshold(
    default_engine: FaceEngine, real_settings: Settings, dev_labels: dict[str, list[Path]]
) -> None:
    """On the colour photos: every genuine pair matches, no impostor pair does."""
    threshold = _calibration(real_settings, default_engine.pack_id).threshold_for(1e-3)
    labels, templates = [], []
    for identity, photos in dev_labels.items():
        if identity.startswith(COLOUR_SOURCES):
            for photo in photos:
                templates.append(default_engine.analyse(read_image_file(str(photo))).template)
                labels.append(identity)
    genuine, impostor = pair_scores(np.stack(templates), labels)
    assert len(genuine) > 100 and len(impostor) > 800
    assert (genuine >= threshold).mean() >= 0.98
    assert (impostor >= threshold).mean() <= 0.002


def test_templates_are_stable_across_batching_and_unit_length(
    default_engine: FaceEngine, dev_labels: dict[str, list[Path]]
) -> None:
    images = [read_image_file(str(p)) for p in dev_labels["facerec-obama"][:4]]
    batched = default_engine.analyse_many(images)
    single = [default_engine.analyse(image) for image in images]
    for a, b in zip(batched, single, strict=True):
        assert not isinstance(a, Exception)
        assert cosine(a.template, b.template) > 0.9999
        assert np.linalg.norm(a.template) == pytest.approx(1.0, abs=1e-5)


def test_every_stage_is_timed(
    default_engine: FaceEngine, dev_labels: dict[str, list[Path]]
) -> None:
    data = dev_labels["deepface-img8"][0].read_bytes()
    result = default_engine.analyse_bytes(data)
    assert {"decode", "detect", "quality", "align", "embed", "liveness"} <= set(result.timings_ms)


def test_a_blank_wall_has_no_face(default_engine: FaceEngine) -> None:
    with pytest.raises(NoFaceFound):
        default_engine.analyse(np.full((480, 640, 3), 128, dtype=np.uint8))


def test_two_people_side_by_side_are_refused_under_the_single_rule(
    default_engine: FaceEngine, dev_labels: dict[str, list[Path]]
) -> None:
    left = cv2.resize(read_image_file(str(dev_labels["facerec-obama"][0])), (320, 400))
    right = cv2.resize(read_image_file(str(dev_labels["deepface-img8"][0])), (320, 400))
    pair = np.hstack([left, right])
    assert default_engine.analyse(pair).faces_found == 2  # "largest" picks one
    from dataclasses import replace

    strict = FaceEngine(
        default_engine.pack_id,
        default_engine.detector,
        default_engine.embedder,
        None,
        replace(default_engine.options, subject="single"),
    )
    with pytest.raises(MultipleFaces):
        strict.analyse(pair)


def test_grayscale_infrared_like_frames_still_embed(
    default_engine: FaceEngine, dev_labels: dict[str, list[Path]]
) -> None:
    colour = read_image_file(str(dev_labels["facerec-obama"][0]))
    gray = cv2.cvtColor(cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    assert (
        cosine(default_engine.analyse(colour).template, default_engine.analyse(gray).template) > 0.9
    )


def test_a_tampered_model_file_is_refused(
    model_dir: Path, tmp_path: Path, real_settings: Settings
) -> None:
    pack = load_packs()["open-yunet-dlib"]
    fake_dir = tmp_path / "models"
    for file in pack.files:
        if file.conversion is None:
            target = fake_dir / file.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((model_dir / file.path).read_bytes())
    detector = fake_dir / pack.file_for("detector").path
    data = bytearray(detector.read_bytes())
    data[-10] ^= 0xFF
    detector.write_bytes(bytes(data))
    store = ModelStore(fake_dir, real_settings.cache_dir)
    with pytest.raises(DigestMismatch) as caught:
        load_engine(store, pack, wiring.engine_spec(real_settings).runtime)
    assert str(detector) == caught.value.details["path"]
