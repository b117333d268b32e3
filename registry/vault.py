"""Encryption at rest at the registry: its own data keys, wrapped by the operator's KEK.

The same scheme as a site (enrollment/keyring.py, whose KEK choices and sealed format this
reuses): AES-256-GCM under a random data key, the value bound to its row by associated data
(`aad_for(table, column, owner)`), the data key stored in `vault_keys` only wrapped by a KEK
from `REGISTRY_KEY__PASSPHRASE_FILE`, `REGISTRY_KEY__KEK_FILE` or systemd credentials. Without
one, a development key file is created in `REGISTRY_KEY__DEV_DIR` and /v1/health says so.

Sealed here: face templates (`national_templates.vector`), ISO finger records
(`national_fingers.iso_record`), delivered photos (`national_photos.image`), the biometric
fields of changes waiting for sites (`change_log.payload`: transfers, watchlist entries) and
quarantined batch bodies. `registry/resealing.py` seals rows written before (on start,
resumable) and re-seals under a new key (`gerbang registry keys rotate`).
"""

from __future__ import annotations

import base64
import json
import secrets
import struct
import threading
import time
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict, Field

from enrollment.keyring import (
    DEV_KEK_NAME,
    HEADER,
    KEY_BYTES,
    MAGIC,
    REFRESH_SECONDS,
    Kek,
    KekMissing,
    SealBroken,
    development_kek,
    key_id_of,
    supplied_kek,
    unwrap,
    wrap,
)
from enrollment.vault import SEALED_FIELD, aad_for
from kernel.errors import Message
from registry.db import POSTGRES_SCHEMES, Connection, RegistryDatabase

__all__ = ["RegistryKeySettings", "RegistryVault", "aad_for", "is_sealed"]

# Fields of a change waiting for sites that carry biometrics (a transfer carries "fingers").
BIOMETRIC_FIELDS = ("templates", "fingers", "iso_record_b64", "image_b64")


# The database holds data keys and no KEK that could open them is there (a restore without it).
REGISTRY_KEK_MISSING = Message(
    "Basis data registri ini sudah menyimpan kunci data, tetapi KEK yang membungkusnya tidak ada."
    " Atur REGISTRY_KEY__KEK_FILE atau REGISTRY_KEY__PASSPHRASE_FILE seperti saat data ini dibuat"
    " (untuk registri pengembangan: letakkan kembali vault-dev.key di REGISTRY_KEY__DEV_DIR), lalu"
    " jalankan ulang. Kunci baru tidak dibuat karena tidak akan bisa membuka data ini.",
    "This registry database already holds data keys, but the KEK that wraps them is not here."
    " Set REGISTRY_KEY__KEK_FILE or REGISTRY_KEY__PASSPHRASE_FILE as when this data was made (for"
    " a development registry: put vault-dev.key back in REGISTRY_KEY__DEV_DIR), then start"
    " again. No new key was made: it could never open this data.",
)


class RegistryKeySettings(BaseModel):
    """Where the registry's key-encryption key comes from (else a development key file)."""

    model_config = ConfigDict(extra="forbid")

    passphrase_file: Path | None = Field(
        None, description="A file holding the KEK passphrase (12+ characters), on separate media."
    )
    kek_file: Path | None = Field(
        None, description="A file holding a 32-byte KEK (raw or base64), on separate media."
    )
    dev_dir: Path = Field(
        Path("var/registry-keys"),
        description="Where the development KEK is created when no KEK is given (never for real).",
    )


def is_sealed(value: bytes | memoryview | None) -> bool:
    """Whether a stored value is already sealed (by its header)."""
    return value is not None and key_id_of(bytes(value)) is not None


