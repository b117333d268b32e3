"""Face quality on synthetic images: every refusal reason fires when it should, and only then."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest

from models.faces import DetectedFace
from models.quality import (
    FRONTAL_NOSE_HEIGHT,
    REASONS,
    QualityThresholds,
    assess_quality,
    estimate_pose,
    measure_quality,
)

EYE_Y, MOUTH_Y = 170.0, 250.0
FRONTAL = np.array(
    [
        [160.0, EYE_Y],
        [240.0, EYE_Y],
        [200.0, EYE_Y + FRONTAL_NOSE_HEIGHT * (MOUTH_Y - EYE_Y)],
        [170.0, MOUTH_Y],
        [230.0, MOUTH_Y],
    ],
    dtype=np.float32,
)
BOX = (100.0, 80.0, 300.0, 320.0)


def portrait(seed: int = 0) -> np.ndarray:
    """A 400x400 'face': mid-grey textured skin with dark eyes and mouth, plenty of detail."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 40, (400, 400)).astype(np.float32)
    grey = np.clip(128 + cv2.GaussianBlur(noise, (0, 0), 0.8) * 2.2, 0, 255).astype(np.uint8)
    image = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    for x, y in FRONTAL[:2]:
        cv2.circle(image, (int(x), int(y)), 12, (30, 30, 30), -1)
    cv2.line(image, (170, 250), (230, 250), (40, 40, 90), 6)
    return image


def face(landmarks: np.ndarray = FRONTAL, box=BOX, score: float = 0.92) -> DetectedFace:
    return DetectedFace(box, np.asarray(landmarks, dtype=np.float32), score)


def codes(image: np.ndarray, detected: DetectedFace) -> list[str]:
    return [reason.code for reason in assess_quality(image, detected).reasons]


def rotated(points: np.ndarray, degrees: float) -> np.ndarray:
    """Landmarks turned in the image plane about the eye midpoint (positive = clockwise)."""
    centre = (points[0] + points[1]) / 2
    angle = math.radians(degrees)
    turn = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return ((points - centre) @ turn.T + centre).astype(np.float32)


def with_nose(dx: float = 0.0, height: float = FRONTAL_NOSE_HEIGHT) -> np.ndarray:
    points = FRONTAL.copy()
    points[2] = (200.0 + dx, EYE_Y + height * (MOUTH_Y - EYE_Y))
    return points


def test_a_sharp_frontal_well_lit_face_is_accepted_with_no_reasons():
    report = assess_quality(portrait(), face())
    assert report.accepted, report.as_dict()
    assert report.reasons == []
    assert 0.5 <= report.score <= 1.0


def test_frontal_landmarks_measure_near_zero_pose():
    yaw, pitch, roll = estimate_pose(FRONTAL)
    assert abs(yaw) < 0.5 and abs(pitch) < 0.5 and abs(roll) < 0.5


def test_blurred_copy_has_lower_sharpness_and_is_refused_as_blurred():
    sharp = portrait()
    blurred = cv2.GaussianBlur(sharp, (0, 0), 4)
    sharp_report, blurred_report = assess_quality(sharp, face()), assess_quality(blurred, face())
    assert blurred_report.measures.sharpness < sharp_report.measures.sharpness / 4
    assert "blurred" in codes(blurred, face())
    assert "blurred" not in codes(sharp, face())
    assert blurred_report.score < sharp_report.score


def test_sharpness_does_not_depend_on_resolution():
    image = portrait()
    double = cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    small = measure_quality(image, face()).sharpness
    large = measure_quality(double, face().scaled(2.0)).sharpness
    assert large == pytest.approx(small, rel=0.25)


def test_dark_face_is_too_dark_and_not_too_bright():
    dark = (portrait() * 0.25).astype(np.uint8)
    found = codes(dark, face())
    assert "too_dark" in found
    assert "too_bright" not in found


def test_bright_face_is_too_bright_and_not_too_dark():
    bright = np.clip(portrait() * 0.3 + 190, 0, 255).astype(np.uint8)
    found = codes(bright, face())
    assert "too_bright" in found
    assert "too_dark" not in found


def test_washed_out_face_has_low_contrast_but_normal_brightness():
    flat = ((portrait().astype(np.float32) - 128) * 0.15 + 128).astype(np.uint8)
    found = codes(flat, face())
    assert "low_contrast" in found
    assert not {"too_dark", "too_bright"} & set(found)
    assert "low_contrast" not in codes(portrait(), face())


