"""Changes the registry refused one by one, set aside so the rest of the outbox keeps flowing.

A change the registry cannot take (a NUL in a name typed by older software, a field too large)
used to be retried forever, and nothing behind it reached the registry. The agent now sets such
a change aside here, with the registry's reason, and sends in its place a small
`sync.withheld` change under the same seq (the registry's cursor must stay contiguous; it keeps
the placeholder as a site event and shows it in the site's report). Pulls never stop.

Every open dead letter is an alarm (`gerbang sync status`, `/ready`, the metrics, the registry's
report) until an officer resolves it: `retry` appends the original change again as a new outbox
row (after the registry or the record was fixed), `drop` gives it up; both need a reason, are
audited, and send `sync.withheld_resolved` so the registry's report clears too.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Literal

from enrollment.audit import append_event
from enrollment.db import Database
from gallery_sync.outbox import OutboxRow, append_change
from kernel.clock import now_iso
from kernel.errors import Conflict, Message, NotFound
from kernel.text import check_text

WITHHELD_KIND = "sync.withheld"
RESOLVED_KIND = "sync.withheld_resolved"
# Beyond this many open dead letters the agent stops setting changes aside and stops pushing:
# so many refusals mean the registry or this software is wrong, not one record.
MAX_OPEN = 20
Resolution = Literal["retried", "dropped"]


class DeadLetterNotFound(NotFound):
    code = "dead_letter_not_found"
    message = Message(
        "Tidak ada perubahan tertahan dengan nomor urut itu. Lihat `gerbang sync status`.",
        "No withheld change has that sequence number. See `gerbang sync status`.",
    )


class DeadLetterResolved(Conflict):
    code = "dead_letter_resolved"
    message = Message(
        "Perubahan tertahan ini sudah diselesaikan sebelumnya.",
        "This withheld change was already resolved.",
    )


@dataclass(frozen=True)
class DeadLetter:
    """One change set aside, and what became of it."""

    seq: int
    kind: str
    entity_id: str
    code: str
    reason: dict[str, Any]
    dead_at: str
    resolution: str | None = None
    resolved_by: str | None = None
    resolved_reason: str | None = None
    retried_as: int | None = None


def set_aside(
    tx: sqlite3.Connection, row: OutboxRow, code: str, reason: dict[str, Any], actor: str
) -> None:
    """Record the change as refused (inside the caller's transaction); audited."""
    tx.execute(
        "INSERT INTO sync_dead_letters (seq, kind, entity_id, code, reason, dead_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (row.seq, row.kind, row.entity_id, code, json.dumps(reason, default=str)[:4000], now_iso()),
    )
    append_event(tx, actor, "sync.change_withheld", str(row.seq),
                 {"kind": row.kind, "entity_id": row.entity_id, "code": code})  # fmt: skip


def withheld(tx: sqlite3.Connection, first: int, last: int) -> dict[int, str]:
    """seq → code of the changes set aside in a range (resolved or not: the seq stays withheld)."""
    rows = tx.execute(
        "SELECT seq, code FROM sync_dead_letters WHERE seq BETWEEN ? AND ?", (first, last)
    )
    return {int(seq): str(code) for seq, code in rows}


def placeholder(row: OutboxRow, code: str) -> tuple[str, dict[str, Any]]:
    """(kind, payload) sent under a withheld change's seq: what it was and why, no content."""
    return WITHHELD_KIND, {"kind": row.kind, "code": code}


def open_count(tx: sqlite3.Connection) -> int:
    """How many dead letters wait for an officer."""
    found = tx.execute("SELECT COUNT(*) FROM sync_dead_letters WHERE resolution IS NULL")
    return int(found.fetchone()[0])


def open_count_now(db: Database) -> int:
    """Open dead letters, read in a snapshot of their own (for /ready)."""
    with db.reading() as tx:
        return open_count(tx)


def listed(
    tx: sqlite3.Connection, only_open: bool = True, limit: int = 50, seq: int | None = None
) -> list[DeadLetter]:
    """Dead letters, oldest first (only those still open, by default; or the one at `seq`)."""
    rows = tx.execute(
        "SELECT seq, kind, entity_id, code, reason, dead_at, resolution, resolved_by,"
        " resolved_reason, retried_as FROM sync_dead_letters"
        " WHERE (? = 0 OR resolution IS NULL) AND (? IS NULL OR seq = ?) ORDER BY seq LIMIT ?",
        (int(only_open), seq, seq, limit),
    )
    return [DeadLetter(r[0], r[1], r[2], r[3], json.loads(r[4]), *r[5:]) for r in rows]


def resolve(db: Database, seq: int, action: Resolution, actor: str, reason: str) -> DeadLetter:
    """Retry (the original change again, as a new outbox row) or drop one dead letter; audited."""
    check_text(reason, "reason", 500, multiline=True)
    with db.transaction() as tx:
        found = listed(tx, only_open=False, seq=seq)
        if not found:
            raise DeadLetterNotFound(seq=seq)
        if found[0].resolution is not None:
            raise DeadLetterResolved(seq=seq, resolution=found[0].resolution)
        retried_as = None
        if action == "retried":
            kind, entity_id, payload = tx.execute(
                "SELECT kind, entity_id, payload FROM outbox WHERE seq = ?", (seq,)
            ).fetchone()
            retried_as = append_change(tx, kind, entity_id, json.loads(payload))
        tx.execute(
            "UPDATE sync_dead_letters SET resolution = ?, resolved_by = ?, resolved_reason = ?,"
            " resolved_at = ?, retried_as = ? WHERE seq = ?",
            (action, actor, reason, now_iso(), retried_as, seq),
        )
        note = {"withheld_seq": seq, "resolution": action, "retried_as": retried_as}
        append_change(tx, RESOLVED_KIND, found[0].entity_id, note)
        append_event(tx, actor, f"sync.withheld_{action}", str(seq), {**note, "reason": reason})
        return listed(tx, only_open=False, seq=seq)[0]
