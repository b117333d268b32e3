"""Sealed streams: round trips across chunk boundaries, and every kind of damage refused."""

from __future__ import annotations

import base64
import io
import struct
from pathlib import Path

import pytest

from kernel import recipients, sealed


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


def test_a_file_sealed_for_a_recipient_opens_only_with_its_private_key(tmp_path: Path) -> None:
    own_key, own_pub = recipients.generate(tmp_path / "polda")
    other_key, _ = recipients.generate(tmp_path / "kejaksaan")
    assert own_key.stat().st_mode & 0o777 == 0o600
    data = b"ANSI/NIST-ITL transaction " * 1000
    blob = _seal(data, recipients.key_for_recipient(recipients.read_public(own_pub)))
    assert data[:20] not in blob

    def opened(private: Path | None) -> bytes:
        out = io.BytesIO()
        sealed.unseal(io.BytesIO(blob), out, recipients.opener(None, None, private))
        return out.getvalue()

    assert opened(own_key) == data
    with pytest.raises(sealed.SealError, match="sealed for key"):
        opened(other_key)
    with pytest.raises(sealed.SealError, match="private key"):
        opened(None)
    tampered = bytearray(blob)
    tampered[-5] ^= 1
    with pytest.raises(sealed.SealError, match="altered"):
        sealed.unseal(
            io.BytesIO(bytes(tampered)), io.BytesIO(), recipients.opener(None, None, own_key)
        )


def test_each_file_for_the_same_recipient_has_its_own_key(tmp_path: Path) -> None:
    _, pub = recipients.generate(tmp_path / "polda")
    public = recipients.read_public(pub)
    first, second = recipients.key_for_recipient(public), recipients.key_for_recipient(public)
    assert first.key != second.key and first.kdf["recipient"] == second.kdf["recipient"]
