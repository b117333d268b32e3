"""ISO/IEC 19794-2:2005 codec: exact bytes, round trips, refusals, and two outside checks.

The outside checks are (1) pyfing 0.7.3's ISO reader (R. Cappelli, University of Bologna), an
independent implementation, reading our records, and (2) our reader decoding, and our writer
reproducing, a record written by a real scanner (Simprints Vero) published in an open
repository. pyfing reads only the first view and ignores the length, resolution, image size,
view byte and extended data, so those fields rest on the byte-offset tests and the published
layout, not on an outside reader.
"""

from __future__ import annotations

import importlib.util
import math
import struct
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from models.fingerprint import iso19794
from models.fingerprint.iso19794 import decode, encode, ppi_to_px_per_cm, px_per_cm_to_ppi
from models.fingerprint.minutiae import BIFURCATION, ENDING, OTHER, MinutiaeTemplate

UNIT = 2 * math.pi / 256  # one ISO angle step, 1.40625 degrees


def template(
    rows: list[list[float]] | np.ndarray,
    width: int = 300,
    height: int = 400,
    ppi: int = 500,
    quality: int | None = 70,
) -> MinutiaeTemplate:
    return MinutiaeTemplate(
        width, height, ppi, np.asarray(rows, dtype=np.float64).reshape(-1, 5), "test", quality
    )


def random_template(seed: int, count: int = 60, **kwargs: int) -> MinutiaeTemplate:
    rng = np.random.default_rng(seed)
    rows = np.column_stack([
        rng.integers(0, 300, count),
        rng.integers(0, 400, count),
        rng.uniform(0, 2 * math.pi, count),
        rng.integers(0, 101, count),
        rng.choice([ENDING, BIFURCATION, OTHER], count),
    ])  # fmt: skip
    return template(rows, **kwargs)


def angle_gap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs((a - b + math.pi) % (2 * math.pi) - math.pi)


# ----------------------------------------------------------------------------- exact bytes


def test_header_and_minutia_fields_sit_at_their_offsets() -> None:
    rows = [[100, 200, math.pi / 2, 80, ENDING], [5, 7, 0, 60, BIFURCATION]]
    data = encode([(3, template(rows, quality=87))], capture_device_id=0x123)

    assert data[0:4] == b"FMR\x00"
    assert data[4:8] == b" 20\x00"
    assert struct.unpack(">I", data[8:12])[0] == len(data) == 24 + 4 + 2 * 6 + 2
    assert data[12:14] == b"\x01\x23"  # compliance 0 in the top 4 bits, device 0x123 below
    assert struct.unpack(">HHHH", data[14:22]) == (300, 400, 197, 197)
    assert data[22] == 1  # finger views
    assert data[23] == 0  # reserved
    assert list(data[24:28]) == [3, 0x00, 87, 2]  # position, view 0 | live-scan plain, quality, N
    # ending (01) at x=100: 0x4064; y=200; 90 degrees = 64 units; quality 80
    assert data[28:34] == bytes([0x40, 0x64, 0x00, 0xC8, 64, 80])
    # bifurcation (10) at x=5: 0x8005; y=7; 0 degrees; quality 60
    assert data[34:40] == bytes([0x80, 0x05, 0x00, 0x07, 0, 60])
    assert data[40:42] == b"\x00\x00"  # no extended data


def test_angles_are_anticlockwise_as_seen_on_the_image_with_y_down() -> None:
    # Directions given as pixel steps (dx, dy) with y growing downwards, as a viewer sees them.
    steps = {(1, 0): 0, (0, -1): 64, (-1, 0): 128, (0, 1): 192, (1, 1): 224, (1, -1): 32}
    rows = [[150, 200, math.atan2(-dy, dx) % (2 * math.pi), 50, ENDING] for dx, dy in steps]
    data = encode([(1, template(rows))])

    assert [data[28 + 6 * i + 4] for i in range(len(steps))] == list(steps.values())


