"""Delimiting passages in a stream of analysed frames, and choosing each one's best frame.

The tracker follows every person at the gate (each face at least `min_face_height` high): a
face is the same person while its box overlaps their previous one by IoU > `track_iou`, and a
person is gone after `leave_frames` frames without them. A passage opens on a person nobody has
decided on yet (the largest, when several arrive together) and follows them: each frame of them
is a candidate until the window closes (`window_seconds` or `window_frames`, whichever comes
first), and the best is handed over once. A person standing at the gate yields one decision, not
one per frame.

Tailgating: the best frame is the one showing the most people, then the sharpest face of the
person followed, so that a second person close behind is in the frame the gate decides on (the
gate searches every face in it). Everyone in that frame counts as decided. Someone who arrives
after a window closed, while the person decided on still stands there, opens a passage of their
own, whose frame shows them both. A second person must be seen in `arrival_frames` frames running
before they count, so that one frame of detector noise does not decide on the first person again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edge.gate.sources import Frame
from models.faces import DetectedFace, ImageBGR

Scorer = Callable[[ImageBGR, DetectedFace], float]
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class PassageSettings:
    """How a passage is delimited and its best frame chosen."""

    window_seconds: float = 1.0  # from the first sighting: time to step up and look up
    window_frames: int = 8  # or this many candidates, whichever comes first
    leave_frames: int = 5  # frames without a person before they count as gone
    arrival_frames: int = 2  # frames running before a second person at the gate counts
    track_iou: float = 0.3  # box overlap that makes two sightings the same person
    # Faces under this height are passers-by at the back; at the quality check's 40 px between
    # the eyes a face is ~100 px high, so smaller ones could not be decided on anyway.
    min_face_height: float = 80.0
    jpeg_quality: int = 95  # the gate service decodes it again: keep the detail

    def __post_init__(self) -> None:
        counts = (self.window_frames, self.leave_frames, self.arrival_frames)
        if self.window_seconds <= 0 or min(counts) < 1:
            raise ValueError("window_seconds and the frame counts must be positive")
        if not 0 <= self.track_iou < 1 or not 1 <= self.jpeg_quality <= 100:
            raise ValueError("track_iou must be in [0, 1) and jpeg_quality in [1, 100]")


@dataclass(frozen=True)
class Candidate:
    """A frame of the person followed, how good it is for recognition, and who else is in it."""

    frame: Frame
    face: DetectedFace
    score: float
    people: tuple[int, ...] = ()  # the tracks at the gate in this frame

    @property
    def rank(self) -> tuple[int, float]:
        """More people first (a tailgater must be in the decided frame), then the sharper."""
        return len(self.people), self.score


@dataclass
class Track:
    """One person at the gate, followed across frames."""

    box: Box
    sightings: int = 1
    absent: int = 0  # frames in a row without them
    decided: bool = False  # in a frame the gate has decided on


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(width, 0.0) * max(height, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class PassageTracker:
    """Follows the people at the gate frame by frame and says when a passage's best frame is chosen."""

    def __init__(self, settings: PassageSettings, score: Scorer) -> None:
        self.settings, self._score = settings, score
        self._tracks: dict[int, Track] = {}
        self._next_id = 0
        self._focus: int | None = None  # the person the open window is about; None: no window
        self._started = 0.0
        self._count = 0
        self._best: Candidate | None = None

    @property
    def collecting(self) -> bool:
        """A passage's window is open."""
        return self._focus is not None

    def step(self, frame: Frame, faces: list[DetectedFace]) -> Candidate | None:
        """Take one analysed frame (the faces at the gate); return the best candidate when a
        window closes."""
        seen = self._follow(faces)
        if self._focus is not None and self._focus not in self._tracks:
            # Gone before the window closed: the passage happened all the same, decide on it.
            # Whoever else is here starts on the next frame.
            return self._close()
        if self._focus is None:
            self._focus = self._newcomer(seen)
            if self._focus is None:
                return None
            self._started, self._count, self._best = frame.captured_at, 0, None
        if self._focus in seen:
            self._offer(frame, seen)
        return self._close() if self._window_closed(frame.captured_at) else None

    def flush(self) -> Candidate | None:
        """The stream ended or dropped: decide on what the open window has, if anything."""
        return self._close() if self._focus is not None else None

    def _follow(self, faces: list[DetectedFace]) -> dict[int, DetectedFace]:
        """Match this frame's faces to the people followed; return who was seen, with their face."""
        free = list(range(len(faces)))
        seen: dict[int, DetectedFace] = {}
        for track_id, track in list(self._tracks.items()):
            overlaps = [(iou(faces[i].box, track.box), i) for i in free]
            overlap, index = max(overlaps, default=(0.0, -1))
            if overlap > self.settings.track_iou:
                track.box, track.absent = faces[index].box, 0
                track.sightings += 1
                seen[track_id] = faces[index]
                free.remove(index)
                continue
            track.absent += 1
            if track.absent >= self.settings.leave_frames:
                del self._tracks[track_id]
        for index in free:
            self._tracks[self._next_id] = Track(faces[index].box)
            seen[self._next_id] = faces[index]
            self._next_id += 1
        return seen

    def _newcomer(self, seen: dict[int, DetectedFace]) -> int | None:
        """The largest person seen whom no decision has covered yet, if any counts."""
        someone_decided = any(t.decided for t in self._tracks.values())
        waiting = [
            track_id
            for track_id in seen
            if not self._tracks[track_id].decided
            and (not someone_decided or self._counts(track_id))
        ]
        return max(waiting, key=lambda t: seen[t].area, default=None)

    def _counts(self, track_id: int) -> bool:
        return self._tracks[track_id].sightings >= self.settings.arrival_frames

    def _offer(self, frame: Frame, seen: dict[int, DetectedFace]) -> None:
        assert self._focus is not None
        face = seen[self._focus]
        people = tuple(t for t in seen if t == self._focus or self._counts(t))
        candidate = Candidate(frame, face, self._score(frame.image, face), people)
        self._count += 1
        if self._best is None or candidate.rank > self._best.rank:
            self._best = candidate

    def _window_closed(self, now: float) -> bool:
        elapsed = now - self._started
        return elapsed >= self.settings.window_seconds or self._count >= self.settings.window_frames

    def _close(self) -> Candidate | None:
        best, focus = self._best, self._focus
        for track_id in (*(best.people if best else ()), focus):
            if track_id is not None and track_id in self._tracks:
                self._tracks[track_id].decided = True
        self._focus, self._best = None, None
        return best
