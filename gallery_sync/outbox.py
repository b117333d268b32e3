"""The outbox: every change a site makes, written in the same transaction as the change itself.

Its autoincrement `seq` is the site's sync sequence number; the registry keys what it applied by
(site, seq), so pushing a batch twice is harmless. Templates travel, photos do not (unless asked).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from enrollment.audit import now_iso


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
    connection: sqlite3.Connection, after_seq: int = 0, limit: int = 500
) -> list[OutboxRow]:
    """Changes after a sequence number, oldest first."""
    rows = connection.execute(
        "SELECT seq, kind, entity_id, payload, created_at FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
        (after_seq, limit),
    )
    return [OutboxRow(r[0], r[1], r[2], json.loads(r[3]), r[4]) for r in rows]
