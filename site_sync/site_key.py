"""The site's Ed25519 key on disk: where it lives, a signer that follows a rotation, and the
rotation itself (`gerbang sync rotate-key`), safe against a crash at any step.

Rotation:
1. a new key is written beside the current one (`site_ed25519.next.pem`, 0600), or the one a
   crashed run left there is taken up again;
2. the registry is asked to make it current, in a request signed with the current key; if the
   registry refuses that key (it had already switched, and the grace window is over), the
   request is signed with the new key itself, which the registry answers `unchanged`;
3. only after the registry's yes, the current file is copied to
   `site_ed25519.retired-<UTC time>.pem` and the new one takes its place (an atomic rename).
A crash before 2 leaves a pending key the next run reuses; between 2 and 3 the registry holds
the new key already and the next run's request is answered `unchanged`; after 3 it is done.
A service running meanwhile signs with whichever key the file holds (`SiteKeyFile`).

A key the registry revoked cannot be rotated (the registry refuses the request it signs): the
site makes a fresh one (`gerbang sync keygen --new`, `replace_site_key`) and the central admin
registers it.
"""

from __future__ import annotations

import os
import shutil
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gallery_sync.protocol import Signer, load_site_key, public_key_text
from kernel.errors import GerbangError, Message
from site_sync.uplink import SyncRefused

UNAUTHENTICATED = 401


class SiteKeyMissing(GerbangError):
    code = "site_key_missing"
    status = 503
    message = Message(
        "Kunci situs belum dibuat. Jalankan `gerbang sync keygen` dan daftarkan kunci publiknya.",
        "The site key does not exist yet. Run `gerbang sync keygen` and register its public key.",
    )

    @classmethod
    def at(cls, path: Path) -> SiteKeyMissing:
        return cls(path=str(path))


class HasDataDir(Protocol):
    """Whatever knows the site's data folder (the site's Settings)."""

    @property
    def data_dir(self) -> Path: ...


def key_path(settings: HasDataDir) -> Path:
    """Where the site's private key lives."""
    return settings.data_dir / "keys" / "site_ed25519.pem"


def pending_path(path: Path) -> Path:
    """Where a rotation keeps the new key until the registry has accepted it."""
    return path.with_name(f"{path.stem}.next.pem")


class SiteKeyFile:
    """Signs with the key in a file, and reloads it when a rotation replaces the file."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise SiteKeyMissing.at(path)
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._key: Ed25519PrivateKey | None = None

    def private_key(self) -> Ed25519PrivateKey:
        """The key the file holds now."""
        stat = self.path.stat()
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if self._key is None or stamp != self._stamp:
                self._key, self._stamp = load_site_key(self.path), stamp
            return self._key

    def sign(self, data: bytes) -> bytes:
        """An Ed25519 signature with the current key."""
        return self.private_key().sign(data)

    def public_key(self) -> Ed25519PublicKey:
        """The public half of the current key."""
        return self.private_key().public_key()


def site_key(settings: HasDataDir) -> SiteKeyFile:
    """The site's key file, or SiteKeyMissing with the fix."""
    return SiteKeyFile(key_path(settings))


class KeyRegistrar(Protocol):
    """What a rotation needs from the registry (uplink.RegistryClient, or a fake)."""

    def rotate_key(self, signer: Signer, new_key: Ed25519PrivateKey) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Rotation:
    """A finished rotation: the new public key, the registry's word, where the old key went."""

    public_key: str
    previous_key: str
    registry_status: str  # rotated, or unchanged when a crashed run had got this far
    backup: Path


def rotate_site_key(path: Path, registry: KeyRegistrar) -> Rotation:
    """Replace the site key, registry first (see the module docstring for the crash cases)."""
    current = load_site_key(path)
    new_key = _pending_key(pending_path(path))
    try:
        answer = registry.rotate_key(current, new_key)
    except SyncRefused as exc:
        if exc.details.get("status") != UNAUTHENTICATED:
            raise
        answer = registry.rotate_key(new_key, new_key)  # the registry may hold it already
    backup = _promote(path, pending_path(path))
    return Rotation(
        public_key_text(new_key.public_key()),
        public_key_text(current.public_key()),
        str(answer.get("status", "")),
        backup,
    )


def replace_site_key(path: Path) -> Rotation:
    """A fresh key in place of one the registry no longer accepts (revoked): no request is sent,
    the central admin registers the new key (`gerbang registry sites set-key`). The old file is
    kept as a retired backup, and a rotation's pending key, if one was left, beside it."""
    current = load_site_key(path)
    pending = pending_path(path)
    # A key a crashed rotation left is never reused: the registry may have held it, and revoked it.
    if pending.exists():
        os.replace(pending, path.with_name(f"{path.stem}.abandoned-{_stamp()}.pem"))
    new_key = _pending_key(pending)
    backup = _promote(path, pending)
    return Rotation(
        public_key_text(new_key.public_key()), public_key_text(current.public_key()), "", backup
    )


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def _pending_key(pending: Path) -> Ed25519PrivateKey:
    """The key a rotation is under way with: the one left by a crashed run, or a new one."""
    if pending.exists():
        return load_site_key(pending)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    partial = pending.with_name(pending.name + ".partial")
    with open(partial, "wb", opener=lambda p, flags: os.open(p, flags, 0o600)) as out:
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, pending)  # never a half-written pending key
    _sync_folder(pending.parent)
    return key


def _promote(path: Path, pending: Path) -> Path:
    """Keep the current key as a backup, then put the pending key in its place (atomically)."""
    backup = path.with_name(f"{path.stem}.retired-{_stamp()}.pem")
    shutil.copy2(path, backup)  # keeps the 0600 mode
    os.replace(pending, path)
    _sync_folder(path.parent)
    return backup


def _sync_folder(folder: Path) -> None:
    """Make renames in a folder durable."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
