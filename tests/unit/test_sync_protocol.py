"""The sync batch contract: canonical bytes, Ed25519 signature, gzip, and every refusal."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gallery_sync.protocol import (
    Batch,
    ChainHead,
    Change,
    ProtocolError,
    change_digest,
    decode,
    encode,
    load_site_key,
    new_site_key,
    public_key_from_text,
)


def _batch(first: int = 1, count: int = 3, site: str = "UPT-A") -> Batch:
    changes = [
        Change(
            seq=first + i,
            kind="identity.enrolled",
            entity_id=f"id-{i}",
            payload={"n": i, "nama": "Budi"},
            created_at="2026-11-22T00:00:00+00:00",
        )
        for i in range(count)
    ]
    return Batch(
        site_id=site,
        changes=changes,
        audit_head=ChainHead(seq=7, hash="a" * 64),
        sent_at="2026-11-22T00:00:01+00:00",
    )


def test_a_signed_batch_round_trips() -> None:
    key = Ed25519PrivateKey.generate()
    body, signature = encode(_batch(), key)
    decoded = decode(body, signature, key.public_key())
    assert decoded == _batch() and (decoded.first_seq, decoded.last_seq) == (1, 3)


def test_encoding_is_deterministic_so_a_replay_is_byte_identical() -> None:
    key = Ed25519PrivateKey.generate()
    assert encode(_batch(), key) == encode(_batch(), key)  # Ed25519 signatures are deterministic


def test_a_signature_from_another_site_or_a_changed_body_is_refused() -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    body, signature = encode(_batch(), key)
    with pytest.raises(ProtocolError, match="bad signature"):
        decode(body, signature, other.public_key())
    tampered = gzip.compress(gzip.decompress(body).replace(b"Budi", b"Bude"))
    with pytest.raises(ProtocolError, match="bad signature"):
        decode(tampered, signature, key.public_key())
    with pytest.raises(ProtocolError, match="bad signature"):
        decode(body, "not base64!", key.public_key())


def test_gaps_unknown_fields_and_non_gzip_are_refused() -> None:
    with pytest.raises(ValueError, match="contiguous"):
        Batch(
            site_id="UPT-A",
            changes=[*_batch().changes[:1], *_batch(first=5, count=1).changes],
            audit_head=ChainHead(seq=0, hash="0" * 64),
            sent_at="x",
        )
    key = Ed25519PrivateKey.generate()
    with pytest.raises(ProtocolError, match="not gzip"):
        decode(b"plain json", "AAAA", key.public_key())
    plain = (
        b'{"version":1,"site_id":"UPT-A","changes":[],"audit_head":{"seq":0,"hash":"'
        + b"0" * 64
        + b'"},"sent_at":"x"}'
    )
    with pytest.raises(ProtocolError, match="schema"):
        decode(
            gzip.compress(plain),
            __import__("base64").b64encode(key.sign(plain)).decode(),
            key.public_key(),
        )


def test_a_gzip_bomb_is_refused_before_it_fills_memory() -> None:
    key = Ed25519PrivateKey.generate()
    bomb = gzip.compress(b"\x00" * (5 * 1024 * 1024))
    with pytest.raises(ProtocolError, match="too large"):
        decode(bomb, "AAAA", key.public_key(), max_bytes=1024 * 1024)


def test_change_digests_differ_when_content_differs() -> None:
    a, b = _batch().changes[0], _batch().changes[0].model_copy(update={"payload": {"n": 99}})
    assert change_digest(a) == change_digest(_batch().changes[0]) != change_digest(b)


def test_site_keys_are_created_private_and_loadable(tmp_path: Path) -> None:
    public = new_site_key(tmp_path / "keys" / "site.pem")
    assert (tmp_path / "keys" / "site.pem").stat().st_mode & 0o777 == 0o600
    key = load_site_key(tmp_path / "keys" / "site.pem")
    body, signature = encode(_batch(), key)
    assert decode(body, signature, public_key_from_text(public)).site_id == "UPT-A"
    with pytest.raises(FileExistsError):
        new_site_key(tmp_path / "keys" / "site.pem")  # never overwrite a site's identity
