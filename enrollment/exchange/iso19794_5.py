"""ISO/IEC 19794-5:2005 face image records: the alternative to a Type-10 for a receiver that
takes ISO records. One record holds every face image of a person, each as stored (JPEG only:
the format knows JPEG and JPEG 2000, not PNG).

Layout (big-endian): header `FAC\\0`, `010\\0`, record length (4), image count (2); per image a
20-byte facial information block (block length, feature points 0, gender, eye and hair colour,
feature mask, expression, pose angles and uncertainties all 'unspecified'), a 12-byte image
information block (type 1 full frontal, data type 0 JPEG, width, height, colour space, source 2
digital still camera, device 0, quality 0) and the image bytes.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

from PIL import Image

from enrollment.exchange.codec import MalformedTransaction

HEADER = struct.Struct(">4s4sIH")
INFO = struct.Struct(">IHBBB3sH3s3s")
IMAGE = struct.Struct(">BBHHBBHH")
GENDER = {None: 0, "M": 1, "F": 2}
FULL_FRONTAL, JPEG, DIGITAL_STILL = 1, 0, 2
COLOUR = {"L": 3, "RGB": 1}  # 8-bit grey, 24-bit RGB; anything else 'other'


@dataclass(frozen=True)
class FaceView:
    """One face image of a 19794-5 record."""

    jpeg: bytes
    width: int
    height: int
    sex: str | None = None


def encode(jpegs: list[bytes], sex: str | None) -> bytes:
    """One record with every JPEG face image."""
    blocks = []
    for data in jpegs:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "JPEG":
                raise ValueError("ISO/IEC 19794-5 takes JPEG or JPEG 2000 face images only")
            (width, height), mode = image.size, image.mode
        length = INFO.size + IMAGE.size + len(data)
        info = INFO.pack(length, 0, GENDER.get(sex, 3), 0, 0, b"\0\0\0", 0, b"\0\0\0", b"\0\0\0")
        colour = COLOUR.get(mode, 4)
        blocks.append(
            info + IMAGE.pack(FULL_FRONTAL, JPEG, width, height, colour, DIGITAL_STILL, 0, 0) + data
        )
    body = b"".join(blocks)
    return HEADER.pack(b"FAC\0", b"010\0", HEADER.size + len(body), len(blocks)) + body


def decode(record: bytes) -> list[FaceView]:
    """The face images of a record; MalformedTransaction when it does not add up."""
    if len(record) < HEADER.size:
        raise MalformedTransaction.at(0, "shorter than a 19794-5 header")
    magic, _version, length, count = HEADER.unpack_from(record)
    if magic != b"FAC\0" or length != len(record):
        raise MalformedTransaction.at(0, "not a whole ISO/IEC 19794-5 record")
    views, offset = [], HEADER.size
    sexes = {v: k for k, v in GENDER.items()}
    for _ in range(count):
        if offset + INFO.size + IMAGE.size > len(record):
            raise MalformedTransaction.at(offset, "face image block runs past the end")
        block, _, gender, *_rest = INFO.unpack_from(record, offset)
        _, _, width, height, *_more = IMAGE.unpack_from(record, offset + INFO.size)
        start = offset + INFO.size + IMAGE.size
        if block < INFO.size + IMAGE.size or offset + block > len(record):
            raise MalformedTransaction.at(offset, "face image block length is wrong")
        views.append(FaceView(record[start : offset + block], width, height, sexes.get(gender)))
        offset += block
    if offset != len(record):
        raise MalformedTransaction.at(offset, "bytes left over after the last face image")
    return views
