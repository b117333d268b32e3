"""The staff and inmate-movement rules: staff in and out (1:N among active staff, with
anti-passback, one person at a time), and an inmate's release, transfer or court movement (1:1
against their own record, with the order).

An inmate movement is escorted, so other faces in its frame (the escort) are expected: it is
neither denied as 'more than one person' nor searched for other inmates, and the claim is
verified on the subject, the largest face.
"""

from __future__ import annotations

from edge.gate.passage import GateDecision, Passage
from edge.gate.steps import INMATE_STATUSES, GateSteps
from edge.gate.unit_of_work import gate_reading
from enrollment.fused import FingerProbe
from kernel.errors import GerbangError, InputError, Message

MOVEMENTS = ("release", "transfer_out", "court_out", "court_in")


class StaffAndMovementPassages(GateSteps):
    """Staff passages and escorted inmate movements."""

    def staff_passage(self, gate_id: str, image: bytes, actor: str, direction: str,
                      finger: FingerProbe | None = None) -> GateDecision:  # fmt: skip
        """A staff member in or out: 1:N among active staff (face fused with a finger when one is
        presented), with anti-passback."""
        passage = "staff_in" if direction == "in" else "staff_out"
        ctx = Passage(gate_id, passage, actor, finger=finger)
        leaving = "inmate_leaving" if direction == "out" else None
        refusal = self._gate_allows(ctx, "staff") or self._analyse(ctx, image, alarm=leaving)
        if refusal:
            return refusal
        # Nobody leaving may be an inmate, on any face (or finger): a staff exit is an exit too.
        if direction == "out" and (
            inmate := self._best(ctx, ("inmate",), INMATE_STATUSES, everyone=True)
        ):
            return self._decide(ctx, "alarm", "inmate_leaving", matched=inmate.identity_id)
        if len(ctx.people) > 1:  # the subject is named, so that an override marks their presence
            staff = self._best(ctx, ("staff",), ("active",))
            return self._crowded(ctx, staff.identity_id if staff else None)
        if refusal := self._finger_given(ctx) or self._presentable(ctx):
            return refusal
        return self._staff_member(ctx, direction)

    def _staff_member(self, ctx: Passage, direction: str) -> GateDecision:
        """The one person at the gate must be active staff, and not already in (or out)."""
        staff = self._best(ctx, roles=("staff",), statuses=("active",))
        if self._finger_required(ctx) and ctx.finger_problem is not None:
            return self._finger_refused(ctx)
        if staff is None:
            return self._decide(ctx, "deny", "staff_unknown")
        if refusal := self._no_finger_enrolled(ctx, staff.identity_id):
            return refusal
        with gate_reading(self.db, self.vault) as uow:
            inside = uow.gates.is_inside(staff.identity_id)
        if inside is not None and inside == (direction == "in"):
            return self._decide(
                ctx, "deny", "already_inside" if inside else "not_inside", matched=staff.identity_id
            )
        return self._decide(
            ctx, "admit", "staff_verified", matched=staff.identity_id, presence=direction == "in"
        )

    def inmate_movement(self, gate_id: str, image: bytes, actor: str, inmate_id: str, passage: str,
                        order_reference: str, finger: FingerProbe | None = None) -> GateDecision:  # fmt: skip
        """Release, transfer or court movement: 1:1 against the inmate's own record, with the order."""
        if passage not in MOVEMENTS:
            raise _bad_passage(passage)
        if not order_reference.strip():
            raise _missing_order()
        ctx = Passage(gate_id, passage, actor, order_reference=order_reference, finger=finger)
        refusal = self._gate_allows(ctx, "inmate") or self._claim(ctx, inmate_id, "inmate")
        refusal = refusal or self._cooldown(ctx) or self._analyse(ctx, image)
        refusal = refusal or self._finger_given(ctx) or self._presentable(ctx)
        refusal = refusal or self._verify_claim(ctx)
        if refusal:
            return refusal
        assert ctx.claimed is not None
        return self._decide(
            ctx, "admit", "movement_verified", matched=ctx.claimed.id, movement=passage
        )


def _bad_passage(passage: str) -> GerbangError:
    return InputError(
        Message("Jenis perpindahan tidak dikenal.", "Unknown movement type."), {"passage": passage}
    )


def _missing_order() -> GerbangError:
    return InputError(
        Message("Nomor surat perintah wajib diisi.", "The order reference is required."),
        {"field": "order_reference"},
    )
