"""The passage loop on scripted frames: one decision per passage, the best frame decided on,
reconnection after a dropped stream, a clean stop. Faces are bright squares found by a stand-in
detector; quality is the real `assess_quality`, so a blurred square ranks below a sharp one."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.gate.camera import LoopStats, PassageLoop, PassageSettings, iou
from edge.gate.sources import (
    Backoff,
    CameraUnavailable,
    FolderSource,
    Frame,
    LatestFrame,
    VideoSource,
    open_source,
    source_kind,
)
from tests.factories import BrightSquareDetector

FPS = 10.0
HEIGHT, WIDTH = 240, 320
LEFT, RIGHT = 30, 190  # where persons A and B stand
TEXTURE = cv2.resize(
    np.random.default_rng(0).integers(205, 256, (25, 25), dtype=np.uint8),
    (100, 100),
    interpolation=cv2.INTER_NEAREST,
)
FAST = PassageSettings(window_seconds=1.0, window_frames=8, leave_frames=3, min_face_height=50)
WAIT_S = 60.0  # for the loop's thread on a loaded CI machine; a passing test waits far less


def wait_until(condition: Callable[[], bool]) -> None:
    """Poll until condition() holds; fail after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def scene(person_x: int | None, tag: int, blur: float = 0.0) -> np.ndarray:
    """A dark frame, a textured bright square (the face) at x, and a grey tag block in a corner."""
    image = np.full((HEIGHT, WIDTH, 3), 30, np.uint8)
    if person_x is not None:
        image[70:170, person_x : person_x + 100] = TEXTURE[..., None]
        if blur:
            image = cv2.GaussianBlur(image, (0, 0), blur)
    image[0:16, 0:16] = 10 + 10 * (tag % 18)  # under 200: never taken for a face
    return image


def tag_of(jpeg: bytes) -> int:
    """The tag block's number, read back from the decided JPEG."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    return round((float(image[4:12, 4:12].mean()) - 10) / 10)


def who_in(jpeg: bytes) -> str:
    """'A' or 'B', by where the bright square is."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    return "A" if image[120, LEFT + 50].min() > 200 else "B"


@dataclass
class ScriptedSource:
    """Frames from a list; None in the list is a dropped stream; then None, or empty frames."""

    images: list[np.ndarray | None]
    finite: bool = True
    endless: bool = False  # live: after the script, empty frames until closed
    closed: bool = False
    position: int = 0

    def read(self) -> Frame | None:
        index = self.position
        self.position += 1
        if index < len(self.images):
            image = self.images[index]
        elif self.endless:
            time.sleep(0.002)  # a live camera is paced; avoid spinning a core
            image = scene(None, 0)
        else:
            image = None
        return None if image is None else Frame(image, index / FPS, index)

    def close(self) -> None:
        self.closed = True


@dataclass
class Decisions:
    """A fake gate: records each JPEG it is asked about; can fail on chosen calls."""

    jpegs: list[bytes] = field(default_factory=list)
    fail_on: set[int] = field(default_factory=set)
    seen: list[int] = field(default_factory=list)

    def decide(self, jpeg: bytes) -> int:
        call = len(self.jpegs)
        self.jpegs.append(jpeg)
        if call in self.fail_on:
            raise RuntimeError("gate service failed")
        return call

    def on_decision(self, decision: int) -> None:
        self.seen.append(decision)


def run_loop(sources: Callable[[], ScriptedSource], decisions: Decisions) -> LoopStats:
    """Run the loop to the end of a finite source on this thread; return its stats."""
    loop = PassageLoop(sources, BrightSquareDetector().detect, decisions.decide,
                       decisions.on_decision, FAST, Backoff(0.001, 0.01))  # fmt: skip
    loop.run()
    return loop.stats


def test_a_person_standing_in_view_is_decided_once() -> None:
    decisions = Decisions()
    frames = [scene(LEFT, i) for i in range(60)]
    stats = run_loop(lambda: ScriptedSource(list(frames)), decisions)
    assert len(decisions.jpegs) == 1 and decisions.seen == [0]
    assert (stats.passages, stats.decisions, stats.frames_analysed) == (1, 1, 60)


