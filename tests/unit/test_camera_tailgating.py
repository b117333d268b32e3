"""The passage loop with a second person at the gate (scripted frames, the stand-in detector, the
real quality score): a tailgater is in the frame the gate decides on, whether they arrive during
the leader's window or after it, and a pair standing there is decided once, not once per frame."""

from __future__ import annotations

import cv2
import numpy as np

from edge.gate.camera import PassageLoop
from edge.gate.sources import Backoff
from tests.factories import BrightSquareDetector
from tests.unit.test_camera_loop import FAST, LEFT, RIGHT, TEXTURE, Decisions, ScriptedSource, scene

BEHIND = 70  # the tailgater's face: smaller, a step further back


def pair(tag: int, leader: bool = True, tailgater: bool = True, blur: float = 0.0) -> np.ndarray:
    """The leader (100 px) at LEFT and/or a tailgater (70 px) at RIGHT; blur applies to the leader."""
    image = scene(LEFT if leader else None, tag, blur)
    if tailgater:
        small = cv2.resize(TEXTURE, (BEHIND, BEHIND), interpolation=cv2.INTER_NEAREST)
        image[70 : 70 + BEHIND, RIGHT : RIGHT + BEHIND] = small[..., None]
    return image


def people_in(jpeg: bytes) -> set[str]:
    """Who is in a decided frame: 'leader', 'tailgater'."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    found = set()
    if image[120, LEFT + 50].min() > 180:
        found.add("leader")
    if image[70 + BEHIND // 2, RIGHT + BEHIND // 2].min() > 180:
        found.add("tailgater")
    return found


def decided(frames: list[np.ndarray]) -> list[set[str]]:
    """Run the loop over the frames; who was in each frame handed to the gate."""
    decisions = Decisions()
    loop = PassageLoop(lambda: ScriptedSource(list(frames)), BrightSquareDetector().detect,
                       decisions.decide, decisions.on_decision, FAST, Backoff(0.001, 0.01))  # fmt: skip
    loop.run()
    return [people_in(jpeg) for jpeg in decisions.jpegs]


def test_a_tailgater_arriving_after_the_leader_was_decided_gets_a_passage_showing_both() -> None:
    frames = [pair(i, tailgater=False) for i in range(12)] + [pair(i) for i in range(12, 30)]
    assert decided(frames) == [{"leader"}, {"leader", "tailgater"}]


def test_a_tailgater_seen_during_the_window_is_in_the_decided_frame() -> None:
    # The leader's sharpest frame is the first, alone; the tailgater steps in on frame 3.
    frames = [pair(i, tailgater=False, blur=0.0 if i == 0 else 1.5) for i in range(3)]
    frames += [pair(i, blur=1.5) for i in range(3, 30)]
    assert decided(frames) == [{"leader", "tailgater"}]  # and not again for the tailgater


def test_a_pair_arriving_together_is_decided_once() -> None:
    assert decided([pair(i) for i in range(40)]) == [{"leader", "tailgater"}]


def test_one_frame_of_a_spurious_second_face_does_not_decide_on_the_leader_again() -> None:
    frames = [pair(i, tailgater=False) for i in range(12)] + [pair(12)]
    frames += [pair(i, tailgater=False) for i in range(13, 25)]
    assert decided(frames) == [{"leader"}]


def test_the_tailgater_left_behind_is_decided_when_the_leader_goes() -> None:
    # Both arrive, the window closes on frames where the tailgater hid behind the leader's
    # shoulder (not in view), then the leader leaves and the tailgater steps up alone.
    frames = [pair(i, tailgater=False) for i in range(12)]
    frames += [pair(i, leader=False) for i in range(12, 30)]
    assert decided(frames) == [{"leader"}, {"tailgater"}]
