"""A sealed stream: any size of bytes encrypted with AES-256-GCM in chunks, for backups.

AES-GCM in `cryptography` seals one buffer at a time, and a site's database may be larger than
memory, so the stream is cut into 1 MiB chunks (the STREAM construction): each chunk's nonce is
a random 7-byte prefix, the chunk's counter and a last-chunk flag, and every chunk authenticates
the header too. A reordered, dropped, truncated or altered chunk, or a changed header, fails
to open. The key is 32 bytes from a key file, or derived from a passphrase with scrypt (its
salt and cost travel in the header).

    MAGIC | header length (4, big-endian) | header JSON | (chunk length (4) | chunk + tag)...

A plain stream (`cipher: none`) has the same header followed by the bytes as they are.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"GERBANG-SEALED/1\n"
CHUNK = 1 << 20
KEY_BYTES = 32
SCRYPT = {"n": 2**15, "r": 8, "p": 1}
MIN_PASSPHRASE = 12


class SealError(Exception):
    """The stream cannot be opened: not sealed, the wrong key, or damaged; says which."""


@dataclass(frozen=True)
class SealingKey:
    """A 32-byte key and how a reader gets it again (the `kdf` part of the header)."""

    key: bytes
    kdf: dict[str, Any]


def read_key_file(path: Path) -> bytes:
    """32 raw bytes, or their base64 on one line (the format `encryption at rest` uses too)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SealError(f"cannot read the key file {path}: {exc.strerror}") from exc
    if len(raw) == KEY_BYTES:
        return raw
    try:
        decoded = base64.b64decode(raw.strip(), validate=True)
    except ValueError:
        decoded = b""
    if len(decoded) != KEY_BYTES:
        raise SealError(f"{path}: a key file holds 32 bytes, or their base64 on one line")
    return decoded


def key_from_file(path: Path) -> SealingKey:
    """A sealing key read from a key file."""
    return SealingKey(read_key_file(path), {"kind": "key_file"})


def _scrypt(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        passphrase.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=128 * n * r * 2, dklen=32
    )


def key_from_passphrase(passphrase: str) -> SealingKey:
    """A fresh salt and the key scrypt derives from the passphrase with it."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise SealError(f"a passphrase has at least {MIN_PASSPHRASE} characters")
    salt = secrets.token_bytes(16)
    key = _scrypt(passphrase, salt, **SCRYPT)
    return SealingKey(key, {"kind": "scrypt", "salt": salt.hex(), **SCRYPT})


def key_for_header(kdf: dict[str, Any], key_file: Path | None, passphrase: str | None) -> bytes:
    """The key to open a stream whose header says `kdf`, from what the operator supplied."""
    if kdf.get("kind") == "key_file":
        if key_file is None:
            raise SealError("this file was sealed with a key file: give the same key file")
        return read_key_file(key_file)
    if kdf.get("kind") == "scrypt":
        if passphrase is None:
            raise SealError("this file was sealed with a passphrase: give the same passphrase")
        salt = bytes.fromhex(str(kdf["salt"]))
        return _scrypt(passphrase, salt, int(kdf["n"]), int(kdf["r"]), int(kdf["p"]))
    raise SealError(f"unknown key derivation {kdf.get('kind')!r}")


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + struct.pack(">I", counter) + (b"\x01" if last else b"\x00")


def seal(source: IO[bytes], out: IO[bytes], key: SealingKey | None, meta: dict[str, Any]) -> None:
    """Write `source` to `out` sealed under `key` (plain when `key` is None), with `meta` in
    the header, readable by anyone (no secrets in it)."""
    prefix = secrets.token_bytes(7)
    header: dict[str, Any] = {**meta, "cipher": "none" if key is None else "aes-256-gcm-stream"}
    if key is not None:
        header |= {"kdf": key.kdf, "nonce_prefix": prefix.hex(), "chunk": CHUNK}
    encoded = json.dumps(header, sort_keys=True).encode("utf-8")
    out.write(MAGIC + struct.pack(">I", len(encoded)) + encoded)
    if key is None:
        while block := source.read(CHUNK):
            out.write(block)
        return
    cipher, aad = AESGCM(key.key), MAGIC + encoded
    counter, current = 0, source.read(CHUNK)
    while True:
        following = source.read(CHUNK)
        last = not following
        sealed = cipher.encrypt(_nonce(prefix, counter, last), current, aad)
        out.write(struct.pack(">I", len(sealed)) + sealed)
        if last:
            return
        counter, current = counter + 1, following


def read_header(source: IO[bytes]) -> tuple[dict[str, Any], bytes]:
    """(header, its bytes) from the start of a sealed stream."""
    if source.read(len(MAGIC)) != MAGIC:
        raise SealError("not a sealed Gerbang file")
    (length,) = struct.unpack(">I", _exactly(source, 4))
    encoded = _exactly(source, length)
    try:
        return dict(json.loads(encoded)), encoded
    except ValueError as exc:
        raise SealError("the header is damaged") from exc


def _exactly(source: IO[bytes], size: int) -> bytes:
    data = source.read(size)
    if len(data) != size:
        raise SealError("the file is truncated")
    return data


def unseal(
    source: IO[bytes], out: IO[bytes], key_for: Callable[[dict[str, Any]], bytes]
) -> dict[str, Any]:
    """Write the opened bytes of `source` to `out`; return the header. `key_for(kdf)` gives the
    key; a wrong key, a changed byte or a missing chunk raises SealError."""
    header, encoded = read_header(source)
    if header.get("cipher") == "none":
        while block := source.read(CHUNK):
            out.write(block)
        return header
    if header.get("cipher") != "aes-256-gcm-stream":
        raise SealError(f"unknown cipher {header.get('cipher')!r}")
    try:
        kdf, chunk = dict(header["kdf"]), int(header["chunk"])
        prefix, aad = bytes.fromhex(str(header["nonce_prefix"])), MAGIC + encoded
        cipher = AESGCM(key_for(kdf))
    except (KeyError, TypeError, ValueError) as exc:
        raise SealError(f"the header is damaged: {exc}") from exc
    counter = 0
    while True:
        (length,) = struct.unpack(">I", _exactly(source, 4))
        if length > chunk + 16:
            raise SealError("the file is damaged (a chunk is too long)")
        sealed = _exactly(source, length)
        last = _at_end(source)
        try:
            out.write(cipher.decrypt(_nonce(prefix, counter, last), sealed, aad))
        except (InvalidTag, ValueError) as exc:
            raise SealError(
                "wrong key or passphrase, or the file was altered or truncated"
            ) from exc
        if last:
            return header
        counter += 1


def _at_end(source: IO[bytes]) -> bool:
    position = source.tell()
    at_end = source.read(1) == b""
    source.seek(position)
    return at_end
