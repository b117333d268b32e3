"""Where a gate's frames come from: a camera, a stream, a video file or a folder of images.

Every source is a `FrameSource`: `read()` gives the next `Frame` (or None when there is none:
the stream dropped, or a file ended) and `close()` releases it. `finite` tells the two apart
for the caller: a file that ends is done, a camera that stops is reconnected.

Live sources are wrapped in `LatestFrame`, a reader thread that keeps only the newest frame.
OpenCV buffers frames it has decoded, so a loop slower than the camera would otherwise work
on ever older pictures; with the wrapper it skips the ones it had no time for (visible as
gaps in `Frame.index`) and always sees the gate as it is now.
"""

from __future__ import annotations

import logging
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np

from kernel.errors import Message, Unavailable
from models.faces import ImageBGR

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
DEFAULT_FILE_FPS = 25.0  # when a file does not say its frame rate
SourceKind = Literal["device", "url", "file", "folder"]


class CameraUnavailable(Unavailable):
    code = "camera_unavailable"
    message = Message(
        "Kamera tidak dapat dibuka. Periksa kabel, daya dan alamat kamera.",
        "The camera cannot be opened. Check its cable, power and address.",
    )


@dataclass(frozen=True)
class Frame:
    """One picture, when it was taken (time.monotonic clock) and its number in the source."""

    image: ImageBGR
    captured_at: float  # a file's frame n: its opening time + n / fps, paced or not
    index: int  # counts every frame the source read: a gap means frames were skipped


class FrameSource(Protocol):
    """Anything that yields frames; None means none came (dropped, or a finite source ended)."""

    finite: bool  # True: None means the end (a file); False: the stream dropped, reconnect

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...


def source_kind(spec: str) -> SourceKind:
    """A V4L2 device index ("0"), a stream URL, a folder of images or a video file."""
    if spec.isdigit():
        return "device"
    if "://" in spec:
        return "url"
    return "folder" if Path(spec).is_dir() else "file"


class VideoSource:
    """OpenCV VideoCapture on a device, a URL or a file; files can be paced like a camera."""

    def __init__(self, spec: str, pace: bool = False, timeout_s: float = 5.0) -> None:
        self.kind = source_kind(spec)
        self.finite = self.kind == "file"
        self._pace = pace and self.finite
        self._capture = _open_capture(spec, self.kind, timeout_s)
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 0 < fps < 1000 else DEFAULT_FILE_FPS
        self._started = time.monotonic()
        self._index = 0

    def read(self) -> Frame | None:
        """The next frame, or None when the stream dropped or the file ended."""
        ok, image = self._capture.read()
        if not ok or image is None:
            return None
        captured_at = time.monotonic()
        if self.finite:  # a file's time is its own: frame n was taken at n / fps
            captured_at = self._started + self._index / self.fps
            if self._pace:
                time.sleep(max(0.0, captured_at - time.monotonic()))
        frame = Frame(np.asarray(image, dtype=np.uint8), captured_at, self._index)
        self._index += 1
        return frame

    def close(self) -> None:
        """Release the device or stream."""
        self._capture.release()


def _open_capture(spec: str, kind: SourceKind, timeout_s: float) -> cv2.VideoCapture:
    """An opened VideoCapture, or CameraUnavailable."""
    if kind == "file" and not Path(spec).is_file():
        raise CameraUnavailable(source=spec, reason="no such file")
    timeout_ms = int(timeout_s * 1000)
    if kind == "device":
        # V4L2 by name on Linux: with CAP_ANY a missing camera is tried by every backend in turn.
        backend = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
        capture = cv2.VideoCapture(int(spec), backend)
    elif kind == "url":
        # Without timeouts FFmpeg waits about 30 s on a dead stream before giving up.
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]  # fmt: skip
        capture = cv2.VideoCapture(spec, cv2.CAP_FFMPEG, params)
    else:
        capture = cv2.VideoCapture(spec)
    if not capture.isOpened():
        capture.release()
        raise CameraUnavailable(source=spec, reason="OpenCV could not open it")
    return capture


