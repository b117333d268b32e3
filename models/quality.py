"""Face quality an officer can act on: measures, reasons with bilingual hints, a ranking score.

Everything here is a pure function of one image (BGR uint8; the caller turns greyscale into three
channels) and one `DetectedFace`, so enrolment and the gate share it and tests need no models.

Pose comes from the 5 landmarks only, with a weak-perspective head model. It is an approximation
(no ground-truth pose was available; expressions, beards and landmark noise move it by several
degrees), which is enough for a "look straight at the camera" prompt, not for measurement:
- roll: angle of the eye line.
- yaw: in the roll-corrected frame the nose tip sits `d` in front of the eyes, so turning by
  yaw moves it sideways by d*sin(yaw) while the eye distance E shrinks to E*cos(yaw):
  offset / observed_eye_distance = (d/E) * tan(yaw). Anthropometry (and the 3-D generic face
  used by OpenCV head-pose demos) gives d/E ~ 0.45.
- pitch: the nose tip's height between the eye line (0) and the mouth line (1) is 0.56 on the
  median frontal dev portrait with YuNet and SCRFD landmarks alike (the ArcFace template says
  0.495, but it is a mean of aligned crops, not a landmark detector's output); tilting by pitch
  moves it by (d/M) * tan(pitch), with M the eye-to-mouth height, measured M ~ 1.0 E, so
  M/d ~ 2.2. Web portraits are often shot from slightly above; a site camera mounted higher or
  lower than eye level shifts pitch by its own angle.
Signs: roll > 0 when the image-right eye is lower; yaw > 0 when the nose points to image right;
pitch > 0 when the chin is up (the nose rises towards the eye line).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np

from kernel.errors import Message
from models.faces import DetectedFace, FloatArray, ImageBGR

NOSE_DEPTH_PER_EYE_DISTANCE = 0.45
FRONTAL_NOSE_HEIGHT = 0.56
EYE_MOUTH_HEIGHT_PER_NOSE_DEPTH = 2.2
# Recognisers see 112-150 px aligned crops, so sharpness is judged at 112 px: the same face
# scores the same from a 720p gate camera and a 12 MP enrolment camera.
SHARPNESS_SIZE = 112


@dataclass(frozen=True)
class QualityThresholds:
    """Acceptance limits; the defaults suit a gate or enrolment camera at 0.5-2 m."""

    # YuNet scored every dev face 0.87-0.95; well below that it is usually a mask, hand or
    # shadow over part of the face, and the landmarks (hence alignment) become unreliable.
    min_detector_score: float = 0.7
    # The ArcFace 112x112 template puts the eyes 35 px apart: at >= 40 px the aligned crop is
    # downsampled, so it holds real detail instead of interpolated pixels. Passport-grade
    # capture (ISO/IEC 19794-5 full frontal) asks 90 px: raise this for enrolment if the camera
    # allows. ORL's 92x112 scans (~33 px) fail it, as they should.
    min_inter_eye_px: float = 40.0
    # Variance of the Laplacian at 112x112. On the dev photos (YuNet boxes) no colour face is
    # under 50 and 2 % of ORL (92x112 scans, upsampled here) are; a Gaussian blur of sigma
    # 1.5 / 2 px at that scale pushes 75 % / 98 % of the colour faces under it.
    min_sharpness: float = 50.0
    # Mean face luma: below 60 sensor noise and 8-bit steps eat the detail; above 200 skin clips.
    min_brightness: float = 60.0
    max_brightness: float = 200.0
    # Std of face luma: dev faces span 24-77 grey levels; a fogged lens or haze falls below 20.
    min_contrast: float = 20.0
    # A design choice, not measured here (no recogniser was available to test): past these
    # angles the far eye and cheek foreshorten and 5-point alignment distorts the crop. Pitch
    # is the less certain estimate and the camera's mounting height biases it, hence 20.
    max_abs_yaw: float = 25.0
    max_abs_pitch: float = 20.0
    # Alignment undoes roll, but a tilted head usually comes with yaw/pitch and cut-off crops.
    max_abs_roll: float = 20.0
    # A face cut by the frame edge loses landmarks and the liveness window's context.
    min_inside_fraction: float = 0.95


@dataclass(frozen=True)
class QualityMeasures:
    """What was measured on one face."""

    detector_score: float
    inter_eye_px: float
    sharpness: float
    brightness: float
    contrast: float
    yaw: float
    pitch: float
    roll: float
    inside_fraction: float


@dataclass(frozen=True)
class QualityReason:
    """Why a capture was refused: a stable code and what to do about it."""

    code: str
    message: Message

    def as_dict(self) -> dict[str, str]:
        """Flat strings, the shape `LowQualityFace.with_reasons` takes."""
        return {"code": self.code, "id": self.message.id, "en": self.message.en}


@dataclass(frozen=True)
class QualityReport:
    """Measures, verdict, reasons and a [0, 1] score for ranking captures."""

    measures: QualityMeasures
    accepted: bool
    reasons: list[QualityReason] = field(default_factory=list)
    score: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form for API responses and logs."""
        return {
            "accepted": self.accepted,
            "score": round(self.score, 4),
            "measures": {k: round(v, 3) for k, v in asdict(self.measures).items()},
            "reasons": [reason.as_dict() for reason in self.reasons],
        }


