"""Storage of gates, gate decisions, visits, presence and failure counters (inside the caller's
transaction), and the errors a gate raises."""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from enrollment.audit import now_iso
from kernel.errors import Conflict, InputError, Message, NotFound

PASSAGES = {
    "visitor_entry": "in",
    "visitor_exit": "out",
    "staff_in": "in",
    "staff_out": "out",
    "release": "out",
    "transfer_out": "out",
    "court_out": "out",
    "court_in": "in",
}


class GateNotFound(NotFound):
    code = "gate_not_found"
    message = Message(
        "Gerbang tidak dikenal.",
        "Unknown gate.",
    )


class GateEventNotFound(NotFound):
    code = "gate_event_not_found"
    message = Message(
        "Kejadian gerbang tidak ditemukan.",
        "No such gate event.",
    )


class OverrideRefused(Conflict):
    code = "override_refused"
    message = Message(
        "Keputusan ini tidak dapat diubah dengan cara ini.",
        "This decision cannot be changed this way.",
    )


class InvalidGateConfig(InputError):
    code = "gate_config_invalid"
    message = Message(
        "Pengaturan gerbang tidak sah.",
        "The gate configuration is invalid.",
    )


@dataclass(frozen=True)
class Gate:
    """A configured gate: which directions it serves and which roles may pass it."""

    id: str
    name: str
    directions: tuple[str, ...]
    roles: tuple[str, ...]


@dataclass(frozen=True)
class GateEvent:
    """One recorded decision."""

    id: int
    gate_id: str
    at: str
    passage: str
    direction: str
    result: str
    reason: str
    claimed_identity_id: str | None
    matched_identity_id: str | None
    evidence: dict[str, Any]
    actor: str
    order_reference: str | None
    overrides_event_id: int | None
    alarm_cleared_by: str | None


def _gate_of(row: sqlite3.Row) -> Gate:
    return Gate(
        row["id"],
        row["name"],
        tuple(json.loads(row["directions"])),
        tuple(json.loads(row["roles"])),
    )


