"""The seam where biometric bytes are sealed before they are stored and opened after they are read.

Every sealed value names the row it belongs to (`aad_for(table, column, owner)`): the name is
authenticated with the bytes, so a ciphertext copied into another person's row fails to open.
`PlainVault` keeps bytes as given (unit tests of other seams); the site uses `SealedVault`
(enrollment/keyring.py), AES-256-GCM under a per-site data key.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Protocol

# Outbox fields that carry biometrics: moved into one sealed field while the row waits.
BIOMETRIC_FIELDS = ("templates", "iso_record_b64", "image_b64")
SEALED_FIELD = "sealed_b64"


class Vault(Protocol):
    """Seals bytes for storage and opens them again, bound to the row they belong to."""

    def seal(self, plain: bytes, aad: bytes) -> bytes: ...

    def open(self, sealed: bytes, aad: bytes) -> bytes: ...


class PlainVault:
    """No encryption: the bytes are stored as given."""

    def seal(self, plain: bytes, aad: bytes) -> bytes:  # noqa: ARG002 (the Protocol's signature)
        return plain

    def open(self, sealed: bytes, aad: bytes) -> bytes:  # noqa: ARG002
        return sealed


def aad_for(table: str, column: str, owner: str | int) -> bytes:
    """The associated data naming a stored value's row: table, column and owning identity
    (or capture session); a value moved to another owner or column no longer opens."""
    return f"gerbang/{table}/{column}/{owner}".encode()


def outbox_aad(kind: str, entity_id: str) -> bytes:
    """Associated data of an outbox row's sealed biometrics."""
    return aad_for("outbox", f"payload:{kind}", entity_id)


def seal_payload(
    vault: Vault, kind: str, entity_id: str, payload: dict[str, Any]
) -> dict[str, Any]:
    """The payload with its biometric fields replaced by one sealed field (others stay readable)."""
    secret = {k: payload[k] for k in BIOMETRIC_FIELDS if k in payload}
    if not secret:
        return payload
    plain = json.dumps(secret, sort_keys=True).encode()
    sealed = vault.seal(plain, outbox_aad(kind, entity_id))
    rest = {k: v for k, v in payload.items() if k not in secret}
    return {**rest, SEALED_FIELD: base64.b64encode(sealed).decode()}


def open_payload(
    vault: Vault, kind: str, entity_id: str, payload: dict[str, Any]
) -> dict[str, Any]:
    """The payload as it was given to `seal_payload` (biometric fields opened)."""
    if SEALED_FIELD not in payload:
        return payload
    rest = {k: v for k, v in payload.items() if k != SEALED_FIELD}
    sealed = base64.b64decode(payload[SEALED_FIELD])
    return {**rest, **json.loads(vault.open(sealed, outbox_aad(kind, entity_id)))}