def test_finger_quality_none_is_written_as_zero_and_read_back_as_none() -> None:
    data = encode([(1, template([[1, 2, 0, 50, ENDING]], quality=None))])

    assert data[26] == 0
    assert decode(data)[0][1].quality is None


# ----------------------------------------------------------------------------- round trips


def test_round_trip_keeps_positions_types_quality_and_angles_within_one_unit() -> None:
    original = random_template(seed=1)
    [(position, decoded)] = decode(encode([(7, original)]))

    assert position == 7
    assert (decoded.width, decoded.height, decoded.resolution_ppi) == (300, 400, 500)
    assert decoded.quality == 70
    np.testing.assert_array_equal(
        decoded.minutiae[:, [0, 1, 3, 4]], original.minutiae[:, [0, 1, 3, 4]]
    )
    assert angle_gap(decoded.minutiae[:, 2], original.minutiae[:, 2]).max() <= UNIT / 2 + 1e-12


def test_an_angle_just_below_a_full_turn_wraps_to_zero() -> None:
    data = encode([(1, template([[1, 2, 2 * math.pi - UNIT / 4, 50, ENDING]]))])

    assert data[28 + 4] == 0


@pytest.mark.parametrize(("ppi", "px_per_cm"), [(500, 197), (569, 224), (1000, 394), (250, 98)])
def test_resolution_goes_through_pixels_per_centimetre_and_back(ppi: int, px_per_cm: int) -> None:
    data = encode([(1, template([[1, 2, 0, 50, ENDING]], ppi=ppi))])

    assert struct.unpack(">HH", data[18:22]) == (px_per_cm, px_per_cm)
    assert decode(data)[0][1].resolution_ppi == ppi


def test_any_resolution_comes_back_within_one_pixel_per_centimetre_step() -> None:
    errors = [abs(px_per_cm_to_ppi(ppi_to_px_per_cm(ppi)) - ppi) for ppi in range(100, 2001)]

    assert max(errors) <= 2  # a step of 1 px/cm is 2.54 ppi; snapping may use all of it


def test_several_fingers_share_one_record_in_order() -> None:
    fingers = [(2, random_template(2)), (7, random_template(3, count=12)), (2, random_template(4))]
    data = encode(fingers)
    decoded = decode(data)

    assert data[22] == 3
    assert [position for position, _ in decoded] == [2, 7, 2]
    assert [t.extra["view_number"] for _, t in decoded] == ["0", "0", "1"]  # repeats count up
    for (_, sent), (_, got) in zip(fingers, decoded, strict=True):
        np.testing.assert_array_equal(got.minutiae[:, :2], sent.minutiae[:, :2])


def test_a_view_with_no_minutiae_round_trips() -> None:
    [(_, decoded)] = decode(encode([(0, template(np.zeros((0, 5))))]))

    assert decoded.count == 0


def test_extended_data_is_skipped() -> None:
    data = bytearray(encode([(1, template([[1, 2, 0, 50, ENDING]]))]))
    block = struct.pack(">HH", 0x0100, 7) + b"abc"  # a vendor block: type, length, 3 bytes
    data[-2:] = struct.pack(">H", len(block)) + block
    data[8:12] = struct.pack(">I", len(data))

    [(_, decoded)] = decode(bytes(data))

    assert decoded.minutiae[0, :2].tolist() == [1, 2]


# ----------------------------------------------------------------------------- refusals


def _record() -> bytearray:
    return bytearray(
        encode([(1, template([[10, 20, 0, 50, ENDING], [30, 40, 1, 60, BIFURCATION]]))])
    )


def _with_length(data: bytearray) -> bytes:
    data[8:12] = struct.pack(">I", len(data))
    return bytes(data)


