"""Passive liveness: the two MiniFASNet anti-spoof models (V2 at crop 2.7x, V1SE at 4.0x), fused.

Pre-processing follows MODELS.md ("MiniFASNet anti-spoof") and upstream Silent-Face-Anti-Spoofing:
a window around the face box scaled about its centre, capped to the image, shifted (never shrunk)
back inside, resized to the model's input size, fed as BGR float32 0..255 NCHW with no
normalisation. Each model's softmax class 1 is "live"; the fused score is their mean.

The models need context around the face (a 4x window): pass the whole camera frame (any size;
it is shrunk to WORKING_MAX_SIDE here), never a tight face crop. On tight crops (ORL scans,
face-api stills) the window is capped to the crop and every live face scores as a spoof.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from models.faces import DetectedFace, FloatArray, ImageBGR
from models.manifest import Role, load_packs
from models.runtime import choose_providers, create_session
from models.store import ModelStore

ROLE: Role = "antispoof"
V2_SCALE = 2.7
V1SE_SCALE = 4.0
LIVE_CLASS = 1  # classes 0 and 2 are two kinds of spoof

# From bench/liveness_dev.py: on the 68 colour web portraits of the dev set, 0.5 refuses 2.9 %
# of live people (0.7 refuses 7.4 %), so it is the strictest candidate with BPCER <= 5 %.
# Upstream's spoof samples scored 0.22-0.29 and 0.003 (MODELS.md), so 0.5 keeps a margin above
# them. APCER was not measured (no attack photos): re-tune on the site's own captures.
DEFAULT_THRESHOLD = 0.5

# Frames are shrunk to this longest side before cropping. Measured on the dev portraits
# (bench/liveness_dev.py --full-resolution): shrinking a multi-megapixel 4x window straight to
# 80 px with bilinear resizing aliases into fine texture the models read as a screen, and
# refused 7.4 % of live colour faces at 0.5 instead of 2.9 %. It also makes the score the same
# for a 720p gate camera and a 12 MP enrolment camera.
WORKING_MAX_SIDE = 640

Box = tuple[float, float, float, float]
Window = tuple[int, int, int, int]


def antispoof_window(image_hw: tuple[int, int], box: Box, scale: float) -> Window:
    """Inclusive pixel window (x1, y1, x2, y2) the anti-spoof model sees for a face box."""
    height, width = image_hw
    x1, y1, x2, y2 = box
    box_w, box_h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    # Cap the scale so the window fits the image; upstream trained on crops made this way.
    scale = min((height - 1) / box_h, (width - 1) / box_w, scale)
    new_w, new_h = box_w * scale, box_h * scale
    cx, cy = x1 + box_w / 2, y1 + box_h / 2
    left, right = _shift_inside(cx - new_w / 2, cx + new_w / 2, width - 1)
    top, bottom = _shift_inside(cy - new_h / 2, cy + new_h / 2, height - 1)
    return int(left), int(top), int(right), int(bottom)


def _shift_inside(low: float, high: float, limit: float) -> tuple[float, float]:
    """Slide the interval [low, high] into [0, limit] keeping its length (it already fits)."""
    if low < 0:
        low, high = 0.0, high - low
    if high > limit:
        low, high = low - (high - limit), limit
    return low, high


def shrink_for_antispoof(image: ImageBGR, max_side: int | None) -> tuple[ImageBGR, float]:
    """The image with its longest side at most max_side (never enlarged), and the factor."""
    longest = max(image.shape[:2])
    if max_side is None or longest <= max_side:
        return image, 1.0
    factor = max_side / longest
    small = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    return np.asarray(small, dtype=np.uint8), factor


def crop_for_antispoof(
    image: ImageBGR, box: Box, scale: float, out_size: tuple[int, int]
) -> ImageBGR:
    """The face window at `scale`, resized to out_size (width, height), still BGR uint8."""
    x1, y1, x2, y2 = antispoof_window(image.shape[:2], box, scale)
    window = image[y1 : y2 + 1, x1 : x2 + 1]
    # cv2.resize's default (bilinear) is what upstream used when it trained the models.
    return np.asarray(cv2.resize(window, out_size), dtype=np.uint8)


def to_input_tensor(crops: Sequence[ImageBGR]) -> FloatArray:
    """Stack BGR crops as float32 NCHW, raw 0..255: upstream patched ToTensor to skip /255."""
    batch = np.stack([np.asarray(crop, dtype=np.float32) for crop in crops])
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


def softmax(logits: npt.NDArray[np.floating]) -> FloatArray:
    """Row-wise softmax, stable for large logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(axis=1, keepdims=True), dtype=np.float32)