class RegistryVault:
    """AES-256-GCM under the registry's data keys; keys load on first use; thread-safe."""

    def __init__(self, db: RegistryDatabase, settings: RegistryKeySettings) -> None:
        self.db, self.settings = db, settings
        self._kek: Kek | None = None
        self._lock = threading.Lock()
        self._ciphers: dict[int, AESGCM] = {}
        self.active = 0
        self._checked = time.monotonic()

    @property
    def kek(self) -> Kek:
        if self._kek is None:
            self._kek = self._resolve_kek({str(r["kek_kind"]) for r in self._rows()})
        return self._kek

    def _resolve_kek(self, wrapped_by: set[str]) -> Kek:
        """The supplied KEK, else the development file; never a new development file for a
        database that already holds data keys (a restored one: it could not open them)."""
        s = self.settings
        supplied = supplied_kek(s.passphrase_file, s.kek_file)
        if supplied is not None:
            return supplied
        if wrapped_by and not (s.dev_dir / DEV_KEK_NAME).exists():
            raise KekMissing(REGISTRY_KEK_MISSING, wrapped_by=sorted(wrapped_by))
        return development_kek(s.dev_dir, ())

    def warnings(self) -> list[dict[str, str]]:
        """development_key when the KEK is the development file (biometrics as safe as it)."""
        if not self.kek.development:
            return []
        return [{"code": "development_key", "file": self.kek.source, "message":
                 "Kunci data biometrik registri adalah berkas pengembangan: atur"
                 " REGISTRY_KEY__PASSPHRASE_FILE atau REGISTRY_KEY__KEK_FILE. / The registry's"
                 " biometric data key is wrapped by a development file: set"
                 " REGISTRY_KEY__PASSPHRASE_FILE or REGISTRY_KEY__KEK_FILE."}]  # fmt: skip

    def ready(self) -> None:
        """Load the data keys, creating the first one (call before any transaction: start)."""
        with self._lock:
            rows = self._rows()
            if self._kek is None:  # resolved from these rows, before any transaction opens
                self._kek = self._resolve_kek({str(r["kek_kind"]) for r in rows})
            if not rows:
                with self.db.transaction() as tx:
                    if not tx.execute("SELECT id FROM vault_keys").fetchall():
                        add_data_key(tx, self.kek, 1)
                rows = self._rows()
            self._ciphers = {
                int(r["id"]): AESGCM(unwrap(self.kek, int(r["id"]), bytes(r["salt"]),
                                            bytes(r["wrapped"]), r["kek_kind"]))
                for r in rows
            }  # fmt: skip
            self.active = max(int(r["id"]) for r in rows if r["state"] == "active")

    def _rows(self) -> list[dict[str, Any]]:
        with self.db.transaction() as tx:
            return list(tx.execute("SELECT id, salt, wrapped, kek_kind, state FROM vault_keys"))

    def _refresh(self) -> None:
        """On PostgreSQL (where replicas share the keys), pick up a key another process rotated
        in, at most every REFRESH_SECONDS; `rotate` waits longer than that before re-sealing.
        SQLite (one process) needs no check, and a read there would wait on the caller's write."""
        if not self.db.url.startswith(POSTGRES_SCHEMES):
            return
        if time.monotonic() - self._checked < REFRESH_SECONDS:
            return
        self._checked = time.monotonic()
        if self.db.scalar("SELECT max(id) FROM vault_keys WHERE state = 'active'") != self.active:
            self.ready()

    def seal(self, plain: bytes, aad: bytes) -> bytes:
        if not self._ciphers:
            self.ready()
        self._refresh()
        key_id, nonce = self.active, secrets.token_bytes(12)
        return (
            MAGIC
            + struct.pack(">I", key_id)
            + nonce
            + self._ciphers[key_id].encrypt(nonce, plain, aad)
        )

    def open(self, sealed: bytes | memoryview, aad: bytes) -> bytes:
        value = bytes(sealed)
        key_id = key_id_of(value)
        if key_id is None:
            raise SealBroken(reason="not a sealed value", aad=aad.decode(errors="replace"))
        if key_id not in self._ciphers:
            self.ready()
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise SealBroken(reason=f"unknown data key {key_id}", aad=aad.decode(errors="replace"))
        try:
            return cipher.decrypt(value[len(MAGIC) + 4 : HEADER], value[HEADER:], aad)
        except InvalidTag as exc:
            raise SealBroken(reason="authentication failed (altered, or moved from another row)",
                             aad=aad.decode(errors="replace")) from exc  # fmt: skip

    def open_or_plain(self, value: bytes | memoryview, aad: bytes) -> bytes:
        """A stored value opened; a row not yet sealed (written before, resealing under way) as
        it is."""
        return self.open(value, aad) if is_sealed(value) else bytes(value)

    def seal_payload(self, kind: str, owner: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A change's payload with its biometric fields in one sealed field (others readable)."""
        secret = {k: payload[k] for k in BIOMETRIC_FIELDS if k in payload}
        if not secret:
            return payload
        sealed = self.seal(json.dumps(secret, sort_keys=True).encode(), _payload_aad(kind, owner))
        rest = {k: v for k, v in payload.items() if k not in secret}
        return {**rest, SEALED_FIELD: base64.b64encode(sealed).decode()}

    def open_payload(self, kind: str, owner: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The payload as given to `seal_payload`."""
        if SEALED_FIELD not in payload:
            return payload
        rest = {k: v for k, v in payload.items() if k != SEALED_FIELD}
        plain = self.open(base64.b64decode(payload[SEALED_FIELD]), _payload_aad(kind, owner))
        return {**rest, **json.loads(plain)}


def _payload_aad(kind: str, owner: str) -> bytes:
    return aad_for("change_log", f"payload:{kind}", owner)


def add_data_key(tx: Connection, kek: Kek, key_id: int) -> None:
    """A new random data key, stored wrapped, active (inside the caller's transaction)."""
    salt, wrapped = wrap(kek, key_id, secrets.token_bytes(KEY_BYTES))
    tx.execute(
        "INSERT INTO vault_keys (id, salt, wrapped, kek_kind, state) VALUES (%s, %s, %s, %s, 'active')",
        (key_id, salt, wrapped, kek.kind),
    )
