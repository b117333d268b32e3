"""Signed checkpoints of the registry's audit chain, so truncation and re-hashing are found.

A hash chain shows an edited event, but not its newest events deleted, nor an edit with every
later hash recomputed by someone who can switch the append-only trigger off. A checkpoint states
(newest event id, its hash, how many events) at a moment, signed with the registry's audit key
(Ed25519, `REGISTRY_AUDIT_KEY_FILE`, created 0600 on first use). The service writes one every
`REGISTRY_AUDIT_CHECKPOINT_MINUTES` when the chain has grown; `gerbang registry audit
checkpoints` exports them as JSON lines for an auditor to keep elsewhere, and `audit verify
[--checkpoints FILE]` proves the chain still holds each one (those stored here and those kept).
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from registry.audit_chain import AuditBreak
from registry.db import Connection

KIND = "gerbang-registry-audit-checkpoint"


def audit_key(path: Path) -> Ed25519PrivateKey:
    """The registry's audit signing key, created (mode 0600, from the first byte) when missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process of this registry made it first
            pass
        else:
            with os.fdopen(descriptor, "wb") as out:
                out.write(pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return key


def public_text(key: Ed25519PublicKey) -> str:
    """The public key as base64 of its 32 raw bytes (what an auditor pins)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def statement_bytes(checkpoint: dict[str, Any]) -> bytes:
    """The exact bytes signed: the statement's fields, canonical JSON."""
    fields = {k: checkpoint[k] for k in ("kind", "at", "event_id", "events", "head")}
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def make_checkpoint(tx: Connection, key: Ed25519PrivateKey) -> dict[str, Any] | None:
    """Sign and store a checkpoint of the chain as it is now; None when nothing was added since
    the last one (or the chain is empty)."""
    newest = tx.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    if newest is None or not newest["hash"]:
        return None
    last = tx.execute("SELECT event_id FROM audit_checkpoints ORDER BY id DESC LIMIT 1").fetchone()
    if last is not None and int(last["event_id"]) == int(newest["id"]):
        return None
    events = tx.execute("SELECT count(*) AS n FROM audit WHERE id <= %s", (newest["id"],))
    checkpoint: dict[str, Any] = {
        "kind": KIND,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "event_id": int(newest["id"]),
        "events": int(events.fetchone()["n"]),
        "head": str(newest["hash"]),
        "public_key": public_text(key.public_key()),
    }
    checkpoint["signature"] = base64.b64encode(key.sign(statement_bytes(checkpoint))).decode()
    tx.execute(
        "INSERT INTO audit_checkpoints (at, event_id, events, head, public_key, signature)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (datetime.fromisoformat(checkpoint["at"]), checkpoint["event_id"], checkpoint["events"],
         checkpoint["head"], checkpoint["public_key"], checkpoint["signature"]),
    )  # fmt: skip
    return checkpoint


def stored_checkpoints(tx: Connection) -> list[dict[str, Any]]:
    """Every checkpoint kept in the database, oldest first, as exported."""
    rows = tx.execute(
        "SELECT at, event_id, events, head, public_key, signature FROM audit_checkpoints ORDER BY id"
    ).fetchall()
    return [{"kind": KIND, **dict(r), "at": _time(r["at"])} for r in rows]


@dataclass(frozen=True)
class CheckpointReport:
    """How many checkpoints were checked, and the first that the chain no longer holds."""

    checked: int
    broken: AuditBreak | None


def verify_checkpoints(
    tx: Connection, checkpoints: list[dict[str, Any]], public_key: Ed25519PublicKey
) -> CheckpointReport:
    """Check each checkpoint's signature, then that the chain still holds its event, hash and
    count: a missing newest event is truncation, another hash a rewrite."""
    newest = tx.execute("SELECT max(id) AS id FROM audit").fetchone()["id"] or 0
    for n, checkpoint in enumerate(sorted(checkpoints, key=lambda c: int(c["event_id"]))):
        event_id = int(checkpoint["event_id"])
        if reason := _refusal(tx, checkpoint, public_key, int(newest)):
            return CheckpointReport(n, AuditBreak(event_id, reason))
    return CheckpointReport(len(checkpoints), None)


def _refusal(
    tx: Connection, checkpoint: dict[str, Any], public_key: Ed25519PublicKey, newest: int
) -> str | None:
    event_id, at = int(checkpoint["event_id"]), checkpoint["at"]
    try:
        public_key.verify(base64.b64decode(checkpoint["signature"]), statement_bytes(checkpoint))
    except (InvalidSignature, ValueError):
        return f"the checkpoint of {at} is not signed by this registry's audit key"
    if event_id > newest:
        return (f"events {newest + 1}..{event_id} are missing: the chain ends at {newest} but the"
                f" checkpoint of {at} holds event {event_id} (truncated)")  # fmt: skip
    row = tx.execute("SELECT hash FROM audit WHERE id = %s", (event_id,)).fetchone()
    if row is None or row["hash"] != checkpoint["head"]:
        return f"differs from the checkpoint of {at}: the chain was rewritten and re-hashed"
    count = tx.execute("SELECT count(*) AS n FROM audit WHERE id <= %s", (event_id,))
    if int(count.fetchone()["n"]) != int(checkpoint["events"]):
        return f"events up to it were deleted since the checkpoint of {at}"
    return None


def _time(value: Any) -> str:
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.astimezone(UTC).isoformat(timespec="seconds")
