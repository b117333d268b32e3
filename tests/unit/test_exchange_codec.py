"""ANSI/NIST-ITL 1-2011 transactions: read back by an independent reader (nistitl), round-tripped
byte for byte by our own decoder, and damaged files refused whole with house errors."""

from __future__ import annotations

import io

import nistitl
import numpy as np
import pytest
from PIL import Image

from enrollment.exchange.codec import MalformedTransaction, Record, decode, encode
from enrollment.exchange.transaction import (
    FaceImage,
    FingerImage,
    IncompleteTransaction,
    PersonText,
    Transaction,
    build,
    parse,
)


def _jpeg(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (120, 96, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    # separators and a fake image tag inside the image bytes must not confuse either reader
    return buffer.getvalue() + b"\x1c\x1d10.999:\x1e\x1f"


def _finger_png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (64, 48), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


PERSON = PersonText(
    full_name="Budi Santoso", role="inmate", birth_date="1990-12-01", sex="M",
    aliases=("Budi", "Bud S"), registration_number="B.I-900/2024", identity_id="id-1",
    status="active", case_ref="PN-JKT-12/2026",
)  # fmt: skip
FACES = [FaceImage(_jpeg(s), "image/jpeg", "2026-12-01T08:00:00+00:00") for s in (1, 2)]
FINGERS = [
    FingerImage(p, _finger_png(p * 10 + i), 48, 64, 500, "2026-12-01T08:05:00+00:00", 60 + i)
    for p in (1, 2)
    for i in (1, 2, 3)
]


@pytest.fixture(scope="module")
def data() -> bytes:
    return build(Transaction("LPS-BDG-01", "SPPT-TI", PERSON, FACES, FINGERS, tcn="TCN-1"))


def test_an_independent_reader_finds_every_record_field_and_image(data: bytes) -> None:
    message = nistitl.Message()
    message.parse(data)
    records = list(message)
    assert [r.type for r in records] == [1, 2, 10, 10, 14, 14, 14, 14, 14, 14]
    header = message[0]
    assert header._2 == "0500" and header._8 == "LPS-BDG-01" and header._9 == "TCN-1"
    text = next(r for r in records if r.type == 2)
    assert text._18 == "Budi Santoso" and text._22 == "19901201" and text._24 == "M"
    assert text._15 == "B.I-900/2024" and text._905 == "PN-JKT-12/2026"
    faces = [r for r in records if r.type == 10]
    assert [f._999 for f in faces] == [f.data for f in FACES]
    assert all(f._3 == "FACE" and f._11 == "JPEGB" and f._20 == "F" for f in faces)
    assert (faces[0]._6, faces[0]._7) == ("96", "120")
    fingers = [r for r in records if r.type == 14]
    assert [f._999 for f in fingers] == [f.data for f in FINGERS]
    assert [f._13 for f in fingers] == ["1", "1", "1", "2", "2", "2"]
    assert all(f._9 == "500" and f._11 == "PNG" and f._8 == "1" for f in fingers)


def test_our_decoder_gives_back_what_was_encoded(data: bytes) -> None:
    back = parse(data)
    assert back.person == PERSON and back.sender == "LPS-BDG-01" and back.tcn == "TCN-1"
    assert [(f.data, f.media_type) for f in back.faces] == [(f.data, f.media_type) for f in FACES]
    assert back.faces[0].captured_at == "2026-12-01"  # Type-10 holds the capture date only
    assert [(f.position, f.data, f.ppi, f.quality) for f in back.fingers] == [
        (f.position, f.data, f.ppi, f.quality) for f in FINGERS
    ]


def test_uncompressed_fingers_carry_the_raw_grey_pixels() -> None:
    png = _finger_png(7)
    raw = np.asarray(Image.open(io.BytesIO(png))).tobytes()
    finger = FingerImage(3, raw, 48, 64, 500, "2026-12-01", None, "NONE")
    data = build(Transaction("S", "R", PERSON, FACES[:1], [finger]))
    message = nistitl.Message()
    message.parse(data)
    record = next(r for r in message if r.type == 14)
    assert record._11 == "NONE" and record._999 == raw
    assert parse(data).fingers[0].data == raw


@pytest.mark.parametrize("cut", [1, 10, 200, -1, -100, -5000])
def test_a_truncated_file_is_refused_whole(data: bytes, cut: int) -> None:
    damaged = data[:cut]
    with pytest.raises(MalformedTransaction) as caught:
        parse(damaged)
    assert caught.value.code == "exchange_transaction_malformed"
    assert caught.value.message.id and caught.value.message.en
    with pytest.raises(nistitl.NistException):  # the independent reader agrees it is damaged
        nistitl.Message().parse(damaged)


def test_extra_bytes_and_a_missing_record_are_refused(data: bytes) -> None:
    with pytest.raises(MalformedTransaction):
        parse(data + b"x")
    records = decode(data)
    without_a_face = encode([records[0], records[1], *records[3:]])  # CNT still lists it
    with pytest.raises(MalformedTransaction) as caught:
        parse(without_a_face)
    assert "missing or extra" in caught.value.details["reason"]


def test_a_transaction_without_a_face_is_incomplete(data: bytes) -> None:
    records = decode(data)
    header = records[0]
    header.fields[3] = [["1", "1"], ["2", "00"]]
    with pytest.raises(IncompleteTransaction):
        parse(encode([header, records[1]]))


def test_garbage_is_refused_with_the_house_error() -> None:
    for junk in (b"", b"hello world", b"\x00" * 64, b"1.001:abc\x1d"):
        with pytest.raises(MalformedTransaction):
            parse(junk)


def test_lengths_count_their_own_digits() -> None:
    for size in (80, 95, 96, 97, 990, 995):
        record = Record(2, {2: "00", 18: "x" * size})
        encoded = encode([Record(1, {2: "0500", 3: [["1", "1"], ["2", "00"]]}), record])
        first = decode(encoded)
        assert first[1].fields[18] == "x" * size
