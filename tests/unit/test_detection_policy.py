"""Detection scale, padded retry and subject choice, with a stand-in detector of real geometry."""

from __future__ import annotations

import numpy as np
import pytest

from models.detector import DetectionPolicy, choose_subject, detect_faces, people_in
from models.errors import MultipleFaces, NoFaceFound
from tests.factories import BrightSquareDetector, face_at


def _image_with_squares(shape: tuple[int, int], squares: list[tuple[int, int, int]]) -> np.ndarray:
    image = np.zeros((*shape, 3), dtype=np.uint8)
    for x, y, size in squares:
        image[y : y + size, x : x + size] = 255
    return image


def test_large_images_are_shrunk_and_boxes_come_back_in_original_pixels() -> None:
    detector = BrightSquareDetector()
    image = _image_with_squares((1600, 1200), [(400, 600, 300)])
    faces = detect_faces(detector, image, DetectionPolicy(max_side=640))
    assert max(detector.seen_shapes[0][:2]) == 640
    assert faces[0].box == pytest.approx((400, 600, 700, 900), abs=3)


def test_tiny_images_are_enlarged_before_detection() -> None:
    detector = BrightSquareDetector(min_size=60)
    image = _image_with_squares((112, 92), [(20, 30, 40)])
    faces = detect_faces(detector, image, DetectionPolicy(min_side=320))
    assert max(detector.seen_shapes[0][:2]) == 320
    assert faces[0].box == pytest.approx((20, 30, 60, 70), abs=1)


def test_a_face_touching_the_border_is_found_on_the_padded_retry() -> None:
    class NeedsMargin(BrightSquareDetector):
        def detect(self, image: np.ndarray):  # type: ignore[no-untyped-def]
            faces = super().detect(image)
            h, w = image.shape[:2]
            return [
                f for f in faces if f.box[0] > 0 and f.box[1] > 0 and f.box[2] < w and f.box[3] < h
            ]

    image = _image_with_squares((400, 400), [(0, 0, 400)])
    policy = DetectionPolicy(min_side=100, max_side=640, retry_border=0.4)
    assert detect_faces(NeedsMargin(), image, DetectionPolicy(retry_border=0.0)) == []
    faces = detect_faces(NeedsMargin(), image, policy)
    assert len(faces) == 1
    assert faces[0].box[0] == pytest.approx(0, abs=3)


def test_subject_rules() -> None:
    big, small, far = face_at(10, 10, 200), face_at(300, 300, 150), face_at(500, 0, 20)
    shape = (600, 600, 3)
    assert choose_subject([small, big, far], shape, "largest") is big
    assert choose_subject([big, small], shape, "central") is small
    assert choose_subject([big, far], shape, "single") is big  # a bystander far away is ignored
    with pytest.raises(MultipleFaces) as caught:
        choose_subject([big, small], shape, "single")
    assert caught.value.details == {"faces": 2}
    with pytest.raises(NoFaceFound):
        choose_subject([], shape, "largest")


def test_people_in_a_frame_are_everyone_not_in_the_background_subject_first() -> None:
    big, small, far = face_at(10, 10, 200), face_at(300, 300, 150), face_at(500, 0, 20)
    shape = (600, 600, 3)
    assert people_in([small, far, big], shape, "largest") == [big, small]
    assert people_in([big, small], shape, "central") == [small, big]
    assert people_in([small, big], shape, "single") == [big, small]  # counted, never refused
    with pytest.raises(NoFaceFound):
        people_in([], shape, "largest")
