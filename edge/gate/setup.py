"""Gate setup: configure a gate (its directions and the roles that may pass), audited.

The one path POST /v1/gates and `gerbang gate add` share: the rules a definition must meet
(`check_gate`), the insert and its audit event (`add_gate`), and for the console, where a setup
script may run twice, `ensure_gate`, which accepts the same definition again.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import asdict

from edge.gate.records import Gate, InvalidGateConfig
from edge.gate.unit_of_work import gate_reading, gate_work
from enrollment.db import Database
from kernel.errors import Conflict, Message

GATE_ID_PATTERN = r"^[A-Za-z0-9._-]+$"
GATE_ID_MAX_LENGTH = 40
GATE_NAME_MAX_LENGTH = 100
DIRECTIONS = ("in", "out")
ROLES = ("inmate", "staff", "visitor")

BAD_ID = Message(
    "Kode gerbang harus 1-40 huruf, angka, titik, garis bawah atau tanda hubung.",
    "A gate id is 1-40 letters, digits, dots, underscores or hyphens.",
)
BAD_NAME = Message(
    "Nama gerbang harus 1-100 karakter.",
    "A gate name is 1-100 characters.",
)
BAD_DIRECTIONS = Message(
    "Arah gerbang harus in dan/atau out.",
    "A gate's directions are in and/or out.",
)
BAD_ROLES = Message(
    "Peran yang boleh lewat harus inmate, staff dan/atau visitor.",
    "The roles that may pass are inmate, staff and/or visitor.",
)
DIFFERENT = Message(
    "Gerbang dengan kode ini sudah ada dengan pengaturan lain; pengaturannya tidak diubah.",
    "A gate with this id exists with another definition; it was not changed.",
)


class GateExists(Conflict):
    code = "gate_exists"
    message = Message(
        "Gerbang dengan kode ini sudah ada.",
        "A gate with this id exists.",
    )


def check_gate(gate: Gate) -> None:
    """InvalidGateConfig, saying what to fix, unless the site can use this definition."""
    if len(gate.id) > GATE_ID_MAX_LENGTH or not re.fullmatch(GATE_ID_PATTERN, gate.id):
        raise InvalidGateConfig(BAD_ID, id=gate.id)
    if not 1 <= len(gate.name) <= GATE_NAME_MAX_LENGTH:
        raise InvalidGateConfig(BAD_NAME, name=gate.name)
    if not gate.directions or set(gate.directions) - set(DIRECTIONS):
        raise InvalidGateConfig(BAD_DIRECTIONS, directions=",".join(gate.directions))
    if not gate.roles or set(gate.roles) - set(ROLES):
        raise InvalidGateConfig(BAD_ROLES, roles=",".join(gate.roles))


def add_gate(db: Database, gate: Gate, actor: str) -> Gate:
    """Store a new gate and its audit event; GateExists when the id is taken."""
    check_gate(gate)
    try:
        with gate_work(db) as uow:
            uow.gates.add_gate(gate)
            uow.audit(actor, "gate.configured", gate.id, asdict(gate))
    except sqlite3.IntegrityError as exc:
        raise GateExists(gate_id=gate.id) from exc
    return gate


def same_definition(one: Gate, other: Gate) -> bool:
    """Same id, name, directions and roles (their order means nothing at the gate)."""
    return (one.id, one.name, set(one.directions), set(one.roles)) == (
        other.id, other.name, set(other.directions), set(other.roles)
    )  # fmt: skip


def describe(gate: Gate) -> str:
    """A definition on one line, as the console shows it."""
    return (
        f"name {gate.name!r}, directions {','.join(gate.directions)}, roles {','.join(gate.roles)}"
    )


def ensure_gate(db: Database, gate: Gate, actor: str) -> bool:
    """Add the gate (True), or find it already configured the same way (False, nothing written).

    An id holding another definition is GateExists naming both: the API has no update, so
    changing a gate stays a deliberate act rather than a side effect of re-running a setup.
    """
    try:
        add_gate(db, gate, actor)
    except GateExists:
        with gate_reading(db) as uow:
            configured = uow.gates.gate(gate.id)
        if same_definition(configured, gate):
            return False
        raise GateExists(
            DIFFERENT, gate_id=gate.id, configured=describe(configured), asked=describe(gate)
        ) from None
    return True
