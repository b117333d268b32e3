"""Reads for the gate's pages, API and console: visitors inside, open alarms, a gate's recent
decisions, terminals per gate."""

from __future__ import annotations

from typing import Any

from edge.gate.records import Gate, GateEvent, decided_recently
from edge.gate.unit_of_work import gate_reading
from enrollment.db import Database


def visitors_inside(db: Database) -> list[dict[str, Any]]:
    """Open visits with the visitor's and inmate's names, oldest first."""
    with gate_reading(db) as uow:
        return [dict(row) for row in uow.gates.visitors_inside()]


def open_alarms(db: Database, gate_id: str | None = None) -> list[GateEvent]:
    """Alarms no supervisor has cleared yet, oldest first (at one gate, when given)."""
    with gate_reading(db) as uow:
        rows = uow.connection.execute(
            "SELECT id FROM gate_events WHERE result = 'alarm' AND alarm_cleared_by IS NULL"
            " AND (? IS NULL OR gate_id = ?) ORDER BY id",
            (gate_id, gate_id),
        ).fetchall()
        return [uow.gates.event(r[0]) for r in rows]


def events_after(db: Database, gate_id: str, after: int, limit: int) -> list[GateEvent]:
    """Decisions at a known gate after an event id, oldest first (GateNotFound otherwise)."""
    with gate_reading(db) as uow:
        uow.gates.gate(gate_id)
        rows = uow.connection.execute(
            "SELECT id FROM gate_events WHERE gate_id = ? AND id > ? ORDER BY id LIMIT ?",
            (gate_id, after, min(max(limit, 1), 200)),
        ).fetchall()
        return [uow.gates.event(r[0]) for r in rows]


def photo_needed_at_gate(db: Database, gate_id: str | None, identity_id: str) -> bool:
    """Whether a decision at this gate just named the person, so its kiosk may show their photo."""
    with gate_reading(db) as uow:
        return decided_recently(uow.connection, gate_id, identity_id)


def devices_by_gate(db: Database) -> dict[str, int]:
    """Active terminals per gate id, including gates not configured yet."""
    with gate_reading(db) as uow:
        rows = uow.connection.execute(
            "SELECT gate_id, COUNT(*) FROM devices WHERE active = 1 GROUP BY gate_id"
        ).fetchall()
    return {str(row[0]): int(row[1]) for row in rows}


def configured_gates(db: Database) -> list[Gate]:
    """Every gate configured at the site, by id."""
    with gate_reading(db) as uow:
        return uow.gates.gates()
