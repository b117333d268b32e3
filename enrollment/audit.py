"""The tamper-evident audit log: append-only, each event carrying the hash of the one before.

An event's hash covers its sequence number, time, actor, action, subject, details and the
previous hash, so editing, deleting or reordering any event breaks every hash after it.
`verify_chain` says which event is the first that no longer fits. Events are appended inside
the caller's transaction, so an event exists exactly when the change it records exists.

A chain alone cannot show that its newest events were deleted, nor an edit whose every later hash
was recomputed. So the head travels, signed, with every push, and the registry keeps it (moving
only forward); the site records each head the registry accepted as an anchor (`audit_anchors`),
and `verify_anchored` checks the chain still reaches every anchor, and any head an auditor kept
(`gerbang audit verify --anchor SEQ:HASH`, e.g. from `gerbang registry audit site-heads`).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from kernel.clock import now_iso

GENESIS = "0" * 64
KEPT_ANCHORS = 20


def event_hash(
    seq: int, at: str, actor: str, action: str, subject: str, details: str, prev: str
) -> str:
    """The chained hash of one event (fields joined unambiguously as a JSON array)."""
    material = json.dumps([seq, at, actor, action, subject, details, prev], ensure_ascii=False)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def append_event(
    connection: sqlite3.Connection, actor: str, action: str, subject: str, details: dict[str, Any]
) -> str:
    """Append one event inside the caller's transaction; return its hash (the new chain head)."""
    last = connection.execute(
        "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    at = now_iso()
    body = json.dumps(details, sort_keys=True, ensure_ascii=False, default=str)
    digest = event_hash(seq, at, actor, action, subject, body, prev)
    connection.execute(
        "INSERT INTO audit_events (seq, at, actor, action, subject, details, prev_hash, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (seq, at, actor, action, subject, body, prev, digest),
    )
    return digest


@dataclass(frozen=True)
class ChainProblem:
    """The first event that does not fit the chain, and why (in English, and in Indonesian)."""

    seq: int
    reason: str
    reason_id: str


# Who holds an anchor, as `anchor_head` records it and an auditor's head is named, in Indonesian.
WITNESSES_ID = {"the registry": "registri", "kept by an auditor": "auditor"}


def verify_chain(connection: sqlite3.Connection) -> ChainProblem | None:
    """None when every event fits; otherwise the first broken link."""
    prev, expected_seq = GENESIS, 1
    rows = connection.execute(
        "SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_events ORDER BY seq"
    )
    for seq, at, actor, action, subject, details, prev_hash, digest in rows:
        if seq != expected_seq:
            return ChainProblem(expected_seq, f"event {expected_seq} is missing (next is {seq})",
                                f"peristiwa {expected_seq} hilang (berikutnya {seq})")  # fmt: skip
        if prev_hash != prev:
            return ChainProblem(seq, "does not point to the event before it (deleted or reordered)",
                                "tidak menunjuk ke peristiwa sebelumnya (dihapus atau diubah urutannya)")  # fmt: skip
        if event_hash(seq, at, actor, action, subject, details, prev_hash) != digest:
            return ChainProblem(seq, "its content was changed after it was written",
                                "isinya diubah setelah ditulis")  # fmt: skip
        prev, expected_seq = digest, seq + 1
    return None


def chain_head(connection: sqlite3.Connection) -> tuple[int, str]:
    """(sequence, hash) of the newest event; it travels with every sync batch."""
    row = connection.execute(
        "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    return (row[0], row[1]) if row else (0, GENESIS)


def anchor_head(connection: sqlite3.Connection, seq: int, digest: str, witness: str) -> None:
    """Record a head witnessed outside the database (inside the caller's transaction)."""
    if seq > 0:
        connection.execute(
            "INSERT OR IGNORE INTO audit_anchors (seq, hash, anchored_at, witness) VALUES (?, ?, ?, ?)",
            (seq, digest, now_iso(), witness),
        )
        # The newest anchor commits to every event before it (its hash chains them all), so a
        # few are kept, not one per push for ever.
        connection.execute(
            "DELETE FROM audit_anchors WHERE seq NOT IN"
            " (SELECT seq FROM audit_anchors ORDER BY seq DESC LIMIT ?)",
            (KEPT_ANCHORS,),
        )


def verify_anchored(
    connection: sqlite3.Connection, kept: list[tuple[int, str]] | None = None
) -> ChainProblem | None:
    """The chain's first broken link; else the first anchor (recorded or `kept` by an auditor)
    that the chain no longer reaches or no longer holds: truncation or a re-hashed rewrite."""
    if problem := verify_chain(connection):
        return problem
    head_seq = chain_head(connection)[0]
    anchors = [(int(r[0]), str(r[1]), str(r[2])) for r in
               connection.execute("SELECT seq, hash, witness FROM audit_anchors ORDER BY seq")]  # fmt: skip
    anchors += [(seq, digest, "kept by an auditor") for seq, digest in kept or []]
    for seq, digest, witness in sorted(anchors):
        holder = WITNESSES_ID.get(witness, witness)
        if seq > head_seq:
            return ChainProblem(head_seq + 1, f"events {head_seq + 1}..{seq} are missing: the chain"
                                f" ends at {head_seq} but {witness} holds head {seq} (truncated)",
                                f"peristiwa {head_seq + 1}..{seq} hilang: rantai berakhir di"
                                f" {head_seq} padahal {holder} memegang kepala {seq} (dipotong)")  # fmt: skip
        row = connection.execute("SELECT hash FROM audit_events WHERE seq = ?", (seq,)).fetchone()
        if row is None or row[0] != digest:
            return ChainProblem(seq, f"differs from the head {witness} holds: the chain was"
                                " rewritten and re-hashed from here or before",
                                f"berbeda dari kepala yang dipegang {holder}: rantai ditulis ulang"
                                " dan di-hash ulang mulai dari sini atau sebelumnya")  # fmt: skip
    return None
