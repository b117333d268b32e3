"""The registry's audit trail as a hash chain, as at a site (enrollment/audit.py): each event
carries the hash of the one before, so editing, deleting or reordering an event breaks the chain
from that event on, even for someone who can switch the append-only trigger off.

The hash covers the event's time, actor, action, subject, details and the previous hash. Not its
id: PostgreSQL draws the id while inserting, after the hash must be known; order is proven by
the links instead. `journal.audit` appends under the journal lock, so the chain never forks.
Events written before the chain existed (NULL hash) come first and are counted, not checked.

Details are hashed in one canonical JSON text that survives a round trip through JSONB: sorted
keys, and a float that JSONB would hand back as an integer (an integral value of 1e16 or more)
is an integer already.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from registry.db import Connection

GENESIS = "0" * 64
PAGE = 2000
_EXACT_FLOAT_LIMIT = 1e16  # from here on Python writes 1e+16 and JSONB answers 10000000000000000


def _plain(value: Any) -> Any:
    """The value as JSONB will give it back."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value) if abs(value) >= _EXACT_FLOAT_LIMIT else value
    return value


def canonical_details(details: dict[str, Any]) -> str:
    """The one text of an event's details that is stored (as JSONB) and hashed."""
    loaded = json.loads(json.dumps(details, default=str))  # datetimes, UUIDs... become text
    return json.dumps(_plain(loaded), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def time_text(at: datetime | str) -> str:
    """An event time as hashed: UTC, ISO 8601 with microseconds."""
    when = datetime.fromisoformat(at) if isinstance(at, str) else at
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def event_hash(at: str, actor: str, action: str, subject: str, details: str, prev: str) -> str:
    """The chained hash of one event (fields joined unambiguously as a JSON array)."""
    material = json.dumps([at, actor, action, subject, details, prev], ensure_ascii=False)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def chain_head(tx: Connection) -> str:
    """The hash the next event must point to (GENESIS before the first chained event)."""
    row = tx.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    return str(row["hash"]) if row is not None and row["hash"] else GENESIS


@dataclass(frozen=True)
class AuditBreak:
    """The first event that does not fit the chain, and why."""

    event_id: int
    reason: str


@dataclass(frozen=True)
class AuditChainReport:
    """What a verification saw: events before the chain, events checked, the head, a break."""

    unchained: int
    checked: int
    head: str
    broken: AuditBreak | None

    @property
    def ok(self) -> bool:
        """True when no event breaks the chain."""
        return self.broken is None


def verify_audit_chain(tx: Connection) -> AuditChainReport:
    """Walk the audit trail in id order; report the first event that breaks the chain."""
    unchained = checked = 0
    prev, last_id = GENESIS, 0
    while rows := tx.execute(
        "SELECT id, at, actor, action, subject, details, prev_hash, hash FROM audit"
        " WHERE id > %s ORDER BY id LIMIT %s",
        (last_id, PAGE),
    ).fetchall():
        for row in rows:
            last_id = int(row["id"])
            if row["hash"] is None and checked == 0:
                unchained += 1
                continue
            if problem := _problem(row, prev):
                return AuditChainReport(unchained, checked, prev, AuditBreak(last_id, problem))
            prev, checked = row["hash"], checked + 1
    return AuditChainReport(unchained, checked, prev, None)


def _problem(row: dict[str, Any], prev: str) -> str | None:
    """Why this event does not follow `prev`, or None."""
    if row["hash"] is None:
        return "has no hash: written around the chain"
    if row["prev_hash"] != prev:
        return "does not point to the event before it (an event was deleted or reordered)"
    stored = row["details"]
    details = canonical_details(json.loads(stored) if isinstance(stored, str) else stored)
    digest = event_hash(
        time_text(row["at"]), row["actor"], row["action"], row["subject"], details, prev
    )
    if digest != row["hash"]:
        return "its content was changed after it was written"
    return None
