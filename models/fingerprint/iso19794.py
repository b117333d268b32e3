"""ISO/IEC 19794-2:2005 finger minutiae records, read and written by our own code.

Why our own: the record is the one format every fingerprint vendor reads, it is a few dozen
lines of bytes, and the readers we could borrow either need TensorFlow (pyfing) or the JVM
(FingerprintIO). Layout, all integers big-endian; it matches the standard's published
structure and the readers in NIST BiomDI (``libfmr``), FingerprintIO (``iso19794p2v2005``) and
pyfing (``utils/iso_format.py``)::

    offset size  record header, 24 bytes
    0      4     format identifier "FMR\\0"
    4      4     version " 20\\0"
    8      4     record length in bytes, header included. The 2005 edition always uses 4 bytes;
                 the 2-byte (or 0x0000 + 4-byte) form and the 4-byte CBEFF product id after it
                 belong to ANSI INCITS 378-2004, which shares the identifier and version.
    12     2     capture equipment: compliance (top 4 bits, 0 = none claimed) | device id (12 bits)
    14     2     image width, pixels          16  2  image height, pixels
    18     2     x resolution, pixels per cm  20  2  y resolution, pixels per cm
    22     1     number of finger views       23  1  reserved, 0
    per finger view
    +0     1     finger position (0 unknown, 1 right thumb ... 10 left little)
    +1     1     view number (top 4 bits) | impression type (low 4 bits, 0 = live-scan plain)
    +2     1     finger quality, 0..100
    +3     1     number of minutiae N, then 6 bytes each:
                 type (2 bits: 01 ending, 10 bifurcation, 00 other) | x (14 bits)
                 reserved (2 bits) | y (14 bits); angle (1 byte, 360/256 degree units);
                 quality (1 byte, 0..100)
    +4+6N  2     extended data length L (0 = none), then L bytes (ridge counts, core/delta,
                 vendor blocks: skipped on decode, never written)

Angles: the 2005 edition puts the origin at the upper left with y growing downwards and
measures minutia angles counter-clockwise from the horizontal axis pointing right, as the
image is seen: a minutia pointing to the top of the image is 90 degrees (byte 64), one pointing
down and right is 315 degrees (byte 224). That is exactly the convention of
:class:`MinutiaeTemplate`, so only the unit changes. Three independent readers agree:
SourceAFIS keeps ``atan2(dy, dx)`` in pixel coordinates (clockwise as seen) and writes ISO
angles as ``2*pi - angle``; NIST BiomDI's ``fmr2an2k`` turns y upwards for ANSI/NIST without
mirroring the angle; pyfing draws the directions it reads from ISO records at
``(cos a, -sin a)`` in pixel coordinates. Which way a ridge ending "points" (into the ridge or
away from it) is the extractor adapter's business: this codec copies the direction as given.

Resolution: ISO stores pixels per centimetre, ``round(ppi / 2.54)`` (500 -> 197, 569 -> 224),
so one stored value stands for a 2.54 ppi wide range. On decode, a value that one of the usual
reader resolutions (``COMMON_PPI``) encodes to gives that resolution back exactly (197 -> 500,
224 -> 569, 394 -> 1000 where plain arithmetic gives 1001); any other value gives
``round(px_per_cm * 2.54)``. Any integer ppi comes back within 2 ppi (0.4% at 500 ppi),
usual readers exactly.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from models.fingerprint.minutiae import MinutiaeTemplate

FORMAT_ID = b"FMR\x00"
VERSION = b" 20\x00"
EXTRACTOR = "iso19794-2:2005 record"  # the record does not say which extractor made it
COMMON_PPI = (250, 300, 333, 381, 400, 500, 508, 569, 600, 700, 750, 800, 1000, 1200)
LIVE_SCAN_PLAIN = 0
MAX_FINGER_POSITION = 10  # 2005 minutiae records use single-finger codes only

_HEADER = struct.Struct(">4s4sIHHHHHBB")
_VIEW = struct.Struct(">BBBB")
_EXTENDED_LENGTH = struct.Struct(">H")
# One minutia as six bytes; numpy packs and unpacks a whole view in one call.
_MINUTIA = np.dtype([("type_x", ">u2"), ("y", ">u2"), ("angle", "u1"), ("quality", "u1")])
_ANGLE_UNIT = 2 * math.pi / 256
_COORDINATE_LIMIT = 1 << 14
_CM_PER_INCH = 2.54


class _Header(NamedTuple):
    width: int
    height: int
    resolution_ppi: int
    views: int
    capture_device_id: int


def _round_half_up(value: float) -> int:
    """Round like a person would (Python's round() sends 0.5 to the even neighbour)."""
    return math.floor(value + 0.5)


def ppi_to_px_per_cm(ppi: int) -> int:
    """Pixels per inch to ISO's pixels per centimetre (500 -> 197)."""
    return _round_half_up(ppi / _CM_PER_INCH)


def px_per_cm_to_ppi(px_per_cm: int) -> int:
    """ISO's pixels per centimetre back to pixels per inch, snapping to the usual readers."""
    for ppi in COMMON_PPI:
        if ppi_to_px_per_cm(ppi) == px_per_cm:
            return ppi
    return _round_half_up(px_per_cm * _CM_PER_INCH)


# ----------------------------------------------------------------------------- encoding


def encode(templates: Sequence[tuple[int, MinutiaeTemplate]], capture_device_id: int = 0) -> bytes:
    """One ISO/IEC 19794-2:2005 record holding one finger view per (finger position, template)."""
    if not templates:
        raise ValueError("an ISO/IEC 19794-2 record needs at least one finger view")
    if len(templates) > 255:
        raise ValueError(f"an ISO/IEC 19794-2 record holds at most 255 views, got {len(templates)}")
    if not 0 <= capture_device_id <= 0x0FFF:
        raise ValueError(f"capture device id must fit 12 bits (0..4095), got {capture_device_id}")
    first = templates[0][1]
    _require_one_image_geometry([template for _, template in templates])
    views = b"".join(
        _encode_view(position, view, template) for position, view, template in _numbered(templates)
    )
    resolution = ppi_to_px_per_cm(first.resolution_ppi)
    header = _HEADER.pack(
        FORMAT_ID, VERSION, _HEADER.size + len(views), capture_device_id,  # compliance bits 0
        first.width, first.height, resolution, resolution, len(templates), 0,
    )  # fmt: skip
    return header + views


def _require_one_image_geometry(templates: Sequence[MinutiaeTemplate]) -> None:
    """The 2005 record has a single image size and resolution shared by all its views."""
    first = templates[0]
    if not (1 <= first.width <= 0xFFFF and 1 <= first.height <= 0xFFFF):
        raise ValueError(f"image size {first.width}x{first.height} does not fit 2-byte fields")
    if not 1 <= ppi_to_px_per_cm(first.resolution_ppi) <= 0xFFFF:
        raise ValueError(f"resolution {first.resolution_ppi} ppi cannot be recorded")
    for other in templates[1:]:
        if (other.width, other.height, other.resolution_ppi) != (
            first.width, first.height, first.resolution_ppi,
        ):  # fmt: skip
            raise ValueError(
                "ISO/IEC 19794-2:2005 has one image size and resolution per record: "
                f"{first.width}x{first.height}@{first.resolution_ppi} ppi and "
                f"{other.width}x{other.height}@{other.resolution_ppi} ppi need two records"
            )


def _numbered(
    templates: Sequence[tuple[int, MinutiaeTemplate]],
) -> list[tuple[int, int, MinutiaeTemplate]]:
    """Give each view its number: 0 for a finger's first view, then 1, 2 ... for repeats."""
    seen: dict[int, int] = {}
    numbered = []
    for position, template in templates:
        if not 0 <= position <= MAX_FINGER_POSITION:
            raise ValueError(f"finger position must be 0..10, got {position}")
        view = seen.get(position, 0)
        if view > 0x0F:
            raise ValueError(f"at most 16 views of finger position {position} fit in a record")
        seen[position] = view + 1
        numbered.append((position, view, template))
    return numbered


def _encode_view(position: int, view: int, template: MinutiaeTemplate) -> bytes:
    """Finger view header, its minutiae, and an empty extended data block."""
    if template.count > 255:
        raise ValueError(f"a finger view holds at most 255 minutiae, got {template.count}")
    quality = 0 if template.quality is None else template.quality  # 2005 has no "unknown"
    if not 0 <= quality <= 100:
        raise ValueError(f"finger quality must be 0..100, got {quality}")
    head = _VIEW.pack(position, (view << 4) | LIVE_SCAN_PLAIN, quality, template.count)
    return head + _encode_minutiae(template).tobytes() + _EXTENDED_LENGTH.pack(0)


def _encode_minutiae(template: MinutiaeTemplate) -> npt.NDArray[np.void]:
    """The (N, 5) rows as ISO's six-byte minutiae."""
    rows = template.minutiae
    if not np.isfinite(rows).all():
        raise ValueError("minutiae contain NaN or infinite values")
    types = rows[:, 4].astype(np.int64)
    if not np.isin(types, (0, 1, 2)).all() or not (types == rows[:, 4]).all():
        raise ValueError("minutia types must be OTHER (0), ENDING (1) or BIFURCATION (2)")
    packed = np.zeros(template.count, dtype=_MINUTIA)
    packed["type_x"] = (types << 14) | _pixels(rows[:, 0], template.width, "x")
    packed["y"] = _pixels(rows[:, 1], template.height, "y")
    turns = np.mod(rows[:, 2], 2 * math.pi) / _ANGLE_UNIT
    packed["angle"] = np.floor(turns + 0.5).astype(np.int64) % 256  # 255.6 units is 0 again
    packed["quality"] = np.clip(np.floor(rows[:, 3] + 0.5), 0, 100).astype(np.int64)
    return packed


def _pixels(values: npt.NDArray[np.float64], size: int, axis: str) -> npt.NDArray[np.int64]:
    """Coordinates rounded to whole pixels, refused when they leave the image."""
    pixels = np.floor(values + 0.5).astype(np.int64)
    outside = (pixels < 0) | (pixels >= min(size, _COORDINATE_LIMIT))
    if outside.any():
        index = int(np.argmax(outside))
        raise ValueError(
            f"minutia {index} has {axis}={values[index]:g}, outside the image (0..{size - 1})"
        )
    return pixels


# ----------------------------------------------------------------------------- decoding


def decode(data: bytes) -> list[tuple[int, MinutiaeTemplate]]:
    """The (finger position, template) of every finger view in an ISO/IEC 19794-2:2005 record.

    Raises ValueError, with a message saying what is wrong, for anything that is not a
    well-formed 2005 record: the caller turns it into an input error.
    """
    header = _decode_header(data)
    views = []
    offset = _HEADER.size
    for index in range(header.views):
        position, template, offset = _decode_view(data, offset, header, index)
        views.append((position, template))
    if offset != len(data):
        raise ValueError(f"record is {len(data)} bytes but its finger views end at byte {offset}")
    return views


def _decode_header(data: bytes) -> _Header:
    """Check identifier, version and length, and read the image geometry."""
    if len(data) < _HEADER.size:
        raise ValueError(
            f"truncated record: the header needs {_HEADER.size} bytes, got {len(data)}"
        )
    magic, version, length, equipment, width, height, res_x, res_y, views, _reserved = (
        _HEADER.unpack_from(data)
    )
    if magic != FORMAT_ID:
        raise ValueError(
            f"not a finger minutiae record: identifier {magic!r}, expected {FORMAT_ID!r}"
        )
    if version != VERSION:
        raise ValueError(
            f"unsupported version {version!r}: only ISO/IEC 19794-2:2005 ({VERSION!r})"
        )
    _check_length(data, length)
    if width == 0 or height == 0:
        raise ValueError(f"image size {width}x{height} is empty")
    if res_x == 0 or res_y == 0:
        raise ValueError("resolution of 0 pixels per centimetre")
    if res_x != res_y:
        raise ValueError(f"non-square pixels ({res_x}x{res_y} px/cm) are not supported")
    return _Header(width, height, px_per_cm_to_ppi(res_x), views, equipment & 0x0FFF)


def _check_length(data: bytes, length: int) -> None:
    """The length field must match the bytes given; name ANSI 378 when that is what they are."""
    if length == len(data):
        return
    ansi_length = int.from_bytes(data[8:10], "big")
    if ansi_length == len(data) or (
        ansi_length == 0 and int.from_bytes(data[10:14], "big") == len(data)
    ):
        raise ValueError("this is an ANSI INCITS 378-2004 record, not ISO/IEC 19794-2:2005")
    if length > len(data):
        raise ValueError(f"truncated record: its length field says {length} bytes, got {len(data)}")
    raise ValueError(f"record length field says {length} bytes but {len(data)} were given")


def _decode_view(
    data: bytes, offset: int, header: _Header, index: int
) -> tuple[int, MinutiaeTemplate, int]:
    """One finger view starting at offset; returns the offset just after it."""
    _need(data, offset, _VIEW.size, f"finger view {index}")
    position, view_and_impression, quality, count = _VIEW.unpack_from(data, offset)
    if position > MAX_FINGER_POSITION:
        raise ValueError(f"finger view {index}: finger position {position} is not 0..10")
    if quality > 100:
        raise ValueError(f"finger view {index}: finger quality {quality} is not 0..100")
    offset += _VIEW.size
    _need(data, offset, count * _MINUTIA.itemsize, f"minutiae of finger view {index}")
    packed = np.frombuffer(data, dtype=_MINUTIA, count=count, offset=offset)
    offset += count * _MINUTIA.itemsize
    _need(data, offset, _EXTENDED_LENGTH.size, f"extended data length of finger view {index}")
    (extended,) = _EXTENDED_LENGTH.unpack_from(data, offset)
    offset += _EXTENDED_LENGTH.size
    _need(data, offset, extended, f"extended data of finger view {index}")
    template = MinutiaeTemplate(
        header.width, header.height, header.resolution_ppi, _decode_minutiae(packed, header, index),
        EXTRACTOR, quality or None,  # 0 is what writers (ours too) put when none was measured
        {
            "capture_device_id": str(header.capture_device_id),
            "view_number": str(view_and_impression >> 4),
            "impression_type": str(view_and_impression & 0x0F),
        },
    )  # fmt: skip
    return position, template, offset + extended


def _need(data: bytes, offset: int, size: int, what: str) -> None:
    """Refuse a record that ends before the field about to be read."""
    if offset + size > len(data):
        raise ValueError(
            f"truncated record: {what} needs {size} bytes at {offset}, got {len(data) - offset}"
        )


def _decode_minutiae(
    packed: npt.NDArray[np.void], header: _Header, index: int
) -> npt.NDArray[np.float64]:
    """ISO's six-byte minutiae as our (N, 5) rows, refusing what the record cannot mean."""
    types = packed["type_x"].astype(np.int64) >> 14
    x = packed["type_x"].astype(np.int64) & 0x3FFF
    y = packed["y"].astype(np.int64) & 0x3FFF  # the top two bits are reserved
    quality = packed["quality"].astype(np.int64)
    _refuse(types == 3, f"finger view {index}: minutia {{}} has the reserved type 11")
    _refuse(
        x >= header.width,
        f"finger view {index}: minutia {{}} lies right of the {header.width}-pixel-wide image",
    )
    _refuse(
        y >= header.height,
        f"finger view {index}: minutia {{}} lies below the {header.height}-pixel-high image",
    )
    _refuse(quality > 100, f"finger view {index}: minutia {{}} has a quality above 100")
    angles = packed["angle"].astype(np.float64) * _ANGLE_UNIT
    return np.column_stack([x, y, angles, quality, types]).astype(np.float64).reshape(-1, 5)


def _refuse(bad: npt.NDArray[np.bool_], message: str) -> None:
    """Raise naming the first offending minutia, if any."""
    if bad.any():
        raise ValueError(message.format(int(np.argmax(bad))))
