"""Gate decisions: visitor entry and exit, staff in and out, inmate movements, overrides.

One face analysis per passage feeds every search the passage needs. Each decision records the
gate, passage, claimed identity, candidates and scores, thresholds with their target rates, the
pack, quality and liveness, and the result; it is stored with its audit event and outbox row in
one transaction. Nothing here waits on the network: the gate decides from the local gallery.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from edge.errors import EdgeError, InputError, Message
from edge.gate.messages import REASONS
from edge.gate.records import PASSAGES, GateEvent, GateStore, OverrideRefused
from enrollment.audit import append_event
from enrollment.captures import FaceAnalyser
from enrollment.db import Database
from enrollment.fused import FingerProbe, FusedVerifier
from enrollment.identifiers import normalise_digits
from enrollment.matching import Matcher
from enrollment.records import Identity
from enrollment.repository import IdentityNotFound, IdentityRepository
from enrollment.service import MatchThresholds
from enrollment.vault import Vault
from gallery_sync.gallery import Candidate
from gallery_sync.outbox import append_change
from models.engine import FaceAnalysis

MAX_FAILURES = 5
# A ban is a decision about the person, taken by the site; a gate override must not undo it.
UNOVERRIDABLE = frozenset({"visitor_banned", "watchlist_match"})
COOLDOWN = timedelta(minutes=5)
INMATE_STATUSES = ("active",)


@dataclass(frozen=True)
class GatePolicy:
    """What the gate demands of a face beyond matching."""

    liveness_threshold: float = 0.5
    require_liveness: bool = True


@dataclass(frozen=True)
class GateDecision:
    """What the kiosk shows: the result, why (in both languages), who, and the stored event."""

    event: GateEvent
    message: Message
    identity: Identity | None
    visit_id: str | None = None


@dataclass
class _Context:
    """What one passage has gathered so far: it becomes the evidence."""

    gate_id: str
    passage: str
    actor: str
    claimed: Identity | None = None
    order_reference: str | None = None
    probe: FaceAnalysis | None = None
    finger: FingerProbe | None = None  # a fingerprint presented with the claim, fused with the face
    evidence: dict[str, Any] | None = None

    def note(self, key: str, value: Any) -> None:
        self.evidence = {**(self.evidence or {}), key: value}


class GateService:
    """Every decision a gate takes."""

    def __init__(
        self,
        db: Database,
        vault: Vault,
        engine: Callable[[], FaceAnalyser],
        matcher: Matcher,
        thresholds: Callable[[], MatchThresholds],
        policy: GatePolicy | None = None,
        fused: FusedVerifier | None = None,
    ) -> None:
        self.db, self.vault, self._engine, self.matcher = db, vault, engine, matcher
        self._thresholds = thresholds
        self.policy = policy or GatePolicy()
        self.fused = fused

    # --- passages -------------------------------------------------------------------------

    def visitor_entry(self, gate_id: str, image: bytes, actor: str, nik: str | None = None,
                      visitor_id: str | None = None, inmate_id: str | None = None,
                      finger: FingerProbe | None = None) -> GateDecision:  # fmt: skip
        """Verify the visitor 1:1, make sure no inmate and no banned visitor matches, open a visit."""
        ctx = _Context(gate_id, "visitor_entry", actor, finger=finger)
        refusal = self._gate_allows(ctx, "visitor") or self._analyse(ctx, image)
        if refusal:
            return refusal
        # An inmate's face at the gate is an alarm whatever card they hold (a stolen one, an
        # unknown NIK, their own id), so the face is searched before the claim is even looked at.
        if inmate := self._best(ctx, roles=("inmate",), statuses=INMATE_STATUSES):
            return self._decide(ctx, "alarm", "inmate_match_at_entry", matched=inmate.identity_id)
        refusal = self._claim_visitor(ctx, nik, visitor_id) or self._visitable(ctx, inmate_id)
        refusal = refusal or self._cooldown(ctx) or self._presentable(ctx)
        if refusal:
            return refusal
        # A banned face showing someone else's card is named as such, not as a mere mismatch.
        banned = self._best(ctx, roles=("visitor",), statuses=("banned",))
        if banned and ctx.claimed and banned.identity_id != ctx.claimed.id:
            return self._decide(ctx, "deny", "watchlist_match", matched=banned.identity_id)
        if refusal := self._verify_claim(ctx):
            return refusal
        return self._admit_visitor(ctx, inmate_id)

    def _admit_visitor(self, ctx: _Context, inmate_id: str | None) -> GateDecision:
        """After the face checks: anti-passback and the inmate visited."""
        assert ctx.claimed is not None
        with self.db.reading() as tx:
            inside = GateStore(tx).open_visit_of(ctx.claimed.id)
        if inside is not None:
            return self._decide(ctx, "deny", "already_inside")
        return self._decide(
            ctx, "admit", "visitor_verified", matched=ctx.claimed.id, open_visit_for=inmate_id or ""
        )

    def visitor_exit(self, gate_id: str, image: bytes, actor: str) -> GateDecision:
        """The face leaving must be a visitor with an open visit, and must not be an inmate."""
        ctx = _Context(gate_id, "visitor_exit", actor)
        refusal = self._gate_allows(ctx, "visitor") or self._analyse(ctx, image)
        if refusal:
            return refusal
        if inmate := self._best(ctx, roles=("inmate",), statuses=INMATE_STATUSES):
            return self._decide(ctx, "alarm", "inmate_leaving", matched=inmate.identity_id)
        if refusal := self._presentable(ctx):
            return refusal
        with self.db.reading() as tx:
            inside = [row["visitor_id"] for row in GateStore(tx).visitors_inside()]
        visitor = (
            self._best(ctx, roles=("visitor",), statuses=None, only=inside) if inside else None
        )
        if visitor is None:
            return self._decide(ctx, "deny", "no_open_visit")
        return self._decide(
            ctx, "admit", "visitor_exit_matched", matched=visitor.identity_id, close_visit=True
        )

    def staff_passage(self, gate_id: str, image: bytes, actor: str, direction: str) -> GateDecision:
        """A staff member in or out: 1:N among active staff, with anti-passback."""
        ctx = _Context(gate_id, "staff_in" if direction == "in" else "staff_out", actor)
        refusal = self._gate_allows(ctx, "staff") or self._analyse(ctx, image)
        if refusal:
            return refusal
        # Nobody leaving may be an inmate: a staff exit is an exit too.
        if direction == "out" and (inmate := self._best(ctx, ("inmate",), INMATE_STATUSES)):
            return self._decide(ctx, "alarm", "inmate_leaving", matched=inmate.identity_id)
        if refusal := self._presentable(ctx):
            return refusal
        staff = self._best(ctx, roles=("staff",), statuses=("active",))
        if staff is None:
            return self._decide(ctx, "deny", "staff_unknown")
        with self.db.reading() as tx:
            inside = GateStore(tx).is_inside(staff.identity_id)
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
        if passage not in ("release", "transfer_out", "court_out", "court_in"):
            raise _bad_passage(passage)
        if not order_reference.strip():
            raise _missing_order()
        ctx = _Context(gate_id, passage, actor, order_reference=order_reference, finger=finger)
        refusal = self._gate_allows(ctx, "inmate") or self._claim(ctx, inmate_id, "inmate")
        refusal = refusal or self._cooldown(ctx) or self._analyse(ctx, image)
        refusal = refusal or self._presentable(ctx) or self._verify_claim(ctx)
        if refusal:
            return refusal
        assert ctx.claimed is not None
        return self._decide(
            ctx, "admit", "movement_verified", matched=ctx.claimed.id, movement=passage
        )

    # --- officer actions ------------------------------------------------------------------

    def override(self, event_id: int, supervisor: str, reason: str) -> GateDecision:
        """A supervisor admits someone the gate denied; an alarm can only be cleared, never admitted."""
        with self.db.reading() as tx:
            original = GateStore(tx).event(event_id)
            claimed = (
                IdentityRepository(tx, self.vault).get(original.claimed_identity_id)
                if original.claimed_identity_id
                else None
            )
        if original.result != "deny":
            raise OverrideRefused.because(
                f"only a denial can be overridden; this was {original.result}"
            )
        if original.reason in UNOVERRIDABLE:
            raise OverrideRefused.because(
                f"a '{original.reason}' denial is lifted by changing the ban, not at the gate"
            )
        ctx = _Context(
            original.gate_id, original.passage, supervisor, claimed, original.order_reference
        )
        ctx.evidence = {"original_event": event_id, "original_reason": original.reason}
        person = claimed.id if claimed else original.matched_identity_id
        return self._decide(ctx, "admit", "override", matched=person, overrides=(event_id, reason),
                            **_passage_consequences(original.passage, person))  # fmt: skip

    def clear_alarm(self, event_id: int, supervisor: str, reason: str) -> GateEvent:
        """A supervisor acknowledges an alarm with a reason; it stays in the log."""
        with self.db.transaction() as tx:
            store = GateStore(tx)
            event = store.event(event_id)
            if event.result != "alarm" or event.alarm_cleared_by:
                raise OverrideRefused.because("not an uncleared alarm")
            store.clear_alarm(event_id, supervisor, reason)
            append_event(tx, supervisor, "gate.alarm_cleared", str(event_id), {"reason": reason})
            append_change(
                tx, "gate.alarm_cleared", str(event_id), {"by": supervisor, "reason": reason}
            )
            return store.event(event_id)

    # --- steps ------------------------------------------------------------------------------

    def _gate_allows(self, ctx: _Context, role: str) -> GateDecision | None:
        with self.db.reading() as tx:
            gate = GateStore(tx).gate(ctx.gate_id)
        if PASSAGES[ctx.passage] not in gate.directions or role not in gate.roles:
            return self._decide(ctx, "deny", "gate_not_for_passage")
        return None

    def _claim_visitor(
        self, ctx: _Context, nik: str | None, visitor_id: str | None
    ) -> GateDecision | None:
        if visitor_id:
            return self._claim(ctx, visitor_id, "visitor")
        with self.db.reading() as tx:
            typed = normalise_digits(nik) if nik else None  # "3201 0147..." as typed on a kiosk
            repo = IdentityRepository(tx, self.vault)
            found = repo.search({"nik": typed, "role": "visitor"}, 1) if typed else []
        if not found:
            return self._decide(ctx, "deny", "visitor_not_enrolled")
        return self._claim(ctx, found[0].id, "visitor")

    def _claim(self, ctx: _Context, identity_id: str, role: str) -> GateDecision | None:
        with self.db.reading() as tx:
            ctx.claimed = IdentityRepository(tx, self.vault).get(identity_id)
        if ctx.claimed.role != role:
            return self._decide(ctx, "deny", "identity_role_mismatch")
        if ctx.claimed.status == "banned":
            return self._decide(ctx, "deny", "visitor_banned")
        if ctx.claimed.status != "active":
            return self._decide(ctx, "deny", "identity_not_active")
        return None

    def _cooldown(self, ctx: _Context) -> GateDecision | None:
        assert ctx.claimed is not None
        with self.db.reading() as tx:
            failures, last_at = GateStore(tx).failures(ctx.claimed.id, ctx.gate_id)
        if failures < MAX_FAILURES or not last_at:
            return None
        until = datetime.fromisoformat(last_at) + COOLDOWN
        if until <= datetime.now(UTC):
            # The cool-down has run out: start counting afresh, or one more slip would lock again.
            with self.db.transaction() as tx:
                GateStore(tx).reset_failures(ctx.claimed.id, ctx.gate_id)
            return None
        ctx.note("failures", failures)
        ctx.note("retry_after", until.isoformat())
        return self._decide(ctx, "deny", "cooldown", count_failure=False)

    def _visitable(self, ctx: _Context, inmate_id: str | None) -> GateDecision | None:
        """The inmate a visitor names must exist and be held here (checked before any 1:1)."""
        if not inmate_id:
            return None
        with self.db.reading() as tx:
            visited = _identity_or_none(IdentityRepository(tx, self.vault), inmate_id)
        if visited is None or visited.role != "inmate" or visited.status != "active":
            ctx.note("inmate_id", inmate_id)
            return self._decide(ctx, "deny", "inmate_not_visitable", count_failure=False)
        return None

    def _analyse(self, ctx: _Context, image: bytes) -> GateDecision | None:
        engine = self._engine()
        try:
            ctx.probe = engine.analyse_bytes(image)
        except InputError as exc:
            ctx.note("face_error", exc.code)
            # No face or a blurred frame says nothing about who is there: it must not push a
            # real visitor into the cool-down.
            return self._decide(ctx, "deny", "face_unusable", count_failure=False)
        ctx.note("pack", engine.pack_id)
        ctx.note("quality", ctx.probe.quality.as_dict())
        ctx.note("live_score", ctx.probe.live_score)
        return None

    def _presentable(self, ctx: _Context) -> GateDecision | None:
        """Refuse a spoof-like or poor frame: only after the inmate search, so that an inmate's
        poor or photo-like frame still raises the alarm instead of a quiet 'try again'."""
        assert ctx.probe is not None
        live = ctx.probe.live_score
        if (
            self.policy.require_liveness
            and live is not None
            and live < self.policy.liveness_threshold
        ):
            ctx.note("liveness_threshold", self.policy.liveness_threshold)
            return self._decide(ctx, "deny", "not_live")
        if not ctx.probe.quality.accepted:
            ctx.note("quality_reasons", [r.as_dict() for r in ctx.probe.quality.reasons])
            return self._decide(ctx, "deny", "face_quality", count_failure=False)
        return None

    def _verify_claim(self, ctx: _Context) -> GateDecision | None:
        assert ctx.claimed is not None and ctx.probe is not None
        thresholds = self._thresholds()
        score = self.matcher.best_score(ctx.probe.template, ctx.claimed.id)
        ctx.note("verify", {"identity_id": ctx.claimed.id, "score": score, "threshold": thresholds.verify,
                            "target_fmr": thresholds.verify_fmr})  # fmt: skip
        if ctx.finger is not None and self.fused is not None:
            return self._verify_fused(ctx, score, thresholds.verify_fmr)
        if score is None or score < thresholds.verify:
            return self._decide(ctx, "deny", "face_mismatch")
        return None

    def _verify_fused(
        self, ctx: _Context, face_score: float | None, target_fmr: float
    ) -> GateDecision | None:
        """Face and finger fused at score level (or whichever is usable, at its own threshold)."""
        assert ctx.claimed is not None and ctx.finger is not None and self.fused is not None
        result = self.fused.verify(ctx.claimed.id, face_score, ctx.finger, target_fmr)
        d = result.decision
        ctx.note("fused", {"used": list(d.used), "reason": d.reason, "score": d.fused_score, "threshold": d.threshold,
                           "finger_score": result.finger_score, "finger_problem": result.finger_problem})  # fmt: skip
        return None if d.match else self._decide(ctx, "deny", "face_mismatch")

    def _best(self, ctx: _Context, roles: tuple[str, ...], statuses: tuple[str, ...] | None,
              only: list[str] | None = None) -> Candidate | None:  # fmt: skip
        """The best candidate above the 1:N threshold among the people selected, noted as evidence."""
        assert ctx.probe is not None
        thresholds = self._thresholds()
        result = self.matcher.identify_template(ctx.probe, roles, statuses, only, 3, "", thresholds)
        searched = f"{'+'.join(roles)}/{'+'.join(statuses or ('any',))}{'/inside' if only is not None else ''}"
        ctx.note(f"search:{searched}", {
            "candidates": [{"identity_id": c.identity_id, "score": round(c.score, 4)} for c in result.candidates],
            "threshold": thresholds.identify, "target_fmr_per_comparison": thresholds.identify_fmr,
        })  # fmt: skip
        return result.candidates[0] if result.candidates else None

    def _decide(self, ctx: _Context, result: str, reason: str, matched: str | None = None,
                open_visit_for: str | None = None, close_visit: bool = False, presence: bool | None = None,
                movement: str | None = None, overrides: tuple[int, str] | None = None,
                count_failure: bool = True) -> GateDecision:  # fmt: skip
        """Store the decision and its consequences in one transaction."""
        claimed_id = ctx.claimed.id if ctx.claimed else None
        with self.db.transaction() as tx:
            store = GateStore(tx)
            # Re-read the visit inside the write transaction: two gates (or the camera and the
            # kiosk) deciding on the same visitor at once must not both let them through.
            if overrides and store.overridden(overrides[0]):
                raise OverrideRefused.because("this decision has already been overridden")
            subject = matched or claimed_id
            if close_visit and subject and store.open_visit_of(subject) is None:
                result, reason, close_visit = "deny", "no_open_visit", False
            if open_visit_for is not None and subject and store.open_visit_of(subject) is not None:
                result, reason, open_visit_for = "deny", "already_inside", None
            event = store.record(ctx.gate_id, ctx.passage, result, reason, ctx.evidence or {}, ctx.actor, claimed_id,
                                 matched, ctx.order_reference, *(overrides or (None, None)))  # fmt: skip
            visit_id = self._consequences(
                tx, store, event, open_visit_for, close_visit, presence, movement
            )
            if claimed_id and result == "admit":
                store.reset_failures(claimed_id, ctx.gate_id)
            elif claimed_id and result == "deny" and count_failure:
                store.count_failure(claimed_id, ctx.gate_id)
            body = {"event_id": event.id, "passage": ctx.passage, "result": result, "reason": reason,
                    "claimed": claimed_id, "matched": matched, "visit_id": visit_id}  # fmt: skip
            append_event(
                tx, ctx.actor, f"gate.{result}", ctx.gate_id, {**body, "evidence": ctx.evidence}
            )
            append_change(tx, "gate.event", str(event.id), body)
            who = _identity_or_none(IdentityRepository(tx, self.vault), matched) or ctx.claimed
        if movement in ("release", "transfer_out") and who is not None:
            self.matcher.gallery_of().set_status(
                who.id, who.status
            )  # the gallery follows the commit
        return GateDecision(event, REASONS[reason], who, visit_id)

    def _consequences(self, tx: Any, store: GateStore, event: GateEvent, open_visit_for: str | None,
                      close_visit: bool, presence: bool | None, movement: str | None) -> str | None:  # fmt: skip
        """Open or close a visit, mark presence, or change an inmate's status, as decided."""
        subject = event.matched_identity_id or event.claimed_identity_id
        if open_visit_for is not None and subject:
            return store.open_visit(subject, open_visit_for or None, event.gate_id, event.id)
        if close_visit and subject:
            return store.close_visit(subject, event.gate_id, event.id)
        if presence is not None and subject:
            store.set_inside(subject, presence)
        if movement and subject:
            self._apply_movement(tx, store, subject, movement)
        return None

    def _apply_movement(self, tx: Any, store: GateStore, inmate_id: str, movement: str) -> None:
        repo = IdentityRepository(tx, self.vault)
        if movement in ("release", "transfer_out"):
            repo.set_status(inmate_id, "released" if movement == "release" else "transferred_out")
        else:
            store.set_inside(inmate_id, movement == "court_in")


def _passage_consequences(passage: str, person: str | None) -> dict[str, Any]:
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


def _identity_or_none(repo: IdentityRepository, identity_id: str | None) -> Identity | None:
    """The matched person, or None when the gallery is ahead of the database (mid-sync or
    mid-erasure): the decision is still recorded rather than lost to a lookup error."""
    if identity_id is None:
        return None
    try:
        return repo.get(identity_id)
    except IdentityNotFound:
        return None


def _bad_passage(passage: str) -> EdgeError:
    return InputError(
        Message("Jenis perpindahan tidak dikenal.", "Unknown movement type."), {"passage": passage}
    )


def _missing_order() -> EdgeError:
    return InputError(
        Message("Nomor surat perintah wajib diisi.", "The order reference is required."),
        {"field": "order_reference"},
    )