# (code, Indonesian, English): what the officer reads out or the kiosk shows, in check order.
HINTS = (
    (
        "low_detector_score",
        "Wajah kurang terlihat. Lepaskan masker, topi atau kacamata gelap.",
        "The face is not clearly visible. Remove any mask, cap or dark glasses.",
    ),
    ("too_small", "Mendekat ke kamera.", "Move closer to the camera."),
    (
        "partly_outside",
        "Geser agar seluruh wajah berada di tengah layar.",
        "Move so that your whole face is in the middle of the frame.",
    ),
    ("turned_sideways", "Hadap lurus ke kamera.", "Look straight at the camera."),
    (
        "head_tilted_up_down",
        "Jangan menunduk atau mendongak. Pandang lurus ke kamera.",
        "Do not look down or up. Look straight into the camera.",
    ),
    (
        "head_tilted",
        "Tegakkan kepala, jangan dimiringkan.",
        "Hold your head upright, do not tilt it to the side.",
    ),
    (
        "too_dark",
        "Wajah terlalu gelap. Tambah penerangan atau hadap ke arah cahaya.",
        "The face is too dark. Add light or turn towards the light.",
    ),
    (
        "too_bright",
        "Wajah terlalu terang. Hindari sinar matahari langsung atau lampu kilat.",
        "The face is too bright. Avoid direct sunlight or flash.",
    ),
    (
        "low_contrast",
        "Wajah kurang jelas. Hindari cahaya dari belakang dan bersihkan lensa kamera.",
        "The face looks washed out. Avoid light from behind and clean the camera lens.",
    ),
    (
        "blurred",
        "Foto buram. Diam sebentar saat difoto dan pastikan lensa bersih.",
        "The photo is blurred. Hold still for the capture and check the lens is clean.",
    ),
)
REASONS = {code: QualityReason(code, Message(id=ind, en=eng)) for code, ind, eng in HINTS}


def face_window(image: ImageBGR, face: DetectedFace) -> ImageBGR:
    """The part of the face box that lies inside the image (may be empty)."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = face.box
    left, top = max(round(x1), 0), max(round(y1), 0)
    right, bottom = min(round(x2), width), min(round(y2), height)
    return image[top : max(bottom, top), left : max(right, left)]


def luma(image: ImageBGR) -> np.ndarray:
    """BT.601 luma as uint8 (what cv2 calls grey), accepting grey or BGR input."""
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def sharpness(window: ImageBGR) -> float:
    """Variance of the Laplacian of the face resized to SHARPNESS_SIZE square."""
    if window.size == 0:
        return 0.0
    grey = luma(window)
    shrinking = grey.shape[0] > SHARPNESS_SIZE or grey.shape[1] > SHARPNESS_SIZE
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    resized = cv2.resize(grey, (SHARPNESS_SIZE, SHARPNESS_SIZE), interpolation=interpolation)
    return float(cv2.Laplacian(resized, cv2.CV_64F).var())


def inside_fraction(image_hw: tuple[int, int], box: tuple[float, float, float, float]) -> float:
    """Share of the box's area that lies inside the image."""
    height, width = image_hw
    x1, y1, x2, y2 = box
    area = max(x2 - x1, 0.0) * max(y2 - y1, 0.0)
    if area == 0.0:
        return 0.0
    inner_w = max(min(x2, width) - max(x1, 0.0), 0.0)
    inner_h = max(min(y2, height) - max(y1, 0.0), 0.0)
    return inner_w * inner_h / area


