"""ISO/IEC 19794-4:2005 finger image records: the alternative to Type-14 for a receiver that
takes ISO records. One record holds the impressions of one resolution (a reader's), each as its
stored PNG master (compression code 5) or raw 8-bit grey (code 0).

Layout (big-endian): a 32-byte general header (`FIR\\0`, `010\\0`, record length in 6 bytes, device
0, acquisition level 31 at 500 ppi else 0, view count, scale 1 = ppi, scan and image resolution,
8 bits per pixel, compression, reserved); per impression a 14-byte header (block length, finger
position, view count, view number, quality 0-100 or 255, impression 0 live-scan plain, width,
height, reserved) and the image bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from enrollment.exchange.codec import MalformedTransaction

GENERAL = struct.Struct(">4s4s6sHHBBHHHHBBH")
VIEW = struct.Struct(">IBBBBBHHB")
COMPRESSION = {"NONE": 0, "PNG": 5}
NO_QUALITY = 255


@dataclass(frozen=True)
class FingerView:
    """One impression of a 19794-4 record."""

    position: int
    view: int
    data: bytes
    width: int
    height: int
    quality: int | None


def encode(views: list[FingerView], ppi: int, compression: str) -> bytes:
    """One record; every view must come from a reader of `ppi`."""
    blocks = []
    for v in views:
        quality = NO_QUALITY if v.quality is None else v.quality
        header = VIEW.pack(
            VIEW.size + len(v.data), v.position, 1, v.view, quality, 0, v.width, v.height, 0
        )
        blocks.append(header + v.data)
    body = b"".join(blocks)
    length = (GENERAL.size + len(body)).to_bytes(6, "big")
    level = 31 if ppi == 500 else 0
    general = GENERAL.pack(b"FIR\0", b"010\0", length, 0, level, len(blocks), 1, ppi, ppi, ppi, ppi,
                           8, COMPRESSION[compression], 0)  # fmt: skip
    return general + body


def decode(record: bytes) -> tuple[int, str, list[FingerView]]:
    """(ppi, compression, views); MalformedTransaction when the record does not add up."""
    if len(record) < GENERAL.size:
        raise MalformedTransaction.at(0, "shorter than a 19794-4 header")
    magic, _, length, _, _, count, _, ppi, _, _, _, _, compression, _ = GENERAL.unpack_from(record)
    if magic != b"FIR\0" or int.from_bytes(length, "big") != len(record):
        raise MalformedTransaction.at(0, "not a whole ISO/IEC 19794-4 record")
    names = {v: k for k, v in COMPRESSION.items()}
    if compression not in names:
        raise MalformedTransaction.at(
            0, f"finger compression code {compression} is not PNG or none"
        )
    views, offset = [], GENERAL.size
    for _ in range(count):
        if offset + VIEW.size > len(record):
            raise MalformedTransaction.at(offset, "finger image block runs past the end")
        block, position, _, view, quality, _, width, height, _ = VIEW.unpack_from(record, offset)
        if block < VIEW.size or offset + block > len(record):
            raise MalformedTransaction.at(offset, "finger image block length is wrong")
        data = record[offset + VIEW.size : offset + block]
        views.append(
            FingerView(
                position, view, data, width, height, None if quality == NO_QUALITY else quality
            )
        )
        offset += block
    if offset != len(record):
        raise MalformedTransaction.at(offset, "bytes left over after the last finger image")
    return ppi, names[compression], views
