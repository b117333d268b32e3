"""ISO/IEC 19794-5 face and 19794-4 finger image records: the byte layout the standards fix, a
round trip image for image, and damaged records refused. (No independent reader of these two
formats is packaged for Python: the offsets are checked against the standards' tables here.)"""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from enrollment.exchange import iso19794_4, iso19794_5
from enrollment.exchange.codec import MalformedTransaction


def _jpeg(seed: int, size: tuple[int, int] = (120, 96)) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_a_face_record_has_the_standard_layout_and_round_trips() -> None:
    images = [_jpeg(1), _jpeg(2, (200, 150))]
    record = iso19794_5.encode(images, "F")
    assert record[:8] == b"FAC\x00010\x00"
    assert struct.unpack(">IH", record[8:14]) == (len(record), 2)
    block, points, gender = struct.unpack(">IHB", record[14:21])
    assert (block, points, gender) == (20 + 12 + len(images[0]), 0, 2)
    face_type, data_type, width, height = struct.unpack(">BBHH", record[34:40])
    assert (face_type, data_type, width, height) == (1, 0, 96, 120)
    views = iso19794_5.decode(record)
    assert [v.jpeg for v in views] == images and (views[1].width, views[1].height) == (150, 200)
    assert views[0].sex == "F"


def test_a_png_face_is_refused_by_the_face_format() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buffer, format="PNG")
    with pytest.raises(ValueError, match="JPEG"):
        iso19794_5.encode([buffer.getvalue()], None)


def test_a_finger_record_has_the_standard_layout_and_round_trips() -> None:
    views = [iso19794_4.FingerView(p, v, bytes([p, v]) * 50, 48, 64, 70 if v == 1 else None)
             for p in (1, 2) for v in (1, 2)]  # fmt: skip
    record = iso19794_4.encode(views, 500, "PNG")
    assert record[:8] == b"FIR\x00010\x00"
    assert int.from_bytes(record[8:14], "big") == len(record)
    level, count, scale, ppi = struct.unpack(">HBBH", record[16:22])
    assert (level, count, scale, ppi) == (31, 4, 1, 500)
    assert record[30 - 2] == 8 and record[29] == 5  # bits per pixel, compression PNG
    block, position, _, view, quality = struct.unpack(">IBBBB", record[32:40])
    assert (block, position, view, quality) == (14 + 100, 1, 1, 70)
    assert iso19794_4.decode(record) == (500, "PNG", views)


@pytest.mark.parametrize("cut", [5, 20, 40, -1])
def test_damaged_records_are_refused(cut: int) -> None:
    face = iso19794_5.encode([_jpeg(3)], None)
    finger = iso19794_4.encode([iso19794_4.FingerView(1, 1, b"x" * 30, 5, 6, None)], 500, "NONE")
    with pytest.raises(MalformedTransaction):
        iso19794_5.decode(face[:cut])
    with pytest.raises(MalformedTransaction):
        iso19794_4.decode(finger[:cut])
