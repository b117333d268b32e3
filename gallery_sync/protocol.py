"""The sync protocol between a site agent and the central registry: what a batch is, how it is
encoded (canonical JSON, gzip) and signed (Ed25519 with the site's key).

A push carries the outbox rows after the last acknowledged sequence, contiguous and in order,
with the site's audit chain head, so the registry can tell a replay (same seqs, same content: a
no-op) from a forgery or a rewritten history (same seqs, other content: refused and quarantined).
The signature covers the uncompressed canonical bytes, so the transport (gzip, TLS later) can
change without touching what is signed.

HTTP: `POST /v1/sync/batches` with headers `X-Gerbang-Site`, `X-Gerbang-Signature` (base64
Ed25519 over the canonical JSON), `Content-Encoding: gzip`, `Content-Type: application/json`.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import zlib
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

MAX_BATCH_CHANGES = 1000
PROTOCOL_VERSION = 1
# A photo sent on request (`photo.provided`) travels base64 inside one change: 8 MiB of image is
# about 11 MiB of JSON, inside a site's default batch budget and the registry's batch limits.
MAX_PHOTO_BYTES = 8 * 1024 * 1024
# The most one change's payload may weigh as JSON: a photo (base64, with room to spare), and
# every other kind (records, events). Past it a site sets the change aside, the registry refuses it.
MAX_PHOTO_CHANGE_BYTES = 12 * 1024 * 1024
MAX_CHANGE_BYTES = 1024 * 1024
_PHOTO_SIGNATURES = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))
PHOTO_TYPES = tuple(media_type for _, media_type in _PHOTO_SIGNATURES)


class Signer(Protocol):
    """What signs for a site: its Ed25519 private key, or a key file that follows a rotation."""

    def sign(self, data: bytes) -> bytes: ...


class ProtocolError(ValueError):
    """A batch that must be refused: the reason is safe to show the sending site."""


class Change(BaseModel):
    """One outbox row as it travels."""

    model_config = ConfigDict(extra="forbid")

    seq: int = Field(ge=1)
    kind: str = Field(min_length=3, max_length=60, pattern=r"^[a-z_]+\.[a-z_]+$")
    entity_id: str = Field(min_length=1, max_length=64)
    payload: dict[str, Any]
    created_at: str


class ChainHead(BaseModel):
    """The newest audit event at the site when the batch was made."""

    model_config = ConfigDict(extra="forbid")

    seq: int = Field(ge=0)
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")


class Batch(BaseModel):
    """What a site pushes: contiguous outbox rows, oldest first."""

    model_config = ConfigDict(extra="forbid")

    version: int = PROTOCOL_VERSION
    site_id: str = Field(min_length=2, max_length=40, pattern=r"^[A-Za-z0-9._-]+$")
    changes: list[Change] = Field(min_length=1, max_length=MAX_BATCH_CHANGES)
    audit_head: ChainHead
    sent_at: str

    @model_validator(mode="after")
    def _contiguous(self) -> Batch:
        seqs = [c.seq for c in self.changes]
        if seqs != list(range(seqs[0], seqs[0] + len(seqs))):
            raise ValueError("changes must be contiguous and in order")
        return self

    @property
    def first_seq(self) -> int:
        return self.changes[0].seq

    @property
    def last_seq(self) -> int:
        return self.changes[-1].seq


def change_cap(kind: str) -> int:
    """The most a change of this kind may weigh (its payload as JSON, in bytes)."""
    return MAX_PHOTO_CHANGE_BYTES if kind == "photo.provided" else MAX_CHANGE_BYTES


def payload_bytes(payload: dict[str, Any]) -> int:
    """What a payload weighs as JSON (UTF-8)."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)
    return len(text.encode("utf-8", "replace"))


def canonical(batch: Batch) -> bytes:
    """The exact bytes that are signed: sorted keys, no whitespace, UTF-8."""
    return json.dumps(
        batch.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


def change_digest(change: Change) -> str:
    """The content identity of one change: a replay must carry the same digest for its seq."""
    body = json.dumps(
        change.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(body.encode()).hexdigest()


def photo_media_type(data: bytes) -> str | None:
    """`image/jpeg` or `image/png` by magic bytes (the only photo formats that travel), else None."""
    return next((kind for magic, kind in _PHOTO_SIGNATURES if data.startswith(magic)), None)


def encode(batch: Batch, key: Signer) -> tuple[bytes, str]:
    """(gzip body, base64 signature) ready to POST."""
    plain = canonical(batch)
    return gzip.compress(plain, mtime=0), base64.b64encode(key.sign(plain)).decode()


def decode(
    body: bytes, signature: str, key: Ed25519PublicKey, max_bytes: int = 64 * 1024 * 1024
) -> Batch:
    """Decompress (bounded), verify the signature, parse; ProtocolError on any failure."""
    plain = unpack(body, max_bytes)
    if not signed_by(plain, signature, key):
        raise ProtocolError("bad signature")
    return parse_batch(plain)


def unpack(body: bytes, max_bytes: int = 64 * 1024 * 1024) -> bytes:
    """The canonical bytes inside a gzip body; ProtocolError for a corrupt body or a bomb."""
    return _gunzip(body, max_bytes)


def signed_by(plain: bytes, signature: str, key: Ed25519PublicKey) -> bool:
    """Whether a base64 signature over these bytes was made with this key."""
    try:
        key.verify(base64.b64decode(signature, validate=True), plain)
    except (InvalidSignature, ValueError):  # binascii.Error is a ValueError
        return False
    return True


def parse_batch(plain: bytes) -> Batch:
    """The batch in canonical bytes already verified; ProtocolError when it breaks the schema."""
    try:
        return Batch.model_validate_json(plain)
    except ValidationError as exc:
        raise ProtocolError(f"schema violation: {exc.errors()[:3]}") from exc


def _gunzip(body: bytes, max_bytes: int) -> bytes:
    """Refuse a gzip bomb: stop reading past max_bytes of output."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(body)) as stream:
            plain = stream.read(max_bytes + 1)
    except (OSError, EOFError, zlib.error) as exc:  # a corrupt deflate stream raises zlib.error
        raise ProtocolError(f"not gzip: {exc}") from exc
    if len(plain) > max_bytes:
        raise ProtocolError("batch too large once decompressed")
    return plain


def new_site_key(path: Path) -> str:
    """Create a site's Ed25519 key (private file 0600); return the public key to register."""
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.touch(mode=0o600, exist_ok=False)
    path.write_bytes(pem)
    return public_key_text(key.public_key())


def load_site_key(path: Path) -> Ed25519PrivateKey:
    """The site's private key from its PEM file."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ProtocolError(f"{path} is not an Ed25519 private key")
    return key


def public_key_text(key: Ed25519PublicKey) -> str:
    """Base64 of the raw 32-byte public key: what the registry stores per site."""
    return base64.b64encode(
        key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ).decode()


def public_key_from_text(text: str) -> Ed25519PublicKey:
    """The inverse of public_key_text."""
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
