"""Face detection at the right scale, and choosing which face is the subject.

Detectors see images resized to a working size (big photos shrink: YuNet misses faces above
~300 px; tiny ones grow: a 92x112 scan is otherwise below what the anchors expect). When no face
is found, a second pass pads the image with a border, because a crop where the face fills the
frame (ID-card photos, old archive crops) hides the chin and forehead the detector looks for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import cv2
import numpy as np
import onnxruntime as ort

from models.errors import MultipleFaces, NoFaceFound
from models.faces import DetectedFace, ImageBGR

SubjectRule = Literal["largest", "central", "single"]
BACKGROUND_FACE_RATIO = 0.25  # faces under a quarter of the largest one's area are bystanders


class FaceDetector(Protocol):
    """Anything that finds faces in a BGR image, in that image's pixel coordinates."""

    def detect(self, image: ImageBGR) -> list[DetectedFace]: ...


class ScrfdDetector:
    """SCRFD through InsightFace's own decoder, on a session we configured."""

    def __init__(
        self, session: ort.InferenceSession, model_path: str, score_threshold: float = 0.5
    ) -> None:
        from insightface.model_zoo.scrfd import SCRFD  # heavy import, only when chosen

        self._model = SCRFD(model_file=model_path, session=session)
        self._model.prepare(-1, input_size=(640, 640), det_thresh=score_threshold)

    def detect(self, image: ImageBGR) -> list[DetectedFace]:
        """Every face above the threshold, in the image's coordinates."""
        boxes, keypoints = self._model.detect(_on_canvas(image, 640), input_size=(640, 640))
        if keypoints is None:
            return []
        return [
            DetectedFace(tuple(float(v) for v in b[:4]), k.astype(np.float32), float(b[4]))  # type: ignore[arg-type]
            for b, k in zip(boxes, keypoints, strict=True)
        ]


def _on_canvas(image: ImageBGR, side: int) -> ImageBGR:
    """A small image pasted top-left on a black square, so coordinates are unchanged.

    InsightFace stretches whatever it gets to fill its input; a 92x112 scan grew 5.7x and every
    such face was missed on the dev set. On a canvas it keeps its size and all were found.
    """
    height, width = image.shape[:2]
    if height >= side or width >= side:
        return image
    canvas = np.zeros((side, side, 3), dtype=image.dtype)
    canvas[:height, :width] = image
    return canvas


@dataclass(frozen=True)
class DetectionPolicy:
    """How images are scaled and retried before the detector sees them."""

    max_side: int = 640  # larger images are shrunk to this longest side
    min_side: int = 320  # smaller images are enlarged to this longest side
    retry_border: float = 0.5  # black border added per side, as a fraction of the side, on a retry


def detect_faces(
    detector: FaceDetector, image: ImageBGR, policy: DetectionPolicy
) -> list[DetectedFace]:
    """Faces in original-image coordinates, retrying once with a border when none is found."""
    faces = _detect_scaled(detector, image, policy)
    if faces or policy.retry_border <= 0:
        return faces
    height, width = image.shape[:2]
    pad_y, pad_x = int(height * policy.retry_border), int(width * policy.retry_border)
    padded = np.asarray(
        cv2.copyMakeBorder(image, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_CONSTANT, value=0),
        dtype=np.uint8,
    )
    return [f.scaled(1.0, -pad_x, -pad_y) for f in _detect_scaled(detector, padded, policy)]


def _detect_scaled(
    detector: FaceDetector, image: ImageBGR, policy: DetectionPolicy
) -> list[DetectedFace]:
    longest = max(image.shape[:2])
    factor = 1.0
    if longest > policy.max_side:
        factor = policy.max_side / longest
    elif longest < policy.min_side:
        factor = policy.min_side / longest
    if factor == 1.0:
        return detector.detect(image)
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    resized = np.asarray(
        cv2.resize(image, None, fx=factor, fy=factor, interpolation=interpolation), dtype=np.uint8
    )
    return [f.scaled(1.0 / factor) for f in detector.detect(resized)]


def choose_subject(
    faces: list[DetectedFace], image_shape: tuple[int, ...], rule: SubjectRule
) -> DetectedFace:
    """The face the capture is about; `single` refuses a second face of comparable size."""
    contenders = _contenders(faces)
    if rule == "single" and len(contenders) > 1:
        raise MultipleFaces.counted(len(contenders))
    return _subject_of(contenders, image_shape, rule)


def people_in(
    faces: list[DetectedFace], image_shape: tuple[int, ...], rule: SubjectRule
) -> list[DetectedFace]:
    """Every face not in the background, the subject first, then the others largest first.

    A gate needs them all (a second person close behind must be searched too), so here
    `single` never refuses: the subject is then the largest, and the caller counts the rest.
    """
    contenders = _contenders(faces)
    subject = _subject_of(contenders, image_shape, "largest" if rule == "single" else rule)
    others = sorted((f for f in contenders if f is not subject), key=lambda f: -f.area)
    return [subject, *others]


def _contenders(faces: list[DetectedFace]) -> list[DetectedFace]:
    """The faces that may be a person in front of the camera."""
    if not faces:
        raise NoFaceFound.in_image()
    largest = max(f.area for f in faces)
    # A small face far in the background (a poster, a passer-by) is never the subject; at a
    # quarter of the largest one's area (half its height) someone stands about twice as far away.
    return [f for f in faces if f.area > BACKGROUND_FACE_RATIO * largest]


def _subject_of(
    contenders: list[DetectedFace], image_shape: tuple[int, ...], rule: SubjectRule
) -> DetectedFace:
    if rule == "central":
        return min(contenders, key=lambda f: _distance_to_centre(f, image_shape))
    return max(contenders, key=lambda f: f.area)


def _distance_to_centre(face: DetectedFace, image_shape: tuple[int, ...]) -> float:
    height, width = image_shape[:2]
    cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
    return float(np.hypot(cx - width / 2, cy - height / 2))
