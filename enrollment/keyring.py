"""Encryption at rest: the site's data keys, wrapped by a key-encryption key (KEK) the operator holds.

Biometrics are sealed with AES-256-GCM under a random per-site data key. The data key is stored
in the database only wrapped (AES-GCM again) by the KEK, which never touches the database: a
passphrase (scrypt-derived), a key file on separate media, or the same through systemd
credentials. A stolen disk or backup without the KEK holds nothing usable. A key file beside the
database is for development only, and /ready says so. It is made only for a database that holds
no data key yet: one holding wrapped keys was wrapped by another KEK (a backup restored without
its key file), which a new key could never unwrap (`KekMissing`).

A sealed value is `MAGIC | key id (4 bytes) | nonce (12) | ciphertext + tag`, so values sealed
under an older data key keep opening while `gerbang keys rotate` re-seals them. `seal` reads which
key is active on every call, inside the caller's write transaction: that is what lets a rotation
delete the old key without waiting for running processes (enrollment/resealing.py `rotate`).
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import sqlite3
import struct
import threading
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from enrollment.db import Database
from kernel.clock import now_iso
from kernel.errors import GerbangError, Message

MAGIC = b"\xa7GV1"
HEADER = len(MAGIC) + 4 + 12
KEY_BYTES = 32
SCRYPT = {"n": 2**15, "r": 8, "p": 1, "maxmem": 64 * 1024 * 1024}
REFRESH_SECONDS = 5.0  # the registry's vault: how soon a replica seals with a rotated-in key
DEV_KEK_NAME = "vault-dev.key"
CREDENTIAL_KEK, CREDENTIAL_PASSPHRASE = "gerbang-kek", "gerbang-passphrase"
ACTIVE_KEY = "SELECT MAX(id) FROM vault_keys WHERE state = 'active'"


class KeyUnavailable(GerbangError):
    code = "vault_key_unavailable"
    status = 503
    message = Message(
        "Kunci enkripsi data biometrik tidak cocok atau tidak terbaca. Pasang kunci (KEK) yang benar"
        " lalu jalankan ulang layanan.",
        "The key that unlocks the biometric data is wrong or unreadable. Provide the right key"
        " (KEK) and restart the service.",
    )


class KekMissing(KeyUnavailable):
    code = "vault_kek_missing"
    message = Message(
        "Basis data ini sudah menyimpan kunci data yang dibungkus kunci pengembangan, tetapi"
        " berkas vault-dev.key tidak ada di sampingnya (misalnya setelah pemulihan cadangan)."
        " Letakkan kembali vault-dev.key yang dipakai saat cadangan dibuat di folder data (atau"
        " atur EDGE_KEY__KEK_FILE ke KEK situs), lalu jalankan ulang. Kunci baru tidak dibuat"
        " karena tidak akan bisa membuka data ini.",
        "This database already holds data keys wrapped by the development key, but the file"
        " vault-dev.key is not beside it (after a restore, for example). Put back the"
        " vault-dev.key the backup was made with, in the data folder (or set EDGE_KEY__KEK_FILE"
        " to the site's KEK), then start again. No new key was made: it could never open this"
        " data.",
    )


# The data keys were wrapped by an operator's KEK, and none is set.
KEK_NOT_SET = Message(
    "Kunci data di basis data ini dibungkus oleh KEK situs, tetapi tidak ada KEK yang diatur."
    " Atur EDGE_KEY__KEK_FILE (berkas kunci), EDGE_KEY__PASSPHRASE_FILE (frasa sandi) atau"
    " kredensial systemd seperti saat data ini dibuat, lalu jalankan ulang. Kunci pengembangan"
    " tidak dibuat karena tidak akan bisa membuka data ini.",
    "The data keys in this database are wrapped by the site's KEK, but no KEK is set. Set"
    " EDGE_KEY__KEK_FILE (a key file), EDGE_KEY__PASSPHRASE_FILE (a passphrase) or the systemd"
    " credential as when this data was made, then start again. No development key was made: it"
    " could never open this data.",
)


class SealBroken(GerbangError):
    code = "vault_seal_broken"
    status = 503
    message = Message(
        "Data biometrik tersimpan rusak atau dipindahkan dari barisnya dan tidak dapat dibuka."
        " Pulihkan dari cadangan atau hubungi admin situs.",
        "Stored biometric data is damaged or was moved from its row and cannot be opened."
        " Restore from a backup or call the site administrator.",
    )


@dataclass(frozen=True)
class Kek:
    """A key-encryption key: raw key bytes, or a passphrase stretched with scrypt per salt."""

    kind: str  # passphrase | key_file | credential | development
    secret: bytes
    stretch: bool
    source: str

    def wrapping_key(self, salt: bytes) -> bytes:
        if not self.stretch:
            return self.secret
        return hashlib.scrypt(self.secret, salt=salt, dklen=KEY_BYTES, **SCRYPT)  # type: ignore[arg-type]

    @property
    def development(self) -> bool:
        return self.kind == "development"


def read_key_file(path: Path) -> bytes:
    """32 raw bytes, or their base64 on one line."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise KeyUnavailable(path=str(path), reason=str(exc)) from exc
    if len(raw) == KEY_BYTES:
        return raw
    try:
        decoded = base64.b64decode(raw.strip(), validate=True)
    except ValueError:
        decoded = b""
    if len(decoded) != KEY_BYTES:
        raise KeyUnavailable(path=str(path), reason="a key file holds 32 bytes (or their base64)")
    return decoded


