"""The face engine: image in, subject face with quality, liveness and template out.

Stages: decode → detect (at a working scale, with a padded retry) → choose the subject →
quality → align → embed → L2-normalise, plus liveness on the subject. Each stage's time is
recorded so the benchmark and the API report the same figures. `analyse_many` batches the
embedding of many images, which is where most of the time goes in bulk work. `analyse_people`
analyses every person in one image (a gate must search a second person close behind too), with
their embeddings in one batch.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from models.aligner import cut_chip
from models.detector import (
    DetectionPolicy,
    FaceDetector,
    SubjectRule,
    choose_subject,
    detect_faces,
    people_in,
)
from models.embedder import FaceEmbedder
from models.faces import DetectedFace, FloatArray, ImageBGR
from models.imaging import ImageLimits, decode_image
from models.liveness import LivenessModel
from models.quality import QualityReport, QualityThresholds, assess_quality


@dataclass
class StageTimer:
    """Milliseconds spent per pipeline stage."""

    ms: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block and add it to `name`."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.ms[name] = self.ms.get(name, 0.0) + (time.perf_counter() - start) * 1000


@dataclass(frozen=True)
class FaceAnalysis:
    """Everything the engine learnt about the subject of one image."""

    face: DetectedFace
    faces_found: int
    quality: QualityReport
    template: FloatArray
    live_score: float | None
    timings_ms: dict[str, float]


@dataclass(frozen=True)
class EngineOptions:
    """Per-deployment choices that are not part of a model pack."""

    limits: ImageLimits = field(default_factory=ImageLimits)
    detection: DetectionPolicy = field(default_factory=DetectionPolicy)
    subject: SubjectRule = "largest"
    quality: QualityThresholds = field(default_factory=QualityThresholds)


class FaceEngine:
    """One loaded model pack, ready to analyse images."""

    def __init__(
        self,
        pack_id: str,
        detector: FaceDetector,
        embedder: FaceEmbedder,
        liveness: LivenessModel | None,
        options: EngineOptions | None = None,
    ) -> None:
        self.pack_id = pack_id
        self.detector = detector
        self.embedder = embedder
        self.liveness = liveness
        self.options = options or EngineOptions()

    @property
    def dimension(self) -> int:
        """Length of the templates this engine makes."""
        return self.embedder.dimension

    def analyse_bytes(self, data: bytes) -> FaceAnalysis:
        """Decode an untrusted upload, then analyse it."""
        timer = StageTimer()
        with timer.stage("decode"):
            image = decode_image(data, self.options.limits)
        return self.analyse(image, timer)

    def analyse(self, image: ImageBGR, timer: StageTimer | None = None) -> FaceAnalysis:
        """Find the subject, judge it, embed it."""
        timer = timer or StageTimer()
        face, count, quality, chip = self._prepare(image, timer)
        with timer.stage("embed"):
            template = self.embedder.embed([chip])[0]
        live = self._live_score(image, face, timer)
        return FaceAnalysis(face, count, quality, template, live, timer.ms)

    def analyse_people_bytes(self, data: bytes) -> list[FaceAnalysis]:
        """Decode an untrusted upload, then analyse every person in it."""
        timer = StageTimer()
        with timer.stage("decode"):
            image = decode_image(data, self.options.limits)
        return self.analyse_people(image, timer)

    def analyse_people(
        self, image: ImageBGR, timer: StageTimer | None = None
    ) -> list[FaceAnalysis]:
        """Every face not in the background, the subject first: each judged, aligned and checked
        for liveness, all embedded in one batch. Raises NoFaceFound when there is nobody."""
        timer = timer or StageTimer()
        with timer.stage("detect"):
            faces = detect_faces(self.detector, image, self.options.detection)
            people = people_in(faces, image.shape, self.options.subject)
        with timer.stage("quality"):
            qualities = [assess_quality(image, face, self.options.quality) for face in people]
        with timer.stage("align"):
            chips = [cut_chip(image, face.landmarks, self.embedder.chip) for face in people]
        with timer.stage("embed"):
            templates = self.embedder.embed(chips)
        live = [self._live_score(image, face, timer) for face in people]
        return [
            FaceAnalysis(face, len(faces), quality, template, score, timer.ms)
            for face, quality, template, score in zip(
                people, qualities, templates, live, strict=True
            )
        ]

    def analyse_many(self, images: Sequence[ImageBGR]) -> list[FaceAnalysis | Exception]:
        """Analyse a batch: detection per image, one batched embedding for all subjects."""
        prepared: list[
            tuple[DetectedFace, int, QualityReport, ImageBGR, StageTimer] | Exception
        ] = []
        for image in images:
            timer = StageTimer()
            try:
                prepared.append((*self._prepare(image, timer), timer))
            except Exception as exc:
                prepared.append(exc)
        ok = [p for p in prepared if not isinstance(p, Exception)]
        templates = iter(self.embedder.embed([p[3] for p in ok]))
        results: list[FaceAnalysis | Exception] = []
        for image, item in zip(images, prepared, strict=True):
            if isinstance(item, Exception):
                results.append(item)
                continue
            face, count, quality, _chip, timer = item
            live = self._live_score(image, face, timer)
            results.append(FaceAnalysis(face, count, quality, next(templates), live, timer.ms))
        return results

    def _prepare(
        self, image: ImageBGR, timer: StageTimer
    ) -> tuple[DetectedFace, int, QualityReport, ImageBGR]:
        with timer.stage("detect"):
            faces = detect_faces(self.detector, image, self.options.detection)
            face = choose_subject(faces, image.shape, self.options.subject)
        with timer.stage("quality"):
            quality = assess_quality(image, face, self.options.quality)
        with timer.stage("align"):
            chip = cut_chip(image, face.landmarks, self.embedder.chip)
        return face, len(faces), quality, chip

    def _live_score(self, image: ImageBGR, face: DetectedFace, timer: StageTimer) -> float | None:
        if self.liveness is None:
            return None
        with timer.stage("liveness"):
            return self.liveness.live_score(image, face)


def cosine(a: FloatArray, b: FloatArray) -> float:
    """Similarity of two unit-length templates."""
    return float(np.dot(a, b))
