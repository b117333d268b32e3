"""Gate decisions: visitor entry and exit, staff in and out, inmate movements, overrides.

One face analysis per passage feeds every search the passage needs. Each decision records the
gate, passage, claimed identity, candidates and scores, thresholds with their target rates, the
pack, quality and liveness, and the result; it is stored with its audit event and outbox row in
one transaction. Nothing here waits on the network: the gate decides from the local gallery.

The rules live beside each other by kind: visitors.py (entry and exit), movements.py (staff and
inmate movements), overrides.py (what a supervisor does afterwards), on the shared steps of
steps.py and the recording of recording.py.
"""

from __future__ import annotations

from edge.gate.movements import StaffAndMovementPassages
from edge.gate.overrides import UNOVERRIDABLE, OfficerActions
from edge.gate.passage import GateDecision, GatePolicy
from edge.gate.steps import COOLDOWN, INMATE_STATUSES, MAX_FAILURES
from edge.gate.visitors import VisitorPassages

__all__ = [
    "COOLDOWN",
    "INMATE_STATUSES",
    "MAX_FAILURES",
    "UNOVERRIDABLE",
    "GateDecision",
    "GatePolicy",
    "GateService",
]


class GateService(VisitorPassages, StaffAndMovementPassages, OfficerActions):
    """Every decision a gate takes."""