def write_key_file(path: Path) -> None:
    """A new random key file, readable by its owner only; kept as it is if one appeared meanwhile
    (two processes starting together: the link makes the file whole or absent, never half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(base64.b64encode(secrets.token_bytes(KEY_BYTES)) + b"\n")
            out.flush()
            os.fsync(out.fileno())
        os.link(partial, path)
    except FileExistsError:
        pass
    finally:
        partial.unlink(missing_ok=True)


def passphrase_kek(path: Path, kind: str = "passphrase") -> Kek:
    try:
        phrase = path.read_bytes().rstrip(b"\r\n")
    except OSError as exc:
        raise KeyUnavailable(path=str(path), reason=str(exc)) from exc
    if len(phrase) < 12:
        raise KeyUnavailable(path=str(path), reason="a passphrase has at least 12 characters")
    return Kek(kind, phrase, True, str(path))


def supplied_kek(passphrase_file: Path | None, kek_file: Path | None) -> Kek | None:
    """The KEK the operator supplied (settings, then systemd credentials), or None."""
    if passphrase_file and kek_file:
        raise KeyUnavailable(reason="set EDGE_KEY__PASSPHRASE_FILE or EDGE_KEY__KEK_FILE, not both")
    if passphrase_file:
        return passphrase_kek(passphrase_file)
    if kek_file:
        return Kek("key_file", read_key_file(kek_file), False, str(kek_file))
    if credentials := os.environ.get("CREDENTIALS_DIRECTORY"):
        folder = Path(credentials)
        if (folder / CREDENTIAL_KEK).is_file():
            key = read_key_file(folder / CREDENTIAL_KEK)
            return Kek("credential", key, False, str(folder / CREDENTIAL_KEK))
        if (folder / CREDENTIAL_PASSPHRASE).is_file():
            return passphrase_kek(folder / CREDENTIAL_PASSPHRASE, "credential")
    return None


def development_kek(data_dir: Path, wrapped_by: Collection[str]) -> Kek:
    """The development key file in `data_dir`, created on first use; refused (never made) when
    the database already holds data keys, `wrapped_by` these KEK kinds: a new key could not
    unwrap them, and left beside them it would mislead."""
    dev = data_dir / DEV_KEK_NAME
    if not dev.exists():
        if "development" in wrapped_by:
            raise KekMissing(path=str(dev), wrapped_by=sorted(wrapped_by))
        if wrapped_by:
            raise KekMissing(KEK_NOT_SET, wrapped_by=sorted(wrapped_by))
        write_key_file(dev)
    return Kek("development", read_key_file(dev), False, str(dev))


def resolve_kek(
    passphrase_file: Path | None, kek_file: Path | None, data_dir: Path, db: Database | None = None
) -> Kek:
    """The KEK the operator supplied, else the development key file beside the database.

    Give `db`, the database whose keys it unwraps: the development file is then refused rather
    than made when that database already holds wrapped data keys.
    """
    supplied = supplied_kek(passphrase_file, kek_file)
    if supplied is not None:
        return supplied
    kinds = db.query("SELECT DISTINCT kek_kind FROM vault_keys") if db is not None else []
    return development_kek(data_dir, {str(r[0]) for r in kinds})


def stored_keys(database: Path) -> list[tuple[int, bytes, bytes, str]]:
    """(id, salt, wrapped, kek kind) of every data key in a site's database file, read without
    writing anything; none when there is no database, or it predates encryption at rest."""
    if not database.is_file():
        return []
    connection = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = connection.execute("SELECT id, salt, wrapped, kek_kind FROM vault_keys ORDER BY id")
        return [(int(r[0]), bytes(r[1]), bytes(r[2]), str(r[3])) for r in rows]
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        connection.close()


def _wrap_aad(key_id: int) -> bytes:
    return f"gerbang/vault_keys/{key_id}".encode()


def wrap(kek: Kek, key_id: int, data_key: bytes) -> tuple[bytes, bytes]:
    """(salt, wrapped data key)."""
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    sealed = AESGCM(kek.wrapping_key(salt)).encrypt(nonce, data_key, _wrap_aad(key_id))
    return salt, nonce + sealed


def unwrap(kek: Kek, key_id: int, salt: bytes, wrapped: bytes, kind: str) -> bytes:
    try:
        return AESGCM(kek.wrapping_key(salt)).decrypt(wrapped[:12], wrapped[12:], _wrap_aad(key_id))
    except InvalidTag as exc:
        raise KeyUnavailable(
            key_id=key_id, wrapped_by=kind, given=kek.kind, source=kek.source,
            reason="this KEK does not unwrap the site's data key",
        ) from exc  # fmt: skip


def load_keys(db: Database, kek: Kek) -> tuple[dict[int, bytes], int]:
    """Every data key (unwrapped) and the active one's id; the first start creates one.

    Reads without a transaction of its own: a value may be opened inside the caller's.
    """
    select = "SELECT id, salt, wrapped, kek_kind, state FROM vault_keys"
    rows = db.query(select)
    if not rows:
        with db.transaction() as tx:
            if not tx.execute(select).fetchall():
                salt, wrapped = wrap(kek, 1, secrets.token_bytes(KEY_BYTES))
                tx.execute(
                    "INSERT INTO vault_keys (id, salt, wrapped, kek_kind, state, created_at)"
                    " VALUES (1, ?, ?, ?, 'active', ?)",
                    (salt, wrapped, kek.kind, now_iso()),
                )
        rows = db.query(select)
    keys = {r[0]: unwrap(kek, r[0], r[1], r[2], r[3]) for r in rows}
    active = [r[0] for r in rows if r[4] == "active"]
    return keys, max(active)


class SealedVault:
    """AES-256-GCM under the site's data keys; safe to share between threads."""

    def __init__(self, db: Database, kek: Kek) -> None:
        self.db, self.kek = db, kek
        self._lock = threading.Lock()
        self._ciphers: dict[int, AESGCM] = {}
        self.active = 0
        self.reload()

    def reload(self) -> None:
        """Read the data keys again (another process rotated them)."""
        keys, active = load_keys(self.db, self.kek)
        with self._lock:
            self._ciphers = {k: AESGCM(v) for k, v in keys.items()}
            self.active = active

    def _active(self) -> tuple[int, AESGCM]:
        # Read on every seal, on this vault's connection: inside the caller's write transaction
        # it is the key that transaction commits beside, never one a rotation already retired.
        key_id = int(self.db.query(ACTIVE_KEY)[0][0])
        if key_id not in self._ciphers:
            self.reload()  # rotated in by another process: unwrap it
        self.active = key_id
        return key_id, self._ciphers[key_id]

    def seal(self, plain: bytes, aad: bytes) -> bytes:
        """Seal under the active data key; call it inside the write transaction (on this vault's
        Database) that stores the value, so a rotation re-seals it or it is under the new key."""
        (key_id, cipher), nonce = self._active(), secrets.token_bytes(12)
        head = MAGIC + struct.pack(">I", key_id) + nonce
        return head + cipher.encrypt(nonce, plain, aad)

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        key_id = key_id_of(sealed)
        if key_id is None:
            raise SealBroken(reason="not a sealed value", aad=aad.decode(errors="replace"))
        if key_id not in self._ciphers:
            self.reload()
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise SealBroken(reason=f"unknown data key {key_id}", aad=aad.decode(errors="replace"))
        try:
            return cipher.decrypt(sealed[len(MAGIC) + 4 : HEADER], sealed[HEADER:], aad)
        except InvalidTag as exc:
            raise SealBroken(
                reason="authentication failed (altered, or moved from another row)",
                aad=aad.decode(errors="replace"),
            ) from exc

    def opens(self, value: bytes, aad: bytes) -> bool:
        """Whether a stored value is sealed and opens here (used to tell clear rows apart)."""
        try:
            self.open(value, aad)
        except SealBroken:
            return False
        return True


def key_id_of(value: bytes) -> int | None:
    """The data key a sealed value names, or None if it does not look sealed."""
    if len(value) < HEADER + 16 or not value.startswith(MAGIC):
        return None
    return int(struct.unpack(">I", value[len(MAGIC) : len(MAGIC) + 4])[0])