class FolderSource:
    """The images of a folder in name order at a set frame rate: demos and tests."""

    finite = True

    def __init__(self, folder: Path, fps: float = 10.0, pace: bool = False) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self._paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self._paths:
            raise CameraUnavailable(source=str(folder), reason="no images in the folder")
        self.fps, self._pace = fps, pace
        self._started = time.monotonic()
        self._index = 0

    def read(self) -> Frame | None:
        """The next readable image, or None after the last."""
        while self._index < len(self._paths):
            index, path = self._index, self._paths[self._index]
            self._index += 1
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                log.warning("skipping unreadable image %s", path)
                continue
            captured_at = self._started + index / self.fps
            if self._pace:
                time.sleep(max(0.0, captured_at - time.monotonic()))
            return Frame(np.asarray(image, dtype=np.uint8), captured_at, index)
        return None

    def close(self) -> None:
        """Nothing to release."""


class LatestFrame:
    """Reads a source on its own thread and hands out only the newest frame."""

    def __init__(self, source: FrameSource, stall_s: float = 5.0) -> None:
        self.finite = source.finite
        self._source, self._stall_s = source, stall_s
        self._ready = threading.Condition()
        self._latest: Frame | None = None
        self._ended = self._closing = False
        self._thread = threading.Thread(target=self._pump, name="frame-reader", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            while not self._closing:
                frame = self._source.read()
                with self._ready:
                    if frame is None:
                        break
                    self._latest = frame  # an unclaimed older frame is dropped here
                    self._ready.notify_all()
        except Exception:  # a crashing driver must look like a dropped stream, not hang the loop
            log.exception("frame reader failed")
        finally:
            with self._ready:
                self._ended = True
                self._ready.notify_all()
            # Released here, on the reading thread: OpenCV must not release a capture mid-read.
            self._source.close()

    def read(self) -> Frame | None:
        """The newest frame not yet handed out; None if the source ended or stalled."""
        with self._ready:
            self._ready.wait_for(lambda: self._latest is not None or self._ended, self._stall_s)
            frame, self._latest = self._latest, None
        if frame is None and not self._ended:
            log.warning("no frame for %.1f s: treating the stream as dropped", self._stall_s)
        return frame

    def close(self) -> None:
        """Stop the reader; the source is released once its current read returns."""
        self._closing = True
        self._thread.join(timeout=self._stall_s)


def open_source(
    spec: str, fps: float = 10.0, pace: bool = True, stall_s: float = 5.0
) -> FrameSource:
    """The right source for a spec: live ones (and paced files) behind a LatestFrame reader.

    `pace` plays files and folders at their frame rate, as a camera would deliver them;
    without it they are read as fast as the caller asks (tests, benchmarks).
    """
    kind = source_kind(spec)
    source: FrameSource
    if kind == "folder":
        source = FolderSource(Path(spec), fps, pace)
    else:
        source = VideoSource(spec, pace, stall_s)
    live = kind in ("device", "url")
    return LatestFrame(source, stall_s) if live or pace else source


@dataclass
class Backoff:
    """Waits between reconnection attempts: initial, doubling up to maximum, with jitter.

    Jitter (±`jitter` of the delay) keeps the gates of a site from all hammering a recovering
    NVR or switch in the same instant.
    """

    initial: float = 0.5
    maximum: float = 10.0
    jitter: float = 0.25
    rng: random.Random = field(default_factory=random.Random)
    _next: float | None = field(default=None, init=False, repr=False)

    def next_delay(self) -> float:
        """The wait before the next attempt; each call doubles the one after."""
        base = self.initial if self._next is None else self._next
        self._next = min(base * 2, self.maximum)
        spread = 1 + self.jitter * (2 * self.rng.random() - 1)
        return min(base * spread, self.maximum)

    def reset(self) -> None:
        """After a success, start again from the initial delay."""
        self._next = None
