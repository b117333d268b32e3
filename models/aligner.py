"""Cutting a face chip by a similarity transform of its 5 landmarks onto a recogniser's template.

Each recogniser was trained on chips cut a particular way; the closer our chip is to that, the
less accuracy alignment costs. The dlib ResNet template below maps detector landmarks into the
chips dlib's own 5-point shape predictor cuts (derived on the dev photos by
`bench/derive_dlib_template.py`); the ArcFace template is InsightFace's.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.faces import FloatArray, ImageBGR

ARCFACE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)

# Where dlib's get_face_chip(size=150, padding=0.25) puts YuNet's 5 points: the mean over 496
# dev photos (bench/derive_dlib_template.py). SCRFD's points land within 1.4 px of these, which
# measured no different, so one template serves both detectors.
DLIB_150 = np.array(
    [[46.7, 45.6], [101.6, 45.5], [74.6, 77.6], [51.2, 102.0], [97.5, 101.9]],
    dtype=np.float32,
)


@dataclass(frozen=True)
class ChipSpec:
    """The chip a recogniser expects: its side in pixels and where the 5 landmarks go."""

    size: int
    template: FloatArray


def similarity_transform(source: FloatArray, target: FloatArray) -> FloatArray:
    """2x3 least-squares similarity (Umeyama) mapping source points onto target points."""
    src_mean, dst_mean = source.mean(axis=0), target.mean(axis=0)
    src_c, dst_c = source - src_mean, target - dst_mean
    covariance = dst_c.T @ src_c / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1  # a reflection is never a valid face alignment
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(singular) @ sign) / src_c.var(axis=0).sum()
    translation = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, translation[:, None]]).astype(np.float32)


def cut_chip(image: ImageBGR, landmarks: FloatArray, spec: ChipSpec) -> ImageBGR:
    """The aligned chip, BGR, spec.size square; borders replicate so no black wedge enters."""
    matrix = similarity_transform(landmarks.astype(np.float64), spec.template.astype(np.float64))
    chip = cv2.warpAffine(
        image,
        matrix,
        (spec.size, spec.size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return np.asarray(chip, dtype=np.uint8)