@dataclass(frozen=True)
class AntiSpoofBranch:
    """One anti-spoof session paired with the crop scale it was trained on."""

    session: ort.InferenceSession
    scale: float

    @property
    def input_name(self) -> str:
        return str(self.session.get_inputs()[0].name)

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) read from the session's NCHW input shape."""
        shape = self.session.get_inputs()[0].shape
        height, width = shape[2], shape[3]
        if not (isinstance(height, int) and isinstance(width, int)):
            raise ValueError(f"anti-spoof input needs a fixed H and W, got shape {shape}")
        return width, height

    @property
    def batches(self) -> bool:
        """True when the batch axis is dynamic, so several faces can go in one run."""
        return not isinstance(self.session.get_inputs()[0].shape[0], int)

    def live_probabilities(self, image: ImageBGR, boxes: Sequence[Box]) -> FloatArray:
        """Softmax class-1 probability for each box, shape (len(boxes),)."""
        crops = [crop_for_antispoof(image, box, self.scale, self.input_size) for box in boxes]
        tensor = to_input_tensor(crops)
        chunks = [tensor] if self.batches else [tensor[i : i + 1] for i in range(len(crops))]
        logits = np.concatenate([self.session.run(None, {self.input_name: c})[0] for c in chunks])
        return softmax(logits)[:, LIVE_CLASS]


class LivenessModel:
    """Anti-spoof branches fused by the mean of their live probabilities, against a threshold."""

    def __init__(
        self,
        branches: Sequence[AntiSpoofBranch],
        threshold: float | None = None,
        working_max_side: int | None = WORKING_MAX_SIDE,
    ) -> None:
        threshold = DEFAULT_THRESHOLD if threshold is None else threshold
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"liveness threshold must be in (0, 1), got {threshold}")
        if not branches:
            raise ValueError("liveness needs at least one anti-spoof session")
        self.branches = tuple(branches)
        self.threshold = threshold
        self.working_max_side = working_max_side
        for branch in self.branches:
            _ = branch.input_size  # fail at start-up, not on the first person at the gate

    @classmethod
    def from_sessions(
        cls,
        v2: ort.InferenceSession,
        v1se: ort.InferenceSession,
        threshold: float | None = None,
    ) -> LivenessModel:
        """The upstream ensemble: MiniFASNetV2 on a 2.7x window, MiniFASNetV1SE on 4.0x."""
        return cls([AntiSpoofBranch(v2, V2_SCALE), AntiSpoofBranch(v1se, V1SE_SCALE)], threshold)

    def model_scores(self, image: ImageBGR, faces: Sequence[DetectedFace]) -> FloatArray:
        """Per-branch live probabilities, shape (branches, faces), in branch order."""
        if not faces:
            return np.zeros((len(self.branches), 0), dtype=np.float32)
        small, factor = shrink_for_antispoof(image, self.working_max_side)
        boxes = [face.scaled(factor).box for face in faces]
        return np.stack([branch.live_probabilities(small, boxes) for branch in self.branches])

    def live_scores(self, image: ImageBGR, faces: Sequence[DetectedFace]) -> FloatArray:
        """Fused live score in [0, 1] for each face: the mean over the branches."""
        return np.asarray(self.model_scores(image, faces).mean(axis=0), dtype=np.float32)

    def live_score(self, image: ImageBGR, face: DetectedFace) -> float:
        """Fused live score in [0, 1] for one face."""
        return float(self.live_scores(image, [face])[0])

    def is_live(self, image: ImageBGR, face: DetectedFace) -> bool:
        """True when the fused score reaches the configured threshold."""
        return self.live_score(image, face) >= self.threshold


def load_liveness_model(
    model_dir: Path, threshold: float | None = None, threads: int | None = 1
) -> LivenessModel:
    """The fused model from the built-in catalogue, each file checked against its sha256."""
    # One thread: on the 2-core box the 80x80 models ran 2x slower with two (bench, 508 photos).
    store = ModelStore(model_dir, cache_dir=model_dir)  # anti-spoof files are never converted
    files = {f.name: f for pack in load_packs(model_dir).values() for f in pack.files_for(ROLE)}
    providers = choose_providers()
    branches = [
        AntiSpoofBranch(
            create_session(store.verified_path(f), providers, threads),
            float(f.options["crop_scale"]),
        )
        for f in sorted(files.values(), key=lambda f: f.options["crop_scale"])
    ]
    return LivenessModel(branches, threshold)