def test_a_new_passage_starts_after_the_person_leaves_and_another_arrives() -> None:
    decisions = Decisions()
    frames = [scene(LEFT, i) for i in range(15)] + [scene(None, 0)] * 5
    frames += [scene(RIGHT, i) for i in range(15)]
    run_loop(lambda: ScriptedSource(frames), decisions)
    assert [who_in(j) for j in decisions.jpegs] == ["A", "B"]


def test_a_face_replacing_the_subject_is_a_new_passage_a_flicker_is_not() -> None:
    decisions = Decisions()
    frames = [scene(LEFT, i) for i in range(12)] + [scene(None, 0)] * 2  # a 2-frame miss
    frames += [scene(LEFT, i) for i in range(12)] + [scene(RIGHT, i) for i in range(12)]
    run_loop(lambda: ScriptedSource(frames), decisions)
    assert [who_in(j) for j in decisions.jpegs] == ["A", "B"]


def test_the_sharpest_frame_of_the_window_is_the_one_decided_on() -> None:
    decisions = Decisions()
    sharp_at = 4
    window = [scene(LEFT, i, blur=0.0 if i == sharp_at else 2.0) for i in range(8)]
    later = [scene(LEFT, i, blur=0.0) for i in range(8, 16)]  # after the window: not candidates
    run_loop(lambda: ScriptedSource(window + later), decisions)
    assert [tag_of(j) for j in decisions.jpegs] == [sharp_at]


def test_the_window_closes_on_time_when_frames_are_sparse() -> None:
    decisions = Decisions()
    frames = [scene(LEFT, i) for i in range(30)]
    sparse = PassageSettings(window_seconds=0.5, window_frames=100, leave_frames=3)
    loop = PassageLoop(lambda: ScriptedSource(frames), BrightSquareDetector().detect,
                       decisions.decide, settings=sparse)  # fmt: skip
    loop.run()
    assert len(decisions.jpegs) == 1 and tag_of(decisions.jpegs[0]) <= 5  # 0.5 s at 10 fps


def test_a_passage_cut_short_by_the_end_of_the_video_is_still_decided() -> None:
    decisions = Decisions()
    run_loop(lambda: ScriptedSource([scene(LEFT, i) for i in range(3)]), decisions)
    assert len(decisions.jpegs) == 1


def test_a_failed_decision_is_counted_and_the_next_passage_is_decided() -> None:
    decisions = Decisions(fail_on={0})
    frames = [scene(LEFT, i) for i in range(12)] + [scene(None, 0)] * 4
    frames += [scene(RIGHT, i) for i in range(12)]
    stats = run_loop(lambda: ScriptedSource(frames), decisions)
    assert (stats.passages, stats.decisions, stats.decision_errors) == (2, 1, 1)
    assert decisions.seen == [1]


def test_the_loop_reconnects_with_backoff_after_the_stream_drops() -> None:
    """Live stream: drops after 12 frames, the camera refuses two opens, then comes back."""
    opened: list[ScriptedSource] = []
    script: Iterator[ScriptedSource | None] = iter([
        ScriptedSource([scene(LEFT, i) for i in range(12)] + [None], finite=False),
        None, None,  # opening fails
        ScriptedSource([scene(LEFT, i) for i in range(12)], finite=False, endless=True),
    ])  # fmt: skip

    def reopen() -> ScriptedSource:
        source = next(script)
        if source is None:
            raise CameraUnavailable(source="rtsp://gate", reason="connection refused")
        opened.append(source)
        return source

    decisions = Decisions()
    loop = PassageLoop(reopen, BrightSquareDetector().detect, decisions.decide,
                       settings=FAST, backoff=Backoff(0.005, 0.02)).start()  # fmt: skip
    wait_until(lambda: loop.stats.frames_analysed >= 40)
    assert loop.stop(timeout=WAIT_S)
    stats = loop.stats
    assert (stats.reconnects, stats.open_failures) == (1, 2)
    assert all(s.closed for s in opened) and len(opened) == 2
    # The same person was still there after the reconnect: no second decision for them.
    assert stats.decisions == 1 and stats.frames_analysed >= 40


