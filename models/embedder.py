"""Turning aligned face chips into L2-normalised templates, in batches.

The two recogniser kinds differ only in chip size, template and pixel scaling, so one class
serves both; everything it needs about the network it reads from the session.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import onnxruntime as ort

from models.aligner import ARCFACE_112, DLIB_150, ChipSpec
from models.faces import FloatArray, ImageBGR

Preprocess = Callable[[np.ndarray], np.ndarray]


def dlib_pixels(rgb: np.ndarray) -> np.ndarray:
    """The converted dlib graph takes RGB 0..255 and normalises inside itself."""
    return rgb.astype(np.float32)


def arcface_pixels(rgb: np.ndarray) -> np.ndarray:
    """ArcFace networks take RGB scaled to [-1, 1]."""
    return (rgb.astype(np.float32) - 127.5) / 127.5


def sface_pixels(rgb: np.ndarray) -> np.ndarray:
    """OpenCV's SFace takes RGB 0..255 unscaled (FaceRecognizerSF: blobFromImage, swapRB)."""
    return rgb.astype(np.float32)


RECOGNISER_KINDS: dict[str, tuple[ChipSpec, Preprocess]] = {
    "dlib150": (ChipSpec(150, DLIB_150), dlib_pixels),
    "arcface112": (ChipSpec(112, ARCFACE_112), arcface_pixels),
    "sface112": (ChipSpec(112, ARCFACE_112), sface_pixels),  # the ArcFace 5-point template
}


def l2_normalise(vectors: np.ndarray) -> FloatArray:
    """Rows scaled to unit length (cosine similarity is then a dot product)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


class FaceEmbedder:
    """A recogniser session plus the chip it wants; embeds batches of BGR chips."""

    def __init__(
        self, session: ort.InferenceSession, kind: str, max_batch: int = 16, flip: bool = False
    ) -> None:
        if kind not in RECOGNISER_KINDS:
            raise ValueError(f"unknown recogniser kind {kind!r}; known: {sorted(RECOGNISER_KINDS)}")
        self.session = session
        # Flip test-time augmentation: each chip and its mirror image through the network, the
        # two descriptors averaged and renormalised (one more recogniser pass, no second
        # detection). A pack property, so templates made with and without it never mix.
        self.flip = flip
        self.chip, self._preprocess = RECOGNISER_KINDS[kind]
        self.input_name = session.get_inputs()[0].name
        self.output_name = session.get_outputs()[0].name
        self.dimension = int(session.get_outputs()[0].shape[-1])
        batch_dim = session.get_inputs()[0].shape[0]
        # Some exports fix the batch at 1; then we loop instead of stacking.
        self.max_batch = max_batch if not isinstance(batch_dim, int) else max(1, batch_dim)

    def embed(self, chips: Sequence[ImageBGR]) -> FloatArray:
        """One unit-length template per chip (rows in the same order)."""
        if not chips:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self.flip:
            both = [c for chip in chips for c in (chip, np.ascontiguousarray(chip[:, ::-1]))]
            pairs = self._embed_all(both).reshape(len(chips), 2, -1)
            return l2_normalise(pairs.sum(axis=1))
        return self._embed_all(chips)

    def _embed_all(self, chips: Sequence[ImageBGR]) -> FloatArray:
        outputs = [
            self._run(chips[start : start + self.max_batch])
            for start in range(0, len(chips), self.max_batch)
        ]
        return l2_normalise(np.concatenate(outputs, axis=0))

    def _run(self, chips: Sequence[ImageBGR]) -> np.ndarray:
        rgb = np.stack([chip[:, :, ::-1] for chip in chips])  # BGR to RGB
        blob = np.ascontiguousarray(self._preprocess(rgb).transpose(0, 3, 1, 2))
        return np.asarray(self.session.run([self.output_name], {self.input_name: blob})[0])