def _patched(offset: int, value: bytes) -> bytes:
    data = _record()
    data[offset : offset + len(value)] = value
    return bytes(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_patched(0, b"FIR\x00"), "not a finger minutiae record"),
        (_patched(4, b"030\x00"), "unsupported version"),
        (bytes(_record()) + b"\x00", "length field says 42 bytes but 43"),
        (_patched(8, struct.pack(">I", 41)), "length field says 41 bytes but 42"),
        (bytes(_record()[:20]), "truncated record: the header"),
        (bytes(_record()[:-1]), "truncated record: its length field"),
        (_with_length(_record()[:26]), "truncated record: finger view 0"),
        (_with_length(_record()[:33]), "truncated record: minutiae of finger view 0"),
        (_with_length(_record()[:-2]), "truncated record: extended data length"),
        (_with_length(_record()[:-2] + b"\x00\x05"), "truncated record: extended data of"),
        (_patched(28, struct.pack(">H", 0x4000 | 300)), "minutia 0 lies right of the 300-pixel"),
        (_patched(36, struct.pack(">H", 400)), "minutia 1 lies below the 400-pixel"),
        (_patched(34, struct.pack(">H", 0xC000 | 30)), "minutia 1 has the reserved type 11"),
        (_patched(33, b"\x65"), "minutia 0 has a quality above 100"),
        (_patched(24, b"\x0b"), "finger position 11 is not 0..10"),
        (_patched(26, b"\x65"), "finger quality 101 is not 0..100"),
        (_patched(18, b"\x00\x00"), "resolution of 0"),
        (_patched(20, b"\x00\xc4"), "non-square pixels"),
        (_patched(14, b"\x00\x00"), "image size 0x400 is empty"),
        (_patched(22, b"\x02"), "truncated record: finger view 1"),
    ],
)
def test_decode_refuses_malformed_records(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode(data)


def test_decode_names_an_ansi_378_record() -> None:
    iso = _record()
    # ANSI INCITS 378-2004: 2-byte length, then a 4-byte CBEFF product id, then the same fields.
    ansi = iso[:8] + struct.pack(">H", len(iso) + 2) + b"\x00\x1b\x00\x01" + iso[12:]

    with pytest.raises(ValueError, match="ANSI INCITS 378-2004"):
        decode(bytes(ansi))


@pytest.mark.parametrize(
    ("templates", "kwargs", "message"),
    [
        ([], {}, "at least one finger view"),
        ([(1, template([])), (2, template([], ppi=569))], {}, "one image size and resolution"),
        ([(1, template([])), (2, template([], width=256))], {}, "one image size and resolution"),
        ([(11, template([]))], {}, "finger position must be 0..10"),
        ([(1, template([]))], {"capture_device_id": 4096}, "12 bits"),
        ([(1, random_template(5, count=256))], {}, "at most 255 minutiae"),
        ([(1, template([[300, 2, 0, 50, ENDING]]))], {}, "minutia 0 has x=300, outside"),
        ([(1, template([[1, -1, 0, 50, ENDING]]))], {}, "minutia 0 has y=-1, outside"),
        ([(1, template([[1, 2, 0, 50, 3]]))], {}, "minutia types must be"),
        ([(1, template([[1, 2, np.nan, 50, 1]]))], {}, "NaN"),
        ([(1, template([], quality=101))], {}, "finger quality must be 0..100"),
    ],
)
def test_encode_refuses_what_the_format_cannot_hold(
    templates: list[tuple[int, MinutiaeTemplate]], kwargs: dict[str, int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        encode(templates, **kwargs)


# ----------------------------------------------------------------------------- outside checks

# A record written by a Simprints Vero scanner, published as a simulated scan in
# github.com/Simprints/Android-Simprints-ID, file
# fingerprint/infra/scannermock/src/main/java/com/simprints/fingerprint/infra/scannermock/
# simulated/v2/SimulatedFingerV2.kt (commit 2322886b), PERSON_1_FINGER_1_VERSION_1_BAD_SCAN.
VERO_RECORD = bytes.fromhex(
    "46 4d 52 00 20 32 30 00 00 00 00 48 00 00 01 2c 01 90 00 c5 00 c5 01 00 00 10 26 07"
    " 80 ea 00 1a f8 00 81 05 00 1b f6 00 81 14 00 44 dd 00 40 b9 01 34 96 00"
    " 80 6d 01 38 11 00 40 ac 01 4e 14 00 40 b9 01 62 0d 00 00 00"
)
# Read off the bytes by hand: x, y, angle byte, type (quality bytes are all 0).
VERO_MINUTIAE = [
    (234, 26, 248, BIFURCATION), (261, 27, 246, BIFURCATION), (276, 68, 221, BIFURCATION),
    (185, 308, 150, ENDING), (109, 312, 17, BIFURCATION), (172, 334, 20, ENDING),
    (185, 354, 13, ENDING),
]  # fmt: skip


def test_a_scanner_written_record_decodes() -> None:
    [(position, decoded)] = decode(VERO_RECORD)

    assert position == 0
    assert (decoded.width, decoded.height, decoded.resolution_ppi) == (300, 400, 500)
    assert decoded.quality == 38
    # Simprints writes 0x10: view 1 in BiomDI's reading (top nibble), impression 0.
    assert (decoded.extra["view_number"], decoded.extra["impression_type"]) == ("1", "0")
    expected = np.array([[x, y, a * UNIT, 0, t] for x, y, a, t in VERO_MINUTIAE])
    np.testing.assert_allclose(decoded.minutiae, expected)


def test_re_encoding_a_scanner_record_gives_its_bytes_back_but_the_view_number() -> None:
    [(position, decoded)] = decode(VERO_RECORD)
    ours = encode([(position, decoded)])

    assert ours[:25] == VERO_RECORD[:25]
    assert ours[25] == 0x00  # we number a finger's first view 0, as BiomDI's validator wants
    assert ours[26:] == VERO_RECORD[26:]


def _pyfing_iso_reader(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """pyfing's ISO reader, loaded without pyfing/__init__.py (which imports keras/TensorFlow).

    `import pyfing.utils.iso_format` fails without TensorFlow because the package's __init__
    imports every extractor; the reader itself needs only `pyfing.definitions` (NumPy).
    """
    spec = importlib.util.find_spec("pyfing")  # finds the package without running __init__
    if spec is None or spec.origin is None:
        pytest.skip("pyfing is not installed (pip install -e '.[test]')")
    root = Path(spec.origin).parent
    package = types.ModuleType("pyfing")
    package.__path__ = [str(root)]
    monkeypatch.setitem(sys.modules, "pyfing", package)
    monkeypatch.setitem(
        sys.modules, "pyfing.definitions", _load("pyfing.definitions", root / "definitions.py")
    )
    return _load("_pyfing_iso_format", root / "utils" / "iso_format.py")


def _load(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _as_pyfing(template: MinutiaeTemplate) -> list[tuple[int, int, float, str, int]]:
    letters = {ENDING: "E", BIFURCATION: "B", OTHER: "O"}
    return [(int(x), int(y), a, letters[int(t)], int(q)) for x, y, a, q, t in template.minutiae]


def test_pyfing_reads_our_record_as_we_do(monkeypatch: pytest.MonkeyPatch) -> None:
    reader = _pyfing_iso_reader(monkeypatch)
    fingers = [(2, random_template(6)), (3, random_template(7, count=9))]
    data = encode(fingers)

    theirs = reader._unpack_minutiae_from_iso_template(data)  # it reads the first view only

    ours = decode(data)[0][1]
    assert [tuple(m) for m in theirs] == _as_pyfing(ours)
    assert (
        angle_gap(np.array([m.direction for m in theirs]), fingers[0][1].minutiae[:, 2]).max()
        <= UNIT / 2 + 1e-12
    )


def test_pyfing_and_we_read_the_scanner_record_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    reader = _pyfing_iso_reader(monkeypatch)

    theirs = reader._unpack_minutiae_from_iso_template(VERO_RECORD)

    assert [tuple(m) for m in theirs] == _as_pyfing(decode(VERO_RECORD)[0][1])


def test_module_names_the_2005_identifier_and_version() -> None:
    assert (iso19794.FORMAT_ID, iso19794.VERSION) == (b"FMR\x00", b" 20\x00")