class GateStore:
    """SQL for the gate tables."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.db = connection

    def add_gate(self, gate: Gate) -> None:
        """Insert a gate checked by edge.gate.setup (IntegrityError when the id is taken)."""
        self.db.execute(
            "INSERT INTO gates (id, name, directions, roles, created_at) VALUES (?, ?, ?, ?, ?)",
            (
                gate.id,
                gate.name,
                json.dumps(list(gate.directions)),
                json.dumps(list(gate.roles)),
                now_iso(),
            ),
        )

    def gate(self, gate_id: str) -> Gate:
        row = self.db.execute("SELECT * FROM gates WHERE id = ?", (gate_id,)).fetchone()
        if row is None:
            raise GateNotFound(gate_id=gate_id)
        return _gate_of(row)

    def gates(self) -> list[Gate]:
        """Every configured gate, by id."""
        return [_gate_of(row) for row in self.db.execute("SELECT * FROM gates ORDER BY id")]

    def record(self, gate_id: str, passage: str, result: str, reason: str, evidence: dict[str, Any], actor: str,
               claimed: str | None = None, matched: str | None = None, order_reference: str | None = None,
               overrides: int | None = None, override_reason: str | None = None) -> GateEvent:  # fmt: skip
        """Store a decision and return it."""
        cursor = self.db.execute(
            "INSERT INTO gate_events (gate_id, at, passage, direction, result, reason, claimed_identity_id,"
            " matched_identity_id, evidence, actor, order_reference, overrides_event_id, override_reason)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (gate_id, now_iso(), passage, PASSAGES[passage], result, reason, claimed, matched,
             json.dumps(evidence, sort_keys=True, default=str), actor, order_reference, overrides, override_reason),
        )  # fmt: skip
        return self.event(int(cursor.lastrowid or 0))

    def event(self, event_id: int) -> GateEvent:
        row = self.db.execute("SELECT * FROM gate_events WHERE id = ?", (event_id,)).fetchone()
        if row is None:
            raise GateEventNotFound(event_id=event_id)
        return GateEvent(
            row["id"], row["gate_id"], row["at"], row["passage"], row["direction"], row["result"], row["reason"],
            row["claimed_identity_id"], row["matched_identity_id"], json.loads(row["evidence"]), row["actor"],
            row["order_reference"], row["overrides_event_id"], row["alarm_cleared_by"],
        )  # fmt: skip

    def overridden(self, event_id: int) -> bool:
        """True once a decision has been overridden (it may be, once)."""
        row = self.db.execute(
            "SELECT 1 FROM gate_events WHERE overrides_event_id = ?", (event_id,)
        ).fetchone()
        return row is not None

    def clear_alarm(self, event_id: int, supervisor: str, reason: str) -> None:
        self.db.execute(
            "UPDATE gate_events SET alarm_cleared_by = ?, alarm_cleared_at = ?, alarm_clear_reason = ? WHERE id = ?",
            (supervisor, now_iso(), reason, event_id),
        )

    def open_visit(
        self, visitor_id: str, inmate_id: str | None, gate_id: str, event_id: int
    ) -> str:
        visit_id = str(uuid.uuid4())
        self.db.execute(
            "INSERT INTO visits (id, visitor_id, inmate_id, state, entry_gate, entry_at, entry_event_id)"
            " VALUES (?, ?, ?, 'open', ?, ?, ?)",
            (visit_id, visitor_id, inmate_id, gate_id, now_iso(), event_id),
        )
        return visit_id

    def close_visit(self, visitor_id: str, gate_id: str, event_id: int) -> str | None:
        row = self.open_visit_of(visitor_id)
        if row is None:
            return None
        self.db.execute(
            "UPDATE visits SET state = 'closed', exit_gate = ?, exit_at = ?, exit_event_id = ? WHERE id = ?",
            (gate_id, now_iso(), event_id, row["id"]),
        )
        return str(row["id"])

    def open_visit_of(self, visitor_id: str) -> sqlite3.Row | None:
        return self.db.execute(
            "SELECT * FROM visits WHERE visitor_id = ? AND state = 'open'", (visitor_id,)
        ).fetchone()

    def visitors_inside(self) -> list[sqlite3.Row]:
        """Open visits with the visitor's and inmate's names, oldest first."""
        return list(self.db.execute(
            "SELECT v.id, v.visitor_id, vi.full_name AS visitor_name, v.inmate_id, im.full_name AS inmate_name,"
            " v.entry_gate, v.entry_at FROM visits v JOIN identities vi ON vi.id = v.visitor_id"
            " LEFT JOIN identities im ON im.id = v.inmate_id WHERE v.state = 'open' ORDER BY v.entry_at"
        ))  # fmt: skip

    def is_inside(self, identity_id: str) -> bool | None:
        row = self.db.execute(
            "SELECT inside FROM presence WHERE identity_id = ?", (identity_id,)
        ).fetchone()
        return None if row is None else bool(row[0])

    def set_inside(self, identity_id: str, inside: bool) -> None:
        self.db.execute(
            "INSERT INTO presence (identity_id, inside, since) VALUES (?, ?, ?)"
            " ON CONFLICT(identity_id) DO UPDATE SET inside = excluded.inside, since = excluded.since",
            (identity_id, int(inside), now_iso()),
        )

    def failures(self, subject: str, gate_id: str) -> tuple[int, str | None]:
        row = self.db.execute(
            "SELECT failures, last_at FROM gate_failures WHERE subject = ? AND gate_id = ?",
            (subject, gate_id),
        ).fetchone()
        return (row[0], row[1]) if row else (0, None)

    def count_failure(self, subject: str, gate_id: str) -> None:
        self.db.execute(
            "INSERT INTO gate_failures (subject, gate_id, failures, last_at) VALUES (?, ?, 1, ?)"
            " ON CONFLICT(subject, gate_id) DO UPDATE SET failures = failures + 1, last_at = excluded.last_at",
            (subject, gate_id, now_iso()),
        )

    def reset_failures(self, subject: str, gate_id: str) -> None:
        self.db.execute(
            "DELETE FROM gate_failures WHERE subject = ? AND gate_id = ?", (subject, gate_id)
        )


# A gate terminal shows the photo of the person its decision was about, for this long after.
DEVICE_PHOTO_WINDOW = timedelta(minutes=10)


def decided_recently(tx: sqlite3.Connection, gate_id: str | None, identity_id: str) -> bool:
    """Whether a decision at this gate named the person (claimed or matched) just now.

    A kiosk key lives in a browser on a public terminal: it may see the photo a passage needs,
    never browse everyone's photos of record.
    """
    if gate_id is None:
        return False
    since = (datetime.now(UTC) - DEVICE_PHOTO_WINDOW).isoformat(timespec="microseconds")
    found = tx.execute(
        "SELECT 1 FROM gate_events WHERE gate_id = ? AND at >= ?"
        " AND (matched_identity_id = ? OR claimed_identity_id = ?) LIMIT 1",
        (gate_id, since, identity_id, identity_id),
    )
    return found.fetchone() is not None
