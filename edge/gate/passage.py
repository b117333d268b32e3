"""What a gate passage carries: the policy it is held to, what it gathers, and its decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edge.gate.records import GateEvent
from enrollment.fused import FingerProbe
from enrollment.fused_search import PersonEvidence
from enrollment.records import Identity
from kernel.errors import Message
from models.engine import FaceAnalysis


@dataclass(frozen=True)
class GatePolicy:
    """What the gate demands of a face beyond matching."""

    liveness_threshold: float = 0.5
    require_liveness: bool = True
    # Visitor exit: an inmate candidate is a look-alike, not an escape, only when the face matches
    # a visitor inside far above that search's threshold AND much better than the inmate: an
    # inmate's face scores high against their own identity template, so an escaping inmate
    # would have to look more like someone else than like themselves. 1.0 disables the rule.
    lookalike_visitor_margin: float = 0.02  # visitor score at least its threshold plus this
    lookalike_margin: float = 0.03  # and at least the inmate score plus this
    # Passages that must present a finger (EDGE_GATE__REQUIRE_FINGER_*): visitor_exit,
    # staff (in and out) and movement (release, transfer, court).
    finger_required: frozenset[str] = frozenset()


@dataclass(frozen=True)
class GateDecision:
    """What the kiosk shows: the result, why (in both languages), who, and the stored event."""

    event: GateEvent
    message: Message
    identity: Identity | None
    visit_id: str | None = None


@dataclass
class Passage:
    """What one passage has gathered so far: it becomes the evidence."""

    gate_id: str
    passage: str
    actor: str
    claimed: Identity | None = None
    order_reference: str | None = None
    probe: FaceAnalysis | None = None  # the subject: the person passing
    people: list[FaceAnalysis] = field(default_factory=list)  # everyone at the gate, subject first
    finger: FingerProbe | None = None  # a fingerprint presented with the claim, fused with the face
    evidence: dict[str, Any] | None = None
    # The subject's fused 1:N evidence by person, from the last fused search (visitors.py reads it)
    fused_people: dict[str, PersonEvidence] = field(default_factory=dict)
    finger_problem: str | None = None  # why the presented finger could not be used

    def note(self, key: str, value: Any) -> None:
        self.evidence = {**(self.evidence or {}), key: value}