def test_stop_ends_the_thread_promptly_and_closes_the_source() -> None:
    source = ScriptedSource([], finite=False, endless=True)
    loop = PassageLoop(lambda: source, BrightSquareDetector().detect, Decisions().decide)
    with loop:
        wait_until(lambda: loop.stats.frames_analysed > 0)
        assert loop.running
    assert not loop.running and source.closed and loop.stats.frames_analysed > 0


def test_stop_interrupts_the_backoff_wait() -> None:
    def refuse() -> ScriptedSource:
        raise CameraUnavailable(source="0", reason="no device")

    loop = PassageLoop(refuse, BrightSquareDetector().detect, Decisions().decide,
                       backoff=Backoff(30.0, 30.0)).start()  # fmt: skip
    wait_until(lambda: loop.stats.open_failures == 1)  # now in its 30 s wait
    started = time.monotonic()
    # Well under the 30 s backoff, with room for a loaded machine's thread switches.
    assert loop.stop(timeout=WAIT_S) and time.monotonic() - started < 10
    assert loop.stats.open_failures == 1


def test_backoff_doubles_up_to_the_cap_with_jitter_and_resets() -> None:
    backoff = Backoff(0.5, 10.0, jitter=0.25, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(7)]
    for delay, base in zip(delays, [0.5, 1, 2, 4, 8, 10, 10], strict=True):
        assert base * 0.75 <= delay <= min(base * 1.25, 10.0)
    assert len(set(delays)) == len(delays)  # jittered, not lock-step
    backoff.reset()
    assert backoff.next_delay() <= 0.625


def test_a_slow_reader_skips_to_the_newest_frame() -> None:
    class Camera(ScriptedSource):
        def read(self) -> Frame | None:
            time.sleep(0.005)  # 200 fps
            return super().read()

    camera = Camera([scene(None, i) for i in range(200)], finite=False)
    reader = LatestFrame(camera)
    got = []
    for _ in range(5):
        frame = reader.read()
        assert frame is not None
        got.append(frame.index)
        # A slow consumer: busy until the camera has taken 5 more frames (polled, not slept, so
        # a loaded machine's late reader thread cannot make this test flaky).
        wait_until(lambda: camera.position > got[-1] + 6)
    reader.close()
    assert all(b - a > 4 for a, b in pairwise(got))  # frames were skipped


def test_latest_frame_reports_a_stalled_stream_as_dropped() -> None:
    stalled = threading.Event()

    class Silent(ScriptedSource):
        def read(self) -> Frame | None:
            stalled.wait(2)
            return None

    reader = LatestFrame(Silent([], finite=False), stall_s=0.05)
    assert reader.read() is None
    stalled.set()
    reader.close()


def test_iou_of_boxes() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0


def test_folder_source_reads_images_in_name_order_at_its_frame_rate(tmp_path: Path) -> None:
    for i in (2, 0, 1):
        cv2.imwrite(str(tmp_path / f"frame{i}.png"), scene(None, i))
    (tmp_path / "notes.txt").write_text("not an image")
    source = FolderSource(tmp_path, fps=4.0)
    frames = [source.read() for _ in range(4)]
    assert frames[3] is None and source.finite
    assert [f.index for f in frames if f] == [0, 1, 2]
    times = [f.captured_at for f in frames if f]
    assert np.allclose(np.diff(times), 0.25)


def test_video_file_source_reads_every_frame_then_ends(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (WIDTH, HEIGHT))
    for i in range(6):
        writer.write(scene(LEFT, i))
    writer.release()
    source = open_source(str(path), pace=False)
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    source.close()
    assert len(frames) == 6 and source.finite and isinstance(source, VideoSource)
    assert frames[5].captured_at - frames[0].captured_at == pytest.approx(1.0)


def test_sources_are_told_apart_and_a_missing_file_is_unavailable(tmp_path: Path) -> None:
    assert source_kind("0") == "device" and source_kind("rtsp://10.0.0.7/s1") == "url"
    assert source_kind(str(tmp_path)) == "folder" and source_kind("x.mp4") == "file"
    with pytest.raises(CameraUnavailable):
        VideoSource(str(tmp_path / "missing.mp4"))
