"""What a supervisor does after the gate decided: admit a denial (with a reason, carrying out
what the passage would have done) or clear an alarm (which is never admitted)."""

from __future__ import annotations

from typing import Any

from edge.gate.passage import GateDecision, Passage
from edge.gate.records import GateEvent, OverrideRefused
from edge.gate.steps import GateSteps
from edge.gate.unit_of_work import gate_reading, gate_work

# A ban is a decision about the person, taken by the site; a gate override must not undo it.
UNOVERRIDABLE = frozenset({"visitor_banned", "watchlist_match"})


class OfficerActions(GateSteps):
    """Overrides and alarm clearing."""

    def override(self, event_id: int, supervisor: str, reason: str) -> GateDecision:
        """A supervisor admits someone the gate denied; an alarm can only be cleared, never admitted."""
        with gate_reading(self.db, self.vault) as uow:
            original = uow.gates.event(event_id)
            claimed = (
                uow.identities.get(original.claimed_identity_id)
                if original.claimed_identity_id
                else None
            )
        if original.result != "deny":
            raise OverrideRefused(
                reason=f"only a denial can be overridden; this was {original.result}"
            )
        if original.reason in UNOVERRIDABLE:
            raise OverrideRefused(
                reason=f"a '{original.reason}' denial is lifted by changing the ban, not at the gate"
            )
        ctx = Passage(
            original.gate_id, original.passage, supervisor, claimed, original.order_reference
        )
        ctx.evidence = {"original_event": event_id, "original_reason": original.reason}
        person = claimed.id if claimed else original.matched_identity_id
        return self._decide(ctx, "admit", "override", matched=person, overrides=(event_id, reason),
                            **passage_consequences(original.passage, person))  # fmt: skip

    def clear_alarm(self, event_id: int, supervisor: str, reason: str) -> GateEvent:
        """A supervisor acknowledges an alarm with a reason; it stays in the log."""
        with gate_work(self.db, self.vault) as uow:
            store = uow.gates
            event = store.event(event_id)
            if event.result != "alarm" or event.alarm_cleared_by:
                raise OverrideRefused(reason="not an uncleared alarm")
            store.clear_alarm(event_id, supervisor, reason)
            uow.record("gate.alarm_cleared", str(event_id), {"by": supervisor, "reason": reason},
                       supervisor, {"reason": reason})  # fmt: skip
            return store.event(event_id)


def passage_consequences(passage: str, person: str | None) -> dict[str, Any]:
    """What admitting this passage does, so an override carries it out like a normal admit."""
    if person is None:
        return {}
    if passage == "visitor_entry":
        return {"open_visit_for": ""}
    if passage == "visitor_exit":
        return {"close_visit": True}
    if passage in ("staff_in", "staff_out"):
        return {"presence": passage == "staff_in"}
    return {"movement": passage}  # release, transfer_out, court_out, court_in
