"""Sealed streams: round trips across chunk boundaries, and every kind of damage refused."""

from __future__ import annotations

import base64
import io
import struct
from pathlib import Path

import pytest

from kernel import sealed


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sealed, "CHUNK", 16)  # many chunks from a few bytes


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "backup.key"
    path.write_bytes(base64.b64encode(bytes(range(32))) + b"\n")
    return path


def _seal(data: bytes, key: sealed.SealingKey | None) -> bytes:
    out = io.BytesIO()
    sealed.seal(io.BytesIO(data), out, key, {"site_id": "UPT-X"})
    return out.getvalue()


def _open(blob: bytes, key_file: Path | None = None, passphrase: str | None = None) -> bytes:
    out = io.BytesIO()
    sealed.unseal(
        io.BytesIO(blob), out, lambda kdf: sealed.key_for_header(kdf, key_file, passphrase)
    )
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 160, 1000])
def test_any_size_round_trips_with_a_key_file(key_file: Path, size: int) -> None:
    data = bytes(i % 251 for i in range(size))
    blob = _seal(data, sealed.key_from_file(key_file))
    assert _open(blob, key_file) == data
    assert data[:16] not in blob[60:] or size < 16


def test_a_passphrase_round_trips_and_a_wrong_one_is_refused() -> None:
    blob = _seal(b"secret database pages" * 5, sealed.key_from_passphrase("kunci cadangan situs"))
    assert _open(blob, passphrase="kunci cadangan situs") == b"secret database pages" * 5
    with pytest.raises(sealed.SealError, match="wrong key"):
        _open(blob, passphrase="kunci cadangan salah")
    with pytest.raises(sealed.SealError, match="passphrase"):
        _open(blob)
    with pytest.raises(sealed.SealError, match="at least"):
        sealed.key_from_passphrase("short")


def test_a_flipped_byte_anywhere_after_the_magic_is_refused(key_file: Path) -> None:
    blob = _seal(b"x" * 100, sealed.key_from_file(key_file))
    for position in range(len(sealed.MAGIC), len(blob), 7):
        damaged = bytearray(blob)
        damaged[position] ^= 0x01
        with pytest.raises(sealed.SealError):
            _open(bytes(damaged), key_file)


def test_a_stream_cut_at_a_chunk_boundary_is_refused(key_file: Path) -> None:
    blob = _seal(b"y" * 64, sealed.key_from_file(key_file))
    (header_length,) = struct.unpack(">I", blob[len(sealed.MAGIC) : len(sealed.MAGIC) + 4])
    first_chunk = len(sealed.MAGIC) + 4 + header_length
    chunk_record = 4 + 16 + 16
    cut = blob[: first_chunk + 2 * chunk_record]  # two whole chunks of four, then nothing
    with pytest.raises(sealed.SealError):
        _open(cut, key_file)
    with pytest.raises(sealed.SealError):
        _open(blob + blob[first_chunk : first_chunk + chunk_record], key_file)


def test_plain_streams_open_without_a_key_and_keys_must_be_32_bytes(tmp_path: Path) -> None:
    assert _open(_seal(b"plain", None)) == b"plain"
    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    with pytest.raises(sealed.SealError, match="32 bytes"):
        sealed.key_from_file(bad)
    with pytest.raises(sealed.SealError, match="not a sealed"):
        _open(b"PK\x03\x04 a zip file")
