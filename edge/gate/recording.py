"""Storing a gate decision with its consequences, audit event and outbox row in one transaction."""

from __future__ import annotations

from edge.gate.messages import REASONS
from edge.gate.passage import GateDecision, Passage
from edge.gate.records import GateEvent, OverrideRefused
from edge.gate.unit_of_work import GateUnitOfWork, gate_work
from enrollment.db import Database
from enrollment.matching import Matcher
from enrollment.records import Identity
from enrollment.repository import IdentityNotFound, IdentityRepository
from enrollment.vault import Vault


class DecisionRecorder:
    """Writes decisions: the event, what it opens, closes or changes, and the failure counter."""

    def __init__(self, db: Database, vault: Vault, matcher: Matcher) -> None:
        self.db, self.vault, self.matcher = db, vault, matcher

    def record(self, ctx: Passage, result: str, reason: str, matched: str | None = None,
               open_visit_for: str | None = None, close_visit: bool = False, presence: bool | None = None,
               movement: str | None = None, overrides: tuple[int, str] | None = None,
               count_failure: bool = True) -> GateDecision:  # fmt: skip
        """Store the decision and its consequences in one transaction."""
        claimed_id = ctx.claimed.id if ctx.claimed else None
        with gate_work(self.db, self.vault) as uow:
            store = uow.gates
            # Re-read the visit inside the write transaction: two gates (or the camera and the
            # kiosk) deciding on the same visitor at once must not both let them through.
            if overrides and store.overridden(overrides[0]):
                raise OverrideRefused(reason="this decision has already been overridden")
            subject = matched or claimed_id
            if close_visit and subject and store.open_visit_of(subject) is None:
                result, reason, close_visit = "deny", "no_open_visit", False
            if open_visit_for is not None and subject and store.open_visit_of(subject) is not None:
                result, reason, open_visit_for = "deny", "already_inside", None
            event = store.record(ctx.gate_id, ctx.passage, result, reason, ctx.evidence or {}, ctx.actor, claimed_id,
                                 matched, ctx.order_reference, *(overrides or (None, None)))  # fmt: skip
            visit_id = self._consequences(
                uow, event, open_visit_for, close_visit, presence, movement
            )
            if claimed_id and result == "admit":
                store.reset_failures(claimed_id, ctx.gate_id)
            elif claimed_id and result == "deny" and count_failure:
                store.count_failure(claimed_id, ctx.gate_id)
            body = {"event_id": event.id, "passage": ctx.passage, "result": result, "reason": reason,
                    "claimed": claimed_id, "matched": matched, "visit_id": visit_id}  # fmt: skip
            # An override's reason is in the chain with the decision it overrides.
            override = (
                {"override": {"event": overrides[0], "reason": overrides[1]}} if overrides else {}
            )
            uow.record("gate.event", str(event.id), body, ctx.actor, {**body, "evidence": ctx.evidence, **override},
                       action=f"gate.{result}", subject=ctx.gate_id)  # fmt: skip
            who = identity_or_none(uow.identities, matched) or ctx.claimed
        if movement in ("release", "transfer_out") and who is not None:
            self.matcher.reproject(who.id)  # the gallery follows the commit
        return GateDecision(event, REASONS[reason], who, visit_id)

    def _consequences(self, uow: GateUnitOfWork, event: GateEvent, open_visit_for: str | None,
                      close_visit: bool, presence: bool | None, movement: str | None) -> str | None:  # fmt: skip
        """Open or close a visit, mark presence, or change an inmate's status, as decided."""
        subject, store = event.matched_identity_id or event.claimed_identity_id, uow.gates
        if open_visit_for is not None and subject:
            return store.open_visit(subject, open_visit_for or None, event.gate_id, event.id)
        if close_visit and subject:
            return store.close_visit(subject, event.gate_id, event.id)
        if presence is not None and subject:
            store.set_inside(subject, presence)
        if movement and subject:
            self._apply_movement(uow, subject, movement)
        return None

    def _apply_movement(self, uow: GateUnitOfWork, inmate_id: str, movement: str) -> None:
        if movement in ("release", "transfer_out"):
            status = "released" if movement == "release" else "transferred_out"
            uow.identities.set_status(inmate_id, status)
        else:
            uow.gates.set_inside(inmate_id, movement == "court_in")


def identity_or_none(repo: IdentityRepository, identity_id: str | None) -> Identity | None:
    """The matched person, or None when the gallery is ahead of the database (mid-sync or
    mid-erasure): the decision is still recorded rather than lost to a lookup error."""
    if identity_id is None:
        return None
    try:
        return repo.get(identity_id)
    except IdentityNotFound:
        return None
