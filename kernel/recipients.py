"""Sealing a file for one receiver: an X25519 key pair per agency, for files that leave the site.

A backup is opened by whoever holds the site's own key or passphrase. A file sent to another
agency (an SPPT-TI exchange) should be readable by that agency only, without a secret shared in
advance: the receiver publishes an X25519 public key (`gerbang exchange keygen`), the sender makes
a fresh ephemeral key pair per file, and both sides derive the file key from the Diffie-Hellman
secret with HKDF-SHA256 over both public keys. The file itself is a `kernel.sealed` stream; its
header names the ephemeral public key and the receiver's key fingerprint, never a secret.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kernel.sealed import KEY_BYTES, SealError, SealingKey, key_for_header

INFO = b"gerbang-sealed-for-recipient/1"
RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


def fingerprint(public: X25519PublicKey) -> str:
    """A short name for a public key that both sides can compare by reading it aloud."""
    return hashlib.sha256(public.public_bytes(*RAW)).hexdigest()[:16]


def generate(prefix: Path) -> tuple[Path, Path]:
    """Write PREFIX.key (private, 0600 from its first byte) and PREFIX.pub; return both paths."""
    private = X25519PrivateKey.generate()
    key_path, pub_path = (
        prefix.with_name(prefix.name + ".key"),
        prefix.with_name(prefix.name + ".pub"),
    )
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(pem)
    pub_path.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key_path, pub_path


def read_public(path: Path) -> X25519PublicKey:
    """A receiver's public key from its PEM file."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise SealError(f"{path}: not a readable public key file ({exc})") from exc
    if not isinstance(key, X25519PublicKey):
        raise SealError(f"{path}: not an X25519 public key (make one with `exchange keygen`)")
    return key


def read_private(path: Path) -> X25519PrivateKey:
    """This receiver's private key from its PEM file."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SealError(f"{path}: not a readable private key file ({exc})") from exc
    if not isinstance(key, X25519PrivateKey):
        raise SealError(f"{path}: not an X25519 private key")
    return key


def _derive(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    kdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=ephemeral + recipient, info=INFO)
    return kdf.derive(shared)


def key_for_recipient(public: X25519PublicKey) -> SealingKey:
    """A fresh file key only the holder of `public`'s private key can derive again."""
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = ephemeral.public_key().public_bytes(*RAW)
    recipient_raw = public.public_bytes(*RAW)
    key = _derive(ephemeral.exchange(public), ephemeral_raw, recipient_raw)
    kdf = {"kind": "x25519", "ephemeral": ephemeral_raw.hex(), "recipient": fingerprint(public)}
    return SealingKey(key, kdf)


def key_from_private(kdf: dict[str, Any], private: X25519PrivateKey) -> bytes:
    """The file key again, on the receiver's side; a file sealed for another key is refused."""
    own = private.public_key()
    if kdf.get("recipient") != fingerprint(own):
        raise SealError(
            f"this file was sealed for key {kdf.get('recipient')}, not for this key ({fingerprint(own)})"
        )
    try:
        ephemeral_raw = bytes.fromhex(str(kdf["ephemeral"]))
        shared = private.exchange(X25519PublicKey.from_public_bytes(ephemeral_raw))
    except (KeyError, ValueError) as exc:
        raise SealError(f"the header is damaged: {exc}") from exc
    return _derive(shared, ephemeral_raw, own.public_bytes(*RAW))


def opener(
    key_file: Path | None, passphrase: str | None, private_key_file: Path | None
) -> Callable[[dict[str, Any]], bytes]:
    """`kdf -> key` for `sealed.unseal`, from whatever the operator supplied."""

    def key_for(kdf: dict[str, Any]) -> bytes:
        if kdf.get("kind") == "x25519":
            if private_key_file is None:
                raise SealError(
                    "this file was sealed for an agency's key: give its private key file"
                )
            return key_from_private(kdf, read_private(private_key_file))
        return key_for_header(kdf, key_file, passphrase)

    return key_for
