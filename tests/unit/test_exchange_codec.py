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
from enrollment.exchange.type9 import MinutiaeView
from models.fingerprint.minutiae import BIFURCATION, ENDING, OTHER, MinutiaeTemplate


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


def _view(position: int, seed: int) -> MinutiaeView:
    rng = np.random.default_rng(seed)
    rows = np.column_stack([
        rng.integers(10, 380, 30), rng.integers(10, 370, 30), rng.uniform(0, 2 * np.pi, 30),
        rng.integers(0, 101, 30), rng.choice([ENDING, BIFURCATION, OTHER], 30),
    ]).astype(np.float64)  # fmt: skip
    return MinutiaeView(position, MinutiaeTemplate(388, 374, 500, rows, "nbis-mindtct test"))


def test_minutiae_alone_travel_as_type9_records_an_independent_reader_reads() -> None:
    views = [_view(2, 1), _view(7, 2)]
    data = build(Transaction("PUSAT", "POLRI", PERSON, [FaceImage(_jpeg(1), "image/jpeg", "2026-01-02")],
                             minutiae=views))  # fmt: skip
    message = nistitl.Message()
    message.parse(data)
    type9 = [r for r in message if r.type == 9]
    assert [(r._2, r._4, r._6, r._10) for r in type9] == [(2, "S", "2", "30"), (3, "S", "7", "30")]
    first = views[0].template.minutiae[0]
    xx, yy = round(first[0] * 2540 / 500), round((373 - first[1]) * 2540 / 500)
    assert type9[0]._12[0] == ["1", f"{xx:04d}{yy:04d}{round(np.degrees(first[2])) % 360:03d}",
                               str(2 + round(first[3] * 61 / 100)), {0: "D", 1: "A", 2: "B"}[int(first[4])]]  # fmt: skip
    assert type9[0]._5 == [["GERBANG", "A", "nbis-mindtct test"]]
    back = parse(data).minutiae
    for sent, received in zip(views, back, strict=True):
        assert received.position == sent.position
        assert received.template.count == sent.template.count
        # y is sent from the bottom edge; without the image height it comes back counted down
        # from the highest minutia: the print moved as a whole, never mirrored
        y_down = sent.template.minutiae[:, 1] - sent.template.minutiae[:, 1].min()
        assert np.abs(received.template.minutiae[:, 0] - sent.template.minutiae[:, 0]).max() < 0.25
        assert np.abs(received.template.minutiae[:, 1] - y_down).max() < 0.25
        assert list(received.template.minutiae[:, 4]) == list(sent.template.minutiae[:, 4])
        assert np.abs(received.template.minutiae[:, 3] - sent.template.minutiae[:, 3]).max() <= 1


def test_minutiae_must_go_with_every_finger_image_or_none() -> None:
    finger = FingerImage(2, _finger_png(1), 48, 64, 500, "2026-01-02")
    face = FaceImage(_jpeg(1), "image/jpeg", "2026-01-02")
    with pytest.raises(ValueError, match="every finger image"):
        build(Transaction("S", "R", PERSON, [face], [finger, finger], [_view(2, 1)]))
