"""Gate setup: configure a gate (its directions and the roles that may pass), audited."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict

from edge.gate.records import Gate
from edge.gate.unit_of_work import gate_work
from enrollment.db import Database
from kernel.errors import Conflict, Message


class GateExists(Conflict):
    code = "gate_exists"
    message = Message(
        "Gerbang dengan kode ini sudah ada.",
        "A gate with this id exists.",
    )


def add_gate(db: Database, gate: Gate, actor: str) -> Gate:
    """Store a new gate and its audit event; GateExists when the id is taken."""
    try:
        with gate_work(db) as uow:
            uow.gates.add_gate(gate)
            uow.audit(actor, "gate.configured", gate.id, asdict(gate))
    except sqlite3.IntegrityError as exc:
        raise GateExists(gate_id=gate.id) from exc
    return gate