def estimate_pose(landmarks: FloatArray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in approximate degrees from the 5 landmarks (see module docstring)."""
    points = np.asarray(landmarks, dtype=np.float64)
    left_eye, right_eye = points[0], points[1]
    dx, dy = right_eye - left_eye
    roll = math.degrees(math.atan2(dy, dx))
    eye_distance = max(math.hypot(dx, dy), 1e-6)
    # Rotate by -roll about the eye midpoint so the eye line is horizontal.
    cos_r, sin_r = dx / eye_distance, dy / eye_distance
    unroll = np.array([[cos_r, sin_r], [-sin_r, cos_r]])
    upright = (points - (left_eye + right_eye) / 2) @ unroll.T
    nose, mouth_height = upright[2], (upright[3, 1] + upright[4, 1]) / 2
    yaw = math.degrees(math.atan(nose[0] / eye_distance / NOSE_DEPTH_PER_EYE_DISTANCE))
    nose_height = nose[1] / max(mouth_height, 1e-6)
    pitch_tan = (FRONTAL_NOSE_HEIGHT - nose_height) * EYE_MOUTH_HEIGHT_PER_NOSE_DEPTH
    return yaw, math.degrees(math.atan(pitch_tan)), roll


def measure_quality(image: ImageBGR, face: DetectedFace) -> QualityMeasures:
    """Every quality measure of one face in one image."""
    window = face_window(image, face)
    grey = luma(window) if window.size else np.zeros((1, 1), np.uint8)
    yaw, pitch, roll = estimate_pose(face.landmarks)
    return QualityMeasures(
        detector_score=float(face.score),
        inter_eye_px=float(np.linalg.norm(face.landmarks[1] - face.landmarks[0])),
        sharpness=sharpness(window),
        brightness=float(grey.mean()),
        contrast=float(grey.std()),
        yaw=yaw,
        pitch=pitch,
        roll=roll,
        inside_fraction=inside_fraction(image.shape[:2], face.box),
    )


def failed_checks(m: QualityMeasures, t: QualityThresholds) -> list[str]:
    """Codes of the failed checks, most actionable first (presence, framing, pose, light)."""
    checks = [
        ("low_detector_score", m.detector_score < t.min_detector_score),
        ("too_small", m.inter_eye_px < t.min_inter_eye_px),
        ("partly_outside", m.inside_fraction < t.min_inside_fraction),
        ("turned_sideways", abs(m.yaw) > t.max_abs_yaw),
        ("head_tilted_up_down", abs(m.pitch) > t.max_abs_pitch),
        ("head_tilted", abs(m.roll) > t.max_abs_roll),
        ("too_dark", m.brightness < t.min_brightness),
        ("too_bright", m.brightness > t.max_brightness),
        ("low_contrast", m.contrast < t.min_contrast),
        ("blurred", m.sharpness < t.min_sharpness),
    ]
    return [code for code, failed in checks if failed]


def ramp(value: float, limit: float, ideal: float) -> float:
    """Linear goodness: 1 at `ideal`, 0.5 at the acceptance `limit`, 0 as far beyond it."""
    if ideal == limit:
        return 1.0 if value == ideal else 0.0
    return float(np.clip(0.5 + 0.5 * (value - limit) / (ideal - limit), 0.0, 1.0))


def quality_score(m: QualityMeasures, t: QualityThresholds) -> float:
    """Geometric mean of per-measure goodness: one bad factor sinks a capture.

    Each goodness is 0.5 exactly at its limit, so accepted captures score >= 0.5 on every
    factor. Sizes saturate at twice the minimum, sharpness at 4x (on a log scale, because the
    Laplacian variance spans decades), pose at 0 degrees, light at mid-range.
    """
    mid = (t.min_brightness + t.max_brightness) / 2
    sharp = math.log(max(m.sharpness, 1e-3))
    factors = [
        ramp(m.detector_score, t.min_detector_score, 1.0),
        ramp(m.inter_eye_px, t.min_inter_eye_px, 2 * t.min_inter_eye_px),
        ramp(sharp, math.log(t.min_sharpness), math.log(4 * t.min_sharpness)),
        ramp(abs(m.brightness - mid), t.max_brightness - mid, 0.0),
        ramp(m.contrast, t.min_contrast, 2 * t.min_contrast),
        ramp(abs(m.yaw), t.max_abs_yaw, 0.0),
        ramp(abs(m.pitch), t.max_abs_pitch, 0.0),
        ramp(abs(m.roll), t.max_abs_roll, 0.0),
        ramp(m.inside_fraction, t.min_inside_fraction, 1.0),
    ]
    # The floor keeps ranking meaningful among captures that are all bad (pick the least bad).
    floored = np.maximum(factors, 0.01)
    return float(np.prod(floored) ** (1.0 / len(floored)))


def assess_quality(
    image: ImageBGR, face: DetectedFace, thresholds: QualityThresholds | None = None
) -> QualityReport:
    """Measure one face, check it against the thresholds and explain any refusal."""
    limits = thresholds or QualityThresholds()
    measures = measure_quality(image, face)
    reasons = [REASONS[code] for code in failed_checks(measures, limits)]
    return QualityReport(measures, not reasons, reasons, quality_score(measures, limits))
