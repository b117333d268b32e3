"""The outbox: every change a site makes, written in the same transaction as the change itself.

Its autoincrement `seq` is the site's sync sequence number; the registry keys what it applied by
(site, seq), so pushing a batch twice is harmless. Templates travel, photos do not (unless asked).

A batch is capped by bytes as well as by count: a photo sent on request weighs as much as
thousands of gate events, and the registry refuses a batch past its size limit whole.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from kernel.clock import now_iso

ROW_OVERHEAD_BYTES = 256  # seq, kind, entity_id, created_at and JSON punctuation around a payload


@dataclass(frozen=True)
class OutboxRow:
    """One change waiting to be pushed."""

    seq: int
    kind: str
    entity_id: str
    payload: dict[str, Any]
    created_at: str


def append_change(
    connection: sqlite3.Connection, kind: str, entity_id: str, payload: dict[str, Any]
) -> int:
    """Record a change inside the caller's transaction; return its sequence number."""
    cursor = connection.execute(
        "INSERT INTO outbox (kind, entity_id, payload, created_at) VALUES (?, ?, ?, ?)",
        (kind, entity_id, json.dumps(payload, sort_keys=True, default=str), now_iso()),
    )
    return int(cursor.lastrowid or 0)


def pending(
    connection: sqlite3.Connection,
    after_seq: int = 0,
    limit: int = 500,
    max_bytes: int | None = None,
) -> list[OutboxRow]:
    """Changes after a sequence number, oldest first (as many as fit in max_bytes of JSON, if given).

    The first change is always included, whatever its size, so the outbox never stalls.
    Sizes are read first, so a window of large photos is not loaded only to be cut.
    """
    # Biometrics wait sealed, base64 inside the JSON (enrollment/vault.py): they travel opened,
    # a quarter smaller, so that is the size counted.
    sizes = connection.execute(
        "SELECT seq, length(CAST(payload AS BLOB))"
        " - COALESCE(length(json_extract(payload, '$.sealed_b64')), 0) / 4"
        " FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
        (after_seq, limit),
    )
    last, total = None, 0
    for seq, size in sizes:
        total += int(size) + ROW_OVERHEAD_BYTES
        if last is not None and max_bytes is not None and total > max_bytes:
            break
        last = seq
    if last is None:
        return []
    rows = connection.execute(
        "SELECT seq, kind, entity_id, payload, created_at FROM outbox WHERE seq > ? AND seq <= ?"
        " ORDER BY seq",
        (after_seq, last),
    )
    return [OutboxRow(r[0], r[1], r[2], json.loads(r[3]), r[4]) for r in rows]


def drop_delivered_photos(connection: sqlite3.Connection, after_seq: int, through: int) -> int:
    """Remove the image from acknowledged photo.provided rows; return how many were trimmed.

    The registry holds the photo now; the outbox row keeps its sha256 as the record of what was
    sent, not a second, unsealed copy of the image.
    """
    return connection.execute(
        "UPDATE outbox SET payload = json_remove(payload, '$.image_b64', '$.sealed_b64')"
        " WHERE seq > ? AND seq <= ? AND kind = 'photo.provided'",
        (after_seq, through),
    ).rowcount
