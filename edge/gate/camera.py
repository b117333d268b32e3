"""The passage loop: watch a gate camera and decide once per person passing.

Per frame: detect faces (cheap: no embedding) and hand them to the tracker (tracker.py), which
delimits passages and chooses each one's best frame; that frame is JPEG-encoded and handed to the
decision callback, once. Liveness, matching and the record belong to the gate service, which
analyses that best frame.

The loop runs on its own thread, so the HTTP API is never blocked by it; a dropped stream is
closed and reopened with exponential back-off. Window times are capture times, not the time
the loop got to a frame, so a slow loop does not stretch a passage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar

import cv2

from edge.gate.sources import Backoff, Frame, FrameSource
from edge.gate.tracker import Candidate, PassageSettings, PassageTracker, Scorer, iou
from models.detector import detect_faces
from models.engine import FaceEngine
from models.faces import DetectedFace, ImageBGR
from models.quality import QualityThresholds, assess_quality

__all__ = [
    "LoopStats",
    "PassageLoop",
    "PassageSettings",
    "encode_jpeg",
    "face_finder",
    "iou",
    "quality_scorer",
]
log = logging.getLogger(__name__)

D = TypeVar("D")
FaceFinder = Callable[[ImageBGR], list[DetectedFace]]
LATENCY_SAMPLES = 10_000  # latest decisions kept for percentiles


@dataclass
class LoopStats:
    """What the loop has done; written by its thread only, read by anyone."""

    frames_read: int = 0  # delivered by the source, skipped ones included
    frames_analysed: int = 0
    frames_skipped: int = 0  # the loop was behind: newer frames replaced them
    frame_errors: int = 0
    passages: int = 0  # best frames handed to the decision callback
    decisions: int = 0
    decision_errors: int = 0
    reconnects: int = 0  # streams reopened after a drop
    open_failures: int = 0
    started_at: float | None = None
    stopped_at: float | None = None
    # Window closed → decision returned (JPEG encoding + the gate service).
    decision_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))
    # Best frame captured → decision returned (adds the rest of the window after that frame).
    best_to_decision_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))

    @property
    def fps(self) -> float:
        """Frames analysed per second since the loop started."""
        if self.started_at is None:
            return 0.0
        elapsed = (self.stopped_at or time.monotonic()) - self.started_at
        return self.frames_analysed / elapsed if elapsed > 0 else 0.0

    def summary(self) -> str:
        """One line for a log or a console."""
        return (
            f"{self.frames_read} frames read, {self.frames_analysed} analysed ({self.fps:.1f}/s),"
            f" {self.frames_skipped} skipped, {self.passages} passages, {self.decisions} decisions,"
            f" {self.decision_errors} failed, {self.reconnects} reconnects,"
            f" {self.open_failures} failed opens"
        )


def encode_jpeg(image: ImageBGR, quality: int) -> bytes:
    """JPEG bytes of a BGR frame."""
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("OpenCV could not encode the frame as JPEG")
    return bytes(encoded.tobytes())


def face_finder(engine: FaceEngine) -> FaceFinder:
    """The engine's detector at its working scale, without the padded second pass.

    The retry with a black border rescues tight ID-photo crops; on a camera frame with nobody
    in it, the common case at a gate, it would only double the cost.
    """
    policy = replace(engine.options.detection, retry_border=0.0)
    return lambda image: detect_faces(engine.detector, image, policy)


def quality_scorer(thresholds: QualityThresholds | None = None) -> Scorer:
    """Rank candidates by the same quality score enrolment uses."""
    return lambda image, face: assess_quality(image, face, thresholds).score


class PassageLoop(Generic[D]):
    """Reads a gate camera on its own thread and calls `decide` once per passage."""

    def __init__(
        self,
        open_source: Callable[[], FrameSource],
        find_faces: FaceFinder,
        decide: Callable[[bytes], D],
        on_decision: Callable[[D], None] | None = None,
        settings: PassageSettings | None = None,
        backoff: Backoff | None = None,
        score: Scorer | None = None,
    ) -> None:
        self.settings = settings or PassageSettings()
        self.stats = LoopStats()
        self._open_source, self._find_faces = open_source, find_faces
        self._decide, self._on_decision = decide, on_decision
        self._backoff = backoff or Backoff()
        self._tracker = PassageTracker(self.settings, score or quality_scorer())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_index: int | None = None
        self._dropped = False

    @classmethod
    def with_engine(
        cls,
        engine: FaceEngine,
        open_source: Callable[[], FrameSource],
        decide: Callable[[bytes], D],
        on_decision: Callable[[D], None] | None = None,
        settings: PassageSettings | None = None,
        backoff: Backoff | None = None,
    ) -> PassageLoop[D]:
        """A loop detecting with the engine's detector and scoring with its quality limits."""
        return cls(open_source, face_finder(engine), decide, on_decision, settings, backoff,
                   quality_scorer(engine.options.quality))  # fmt: skip

    # --- control --------------------------------------------------------------------------

    def start(self) -> PassageLoop[D]:
        """Run on a background thread; returns self."""
        if self._thread is not None:
            raise RuntimeError("the passage loop was already started")
        self._thread = threading.Thread(target=self.run, name="passage-loop", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> bool:
        """Ask the loop to stop after the current frame; True once its thread has ended."""
        self._stop.set()
        return self.join(timeout)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the loop to end (stopped, or a finite source finished); True if it has."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    @property
    def running(self) -> bool:
        """The loop's thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> PassageLoop[D]:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- the loop -------------------------------------------------------------------------

    def run(self) -> None:
        """Read, analyse and decide until stopped or a finite source ends (blocks)."""
        self.stats.started_at = time.monotonic()
        source: FrameSource | None = None
        try:
            while not self._stop.is_set():
                source = source or self._connect()
                if source is None:
                    break
                frame = source.read()
                if frame is not None:
                    self._backoff.reset()
                    self._analyse(frame)
                    continue
                self._decide_on(self._tracker.flush())
                self._close(source)
                if source.finite:
                    source = None
                    break
                source = None
                log.warning("camera stream dropped; reconnecting")
                self._dropped = True
                self._stop.wait(self._backoff.next_delay())
        finally:
            if source is not None:
                self._close(source)
            self.stats.stopped_at = time.monotonic()

    def _connect(self) -> FrameSource | None:
        """Open the source, backing off while it fails; None if stopped meanwhile."""
        while not self._stop.is_set():
            try:
                source = self._open_source()
            except Exception as exc:  # any failure to open is retried: cameras reboot
                self.stats.open_failures += 1
                log.warning("cannot open the camera: %s", exc)
                self._stop.wait(self._backoff.next_delay())
                continue
            if self._dropped:
                self.stats.reconnects += 1
                self._dropped = False
            self._last_index = None
            return source
        return None

    def _close(self, source: FrameSource) -> None:
        try:
            source.close()
        except Exception:  # a failing release must not stop the gate
            log.exception("closing the camera failed")

    def _analyse(self, frame: Frame) -> None:
        skipped = 0 if self._last_index is None else max(frame.index - self._last_index - 1, 0)
        self._last_index = frame.index
        self.stats.frames_read += skipped + 1
        self.stats.frames_skipped += skipped
        try:
            faces = self._people(frame.image)
        except Exception:  # one bad frame must not stop the gate
            self.stats.frame_errors += 1
            log.exception("face detection failed on frame %d", frame.index)
            return
        self.stats.frames_analysed += 1
        self._decide_on(self._tracker.step(frame, faces))

    def _people(self, image: ImageBGR) -> list[DetectedFace]:
        """Every face big enough to be a person at the gate (smaller ones are passers-by)."""
        return [f for f in self._find_faces(image) if f.height >= self.settings.min_face_height]

    def _decide_on(self, best: Candidate | None) -> None:
        if best is None:
            return
        self.stats.passages += 1
        start = time.monotonic()
        try:
            decision = self._decide(encode_jpeg(best.frame.image, self.settings.jpeg_quality))
        except Exception:  # logged and counted; the next passage must still be decided
            self.stats.decision_errors += 1
            log.exception("the gate could not decide on a passage")
            return
        done = time.monotonic()
        self.stats.decisions += 1
        self.stats.decision_ms.append((done - start) * 1000)
        self.stats.best_to_decision_ms.append((done - best.frame.captured_at) * 1000)
        if self._on_decision is not None:
            try:
                self._on_decision(decision)
            except Exception:  # a kiosk or logger failing must not stop the gate
                log.exception("on_decision failed")
