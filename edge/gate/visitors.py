"""The visitor rules: entry (a claimed visitor, verified 1:1, opens a visit) and exit (the face
must be a visitor inside now, and no inmate)."""

from __future__ import annotations

from edge.gate.passage import GateDecision, Passage
from edge.gate.recording import identity_or_none
from edge.gate.steps import INMATE_STATUSES, GateSteps
from edge.gate.unit_of_work import gate_reading
from enrollment.fused import FingerProbe
from enrollment.identifiers import normalise_digits
from gallery_sync.gallery import Candidate


class VisitorPassages(GateSteps):
    """Visitors in and out."""

    def visitor_entry(self, gate_id: str, image: bytes, actor: str, nik: str | None = None,
                      visitor_id: str | None = None, inmate_id: str | None = None,
                      finger: FingerProbe | None = None) -> GateDecision:  # fmt: skip
        """Verify the visitor 1:1, make sure no inmate and no banned visitor matches, open a visit."""
        ctx = Passage(gate_id, "visitor_entry", actor, finger=finger)
        refusal = self._gate_allows(ctx, "visitor")
        refusal = refusal or self._analyse(ctx, image, alarm="inmate_match_at_entry")
        if refusal:
            return refusal
        # An inmate's face at the gate is an alarm whatever card they hold (a stolen one, an
        # unknown NIK, their own id), so every face is searched before the claim is looked at.
        if inmate := self._best(ctx, ("inmate",), INMATE_STATUSES, everyone=True):
            return self._decide(ctx, "alarm", "inmate_match_at_entry", matched=inmate.identity_id)
        refusal = self._claim_visitor(ctx, nik, visitor_id) or self._visitable(ctx, inmate_id)
        refusal = refusal or self._banned_among_others(ctx) or self._one_at_a_time(ctx)
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

    def _admit_visitor(self, ctx: Passage, inmate_id: str | None) -> GateDecision:
        """After the face checks: anti-passback and the inmate visited."""
        assert ctx.claimed is not None
        with gate_reading(self.db, self.vault) as uow:
            inside = uow.gates.open_visit_of(ctx.claimed.id)
        if inside is not None:
            return self._decide(ctx, "deny", "already_inside")
        return self._decide(
            ctx, "admit", "visitor_verified", matched=ctx.claimed.id, open_visit_for=inmate_id or ""
        )

    def visitor_exit(self, gate_id: str, image: bytes, actor: str,
                     finger: FingerProbe | None = None) -> GateDecision:  # fmt: skip
        """The person leaving must be a visitor with an open visit (by face, and by finger too
        when one is presented), and must match no inmate by face, finger or both together."""
        ctx = Passage(gate_id, "visitor_exit", actor, finger=finger)
        refusal = self._gate_allows(ctx, "visitor")
        refusal = refusal or self._analyse(ctx, image, alarm="inmate_leaving")
        if refusal:
            return refusal
        inmate = self._best(ctx, ("inmate",), INMATE_STATUSES, everyone=True)
        if inmate and not (self._face_only(ctx, inmate) and self._lookalike(ctx, inmate)):
            return self._decide(ctx, "alarm", "inmate_leaving", matched=inmate.identity_id)
        if len(ctx.people) > 1:  # the subject is named, so that an override closes their visit
            visitor = self._visitor_inside(ctx)
            return self._crowded(ctx, visitor.identity_id if visitor else None)
        if refusal := self._finger_given(ctx) or self._presentable(ctx):
            return refusal
        return self._exit_matched(ctx)

    def _exit_matched(self, ctx: Passage) -> GateDecision:
        """The one person leaving, checked: a visitor inside by face (and finger), or denied."""
        if self._finger_required(ctx) and ctx.finger_problem is not None:
            return self._finger_refused(ctx)
        visitor = self._visitor_inside(ctx)
        if visitor is None:
            by_face_only = any(p.face_match for p in ctx.fused_people.values())
            return self._decide(ctx, "deny", "finger_mismatch" if by_face_only else "no_open_visit")
        if refusal := self._no_finger_enrolled(ctx, visitor.identity_id):
            return refusal
        return self._decide(
            ctx, "admit", "visitor_exit_matched", matched=visitor.identity_id, close_visit=True
        )

    @staticmethod
    def _face_only(ctx: Passage, inmate: Candidate) -> bool:
        """True when only the face names this inmate: no finger, or the finger and the fused
        evidence do not (only then may the look-alike rule withhold the alarm)."""
        person = ctx.fused_people.get(inmate.identity_id)
        return person is None or not (person.finger_match or person.fused_match)

    def _visitor_inside(self, ctx: Passage) -> Candidate | None:
        """The visitor with an open visit whom the subject matches (face, and finger if given)."""
        return self._visitor_inside_scored(ctx)[0]

    def _visitor_inside_scored(self, ctx: Passage) -> tuple[Candidate | None, float]:
        ctx.fused_people = {}
        with gate_reading(self.db, self.vault) as uow:
            inside = [row["visitor_id"] for row in uow.gates.visitors_inside()]
        if not inside:
            return None, 1.0
        return self._best_scored(ctx, ("visitor",), None, only=inside)

    def _lookalike(self, ctx: Passage, inmate: Candidate) -> bool:
        """True when the inmate candidate is better explained as a visitor inside who looks like
        them: one face at the gate, and it matches a visitor inside far above the visitor
        threshold and by a wide margin over the inmate (GatePolicy). Noted either way."""
        if len(ctx.people) != 1:
            return False
        if inmate.raw_score is not None and inmate.raw_score != inmate.score:
            return False  # S-norm scores (cohort.py): the margins are cosines, so never withhold
        visitor, threshold = self._visitor_inside_scored(ctx)
        policy = self.policy
        lookalike = (
            visitor is not None
            and visitor.score >= threshold + policy.lookalike_visitor_margin
            and visitor.score >= inmate.score + policy.lookalike_margin
        )
        ctx.note("lookalike", {
            "inmate_id": inmate.identity_id, "inmate_score": round(inmate.score, 4),
            "visitor_id": visitor.identity_id if visitor else None,
            "visitor_score": round(visitor.score, 4) if visitor else None,
            "visitor_threshold": round(threshold, 6),
            "visitor_margin": policy.lookalike_visitor_margin, "margin": policy.lookalike_margin,
            "alarm_withheld": lookalike,
        })  # fmt: skip
        return lookalike

    def _banned_among_others(self, ctx: Passage) -> GateDecision | None:
        """With several people at the gate, a banned face beside the claimed visitor is named
        (a ban cannot be overridden) rather than left to an overridable 'one at a time'."""
        if len(ctx.people) <= 1:
            return None  # the subject alone is checked after the 1:1 preconditions, below
        banned = self._best(ctx, ("visitor",), ("banned",), everyone=True)
        if banned and ctx.claimed and banned.identity_id != ctx.claimed.id:
            return self._decide(ctx, "deny", "watchlist_match", matched=banned.identity_id)
        return None

    def _claim_visitor(
        self, ctx: Passage, nik: str | None, visitor_id: str | None
    ) -> GateDecision | None:
        if visitor_id:
            return self._claim(ctx, visitor_id, "visitor")
        with gate_reading(self.db, self.vault) as uow:
            typed = normalise_digits(nik) if nik else None  # "3201 0147..." as typed on a kiosk
            found = uow.identities.search({"nik": typed, "role": "visitor"}, 1) if typed else []
        if not found:
            # A banned face with an unknown card (a national ban from another site, a forged
            # NIK) is named as the ban it is: the officer must know who stands there.
            if banned := self._best(ctx, roles=("visitor",), statuses=("banned",)):
                return self._decide(ctx, "deny", "watchlist_match", matched=banned.identity_id)
            return self._decide(ctx, "deny", "visitor_not_enrolled")
        return self._claim(ctx, found[0].id, "visitor")

    def _visitable(self, ctx: Passage, inmate_id: str | None) -> GateDecision | None:
        """The inmate a visitor names must exist and be held here (checked before any 1:1)."""
        if not inmate_id:
            return None
        with gate_reading(self.db, self.vault) as uow:
            visited = identity_or_none(uow.identities, inmate_id)
        if visited is None or visited.role != "inmate" or visited.status != "active":
            ctx.note("inmate_id", inmate_id)
            return self._decide(ctx, "deny", "inmate_not_visitable", count_failure=False)
        return None