def test_small_face_is_refused_as_too_small():
    far = face().scaled(0.4)
    report = assess_quality(portrait(), far)
    assert report.measures.inter_eye_px == pytest.approx(32.0)
    assert "too_small" in [r.code for r in report.reasons]
    assert "too_small" not in codes(portrait(), face())


def test_rotated_landmarks_give_head_tilted_with_the_rotation_as_roll():
    tilted = rotated(FRONTAL, 30)
    yaw, pitch, roll = estimate_pose(tilted)
    assert roll == pytest.approx(30.0, abs=0.1)
    assert abs(yaw) < 0.5 and abs(pitch) < 0.5  # roll is taken out before yaw and pitch
    assert codes(portrait(), face(tilted)) == ["head_tilted"]
    assert "head_tilted" not in codes(portrait(), face(rotated(FRONTAL, 10)))


@pytest.mark.parametrize("dx", [-20.0, -5.0, 5.0, 20.0])
def test_yaw_sign_follows_the_nose_offset(dx: float):
    yaw, _, _ = estimate_pose(with_nose(dx=dx))
    assert math.copysign(1.0, yaw) == math.copysign(1.0, dx)
    assert abs(yaw) == pytest.approx(math.degrees(math.atan(abs(dx) / 80 / 0.45)), abs=0.1)


def test_nose_far_off_centre_is_turned_sideways():
    assert "turned_sideways" in codes(portrait(), face(with_nose(dx=30.0)))
    assert "turned_sideways" in codes(portrait(), face(with_nose(dx=-30.0)))
    assert "turned_sideways" not in codes(portrait(), face(with_nose(dx=8.0)))


def test_nose_near_the_eye_line_is_chin_up_and_tilted_up_down():
    _, pitch_up, _ = estimate_pose(with_nose(height=0.35))
    _, pitch_down, _ = estimate_pose(with_nose(height=0.75))
    assert pitch_up > 20 and pitch_down < -20
    assert "head_tilted_up_down" in codes(portrait(), face(with_nose(height=0.35)))
    assert "head_tilted_up_down" not in codes(portrait(), face(with_nose(height=0.6)))


def test_box_half_outside_the_frame_is_partly_outside():
    shifted = face().scaled(1.0, dx=-200.0)  # box x from -100 to 100: half outside
    report = assess_quality(portrait(), shifted)
    assert report.measures.inside_fraction == pytest.approx(0.5)
    assert "partly_outside" in [r.code for r in report.reasons]


def test_box_entirely_outside_measures_zero_without_crashing():
    gone = face().scaled(1.0, dx=1000.0)
    report = assess_quality(portrait(), gone)
    assert report.measures.inside_fraction == 0.0
    assert report.measures.sharpness == 0.0
    assert not report.accepted


def test_low_detector_score_is_reported():
    assert "low_detector_score" in codes(portrait(), face(score=0.4))
    assert "low_detector_score" not in codes(portrait(), face(score=0.9))


def test_thresholds_are_honoured():
    strict = QualityThresholds(min_inter_eye_px=100.0)
    report = assess_quality(portrait(), face(), strict)
    assert [r.code for r in report.reasons] == ["too_small"]


def test_score_ranks_a_good_capture_above_a_worse_one():
    good = assess_quality(portrait(), face()).score
    turned = assess_quality(portrait(), face(with_nose(dx=30.0))).score
    small = assess_quality(portrait(), face().scaled(0.4)).score
    assert 0.0 <= min(turned, small) < good <= 1.0


def test_every_reason_has_a_stable_code_and_both_languages():
    expected = {
        "too_small",
        "blurred",
        "too_dark",
        "too_bright",
        "low_contrast",
        "turned_sideways",
        "head_tilted_up_down",
        "head_tilted",
        "partly_outside",
        "low_detector_score",
    }
    assert set(REASONS) == expected
    for code, reason in REASONS.items():
        assert reason.code == code
        assert reason.message.id and reason.message.en
        assert reason.message.id != reason.message.en
    assert REASONS["too_small"].message.en == "Move closer to the camera."


def test_report_as_dict_is_json_friendly():
    report = assess_quality(cv2.GaussianBlur(portrait(), (0, 0), 4), face(score=0.4))
    payload = json.loads(json.dumps(report.as_dict()))
    assert payload["accepted"] is False
    assert {"low_detector_score", "blurred"} <= {r["code"] for r in payload["reasons"]}
    assert set(payload["measures"]) >= {"sharpness", "yaw", "pitch", "roll", "inter_eye_px"}
    assert all({"code", "id", "en"} == set(r) for r in payload["reasons"])
