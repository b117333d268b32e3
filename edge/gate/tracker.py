"""Delimiting passages in a stream of analysed frames, and choosing each one's best frame.

The tracker follows the subject: the same track while its box overlaps the previous one by
IoU > `track_iou`. From the moment a subject appears, each frame of it is a candidate scored by
the quality scorer until the window closes (`window_seconds` or `window_frames`, whichever comes
first); the best is handed over once. A new passage starts only after the subject has gone (no
face, or another track) for `leave_frames` frames in a row: a person standing at the gate yields
one decision, not one per frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from edge.gate.sources import Frame
from models.faces import DetectedFace, ImageBGR

Scorer = Callable[[ImageBGR, DetectedFace], float]


@dataclass(frozen=True)
class PassageSettings:
    """How a passage is delimited and its best frame chosen."""

    window_seconds: float = 1.0  # from the first sighting: time to step up and look up
    window_frames: int = 8  # or this many candidates, whichever comes first
    leave_frames: int = 5  # frames without the subject before it counts as gone
    track_iou: float = 0.3  # box overlap that makes two sightings the same person
    # Faces under this height are passers-by at the back; at the quality check's 40 px between
    # the eyes a face is ~100 px high, so smaller ones could not be decided on anyway.
    min_face_height: float = 80.0
    jpeg_quality: int = 95  # the gate service decodes it again: keep the detail

    def __post_init__(self) -> None:
        if self.window_seconds <= 0 or self.window_frames < 1 or self.leave_frames < 1:
            raise ValueError("window_seconds, window_frames and leave_frames must be positive")
        if not 0 <= self.track_iou < 1 or not 1 <= self.jpeg_quality <= 100:
            raise ValueError("track_iou must be in [0, 1) and jpeg_quality in [1, 100]")


@dataclass(frozen=True)
class Candidate:
    """A frame of the subject and how good it is for recognition."""

    frame: Frame
    face: DetectedFace
    score: float


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(width, 0.0) * max(height, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class PassageTracker:
    """Follows the subject frame by frame and says when a passage's best frame is chosen."""

    def __init__(self, settings: PassageSettings, score: Scorer) -> None:
        self.settings, self._score = settings, score
        self.state: Literal["idle", "collecting", "decided"] = "idle"
        self._box: tuple[float, float, float, float] | None = None
        self._absent = 0
        self._started = 0.0
        self._count = 0
        self._best: Candidate | None = None

    def step(self, frame: Frame, face: DetectedFace | None) -> Candidate | None:
        """Take one analysed frame; return the best candidate when a window closes."""
        ready = None
        if self.state != "idle":
            ready = self._follow(frame, face)
        # A passage just ended by absence is returned first; the new face starts on its next frame.
        if self.state == "idle" and face is not None and ready is None:
            self.state, self._box, self._absent = "collecting", face.box, 0
            self._started, self._count, self._best = frame.captured_at, 0, None
            self._offer(frame, face)
        if self.state == "collecting" and self._window_closed(frame.captured_at):
            ready = self._close("decided")
        return ready

    def flush(self) -> Candidate | None:
        """The stream ended or dropped: decide on what the open window has, if anything."""
        return self._close("decided") if self.state == "collecting" else None

    def _follow(self, frame: Frame, face: DetectedFace | None) -> Candidate | None:
        assert self._box is not None
        if face is not None and iou(face.box, self._box) > self.settings.track_iou:
            self._box, self._absent = face.box, 0
            if self.state == "collecting":
                self._offer(frame, face)
            return None
        self._absent += 1
        if self._absent < self.settings.leave_frames:
            return None
        # Gone. If the window was still open, the passage happened all the same: decide on it.
        return self._close("idle")

    def _offer(self, frame: Frame, face: DetectedFace) -> None:
        score = self._score(frame.image, face)
        self._count += 1
        if self._best is None or score > self._best.score:
            self._best = Candidate(frame, face, score)

    def _window_closed(self, now: float) -> bool:
        elapsed = now - self._started
        return elapsed >= self.settings.window_seconds or self._count >= self.settings.window_frames

    def _close(self, state: Literal["idle", "decided"]) -> Candidate | None:
        best = self._best if self.state == "collecting" else None
        self.state, self._best = state, None
        return best
