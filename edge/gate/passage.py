"""What a gate passage carries: the policy it is held to, what it gathers, and its decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edge.gate.records import GateEvent
from enrollment.fused import FingerProbe
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

    def note(self, key: str, value: Any) -> None:
        self.evidence = {**(self.evidence or {}), key: value}
