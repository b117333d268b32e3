"""The steps every gate passage is built from: is the gate for it, who is claimed, the face
analysis, the searches, liveness and quality, the 1:1 check, the cool-down, and recording.

Each step either notes its evidence and returns None (carry on), or returns the decision that
ends the passage. The passages themselves (visitors.py, movements.py) and the officers' actions
(overrides.py) put them in order.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from edge.gate.passage import GateDecision, GatePolicy, Passage
from edge.gate.recording import DecisionRecorder
from edge.gate.records import PASSAGES
from edge.gate.unit_of_work import gate_reading, gate_work
from enrollment.db import Database
from enrollment.fused import FusedVerifier
from enrollment.fused_search import FusedSearch, PersonEvidence, rule_for
from enrollment.matching import Matcher
from enrollment.service import MatchThresholds
from enrollment.vault import Vault
from gallery_sync.gallery import Candidate
from kernel.errors import InputError
from models.engine import FaceAnalysis

MAX_FAILURES = 5
COOLDOWN = timedelta(minutes=5)
INMATE_STATUSES = ("active",)


class PeopleAnalyser(Protocol):
    """The part of the face engine the gate needs: every person in a frame, analysed once."""

    pack_id: str

    def analyse_people_bytes(self, data: bytes) -> list[FaceAnalysis]: ...


class GateSteps:
    """The site's gate: storage, the face engine and gallery, and the steps over them."""

    def __init__(
        self,
        db: Database,
        vault: Vault,
        engine: Callable[[], PeopleAnalyser],
        matcher: Matcher,
        thresholds: Callable[[], MatchThresholds],
        policy: GatePolicy | None = None,
        fused: FusedVerifier | None = None,
        fused_search: FusedSearch | None = None,
    ) -> None:
        self.db, self.vault, self._engine, self.matcher = db, vault, engine, matcher
        self._thresholds = thresholds
        self.policy = policy or GatePolicy()
        self.fused, self.fused_search = fused, fused_search
        # Every step ends a passage through this: the decision with its consequences, stored.
        self._decide = DecisionRecorder(db, vault, matcher).record

    def _gate_allows(self, ctx: Passage, role: str) -> GateDecision | None:
        with gate_reading(self.db, self.vault) as uow:
            gate = uow.gates.gate(ctx.gate_id)
        if PASSAGES[ctx.passage] not in gate.directions or role not in gate.roles:
            return self._decide(ctx, "deny", "gate_not_for_passage")
        return None

    def _claim(self, ctx: Passage, identity_id: str, role: str) -> GateDecision | None:
        with gate_reading(self.db, self.vault) as uow:
            ctx.claimed = uow.identities.get(identity_id)
        if ctx.claimed.role != role:
            return self._decide(ctx, "deny", "identity_role_mismatch")
        if ctx.claimed.status == "banned":
            return self._decide(ctx, "deny", "visitor_banned")
        if ctx.claimed.status != "active":
            return self._decide(ctx, "deny", "identity_not_active")
        return None

    def _cooldown(self, ctx: Passage) -> GateDecision | None:
        assert ctx.claimed is not None
        with gate_reading(self.db, self.vault) as uow:
            failures, last_at = uow.gates.failures(ctx.claimed.id, ctx.gate_id)
        if failures < MAX_FAILURES or not last_at:
            return None
        until = datetime.fromisoformat(last_at) + COOLDOWN
        if until <= datetime.now(UTC):
            # The cool-down has run out: start counting afresh, or one more slip would lock again.
            with gate_work(self.db, self.vault) as uow:
                uow.gates.reset_failures(ctx.claimed.id, ctx.gate_id)
            return None
        ctx.note("failures", failures)
        ctx.note("retry_after", until.isoformat())
        return self._decide(ctx, "deny", "cooldown", count_failure=False)

    def _analyse(self, ctx: Passage, image: bytes, alarm: str | None = None) -> GateDecision | None:
        """Analyse everyone in the frame once: each face's template feeds every search. With no
        usable face, a finger presented is still searched among inmates where the passage has
        an inmate ALARM (`alarm` is its reason): a masked inmate must not leave on a finger."""
        engine = self._engine()
        try:
            ctx.people = engine.analyse_people_bytes(image)
        except InputError as exc:
            ctx.note("face_error", exc.code)
            if alarm and (inmate := self._inmate_by_finger(ctx)):
                return self._decide(ctx, "alarm", alarm, matched=inmate)
            # No face or a blurred frame says nothing about who is there: it must not push a
            # real visitor into the cool-down.
            return self._decide(ctx, "deny", "face_unusable", count_failure=False)
        ctx.probe = ctx.people[0]
        ctx.note("pack", engine.pack_id)
        ctx.note("quality", ctx.probe.quality.as_dict())
        ctx.note("live_score", ctx.probe.live_score)
        ctx.note("people", [_person(face) for face in ctx.people])
        return None

    def _inmate_by_finger(self, ctx: Passage) -> str | None:
        """The inmate the presented finger alone matches (no face to fuse with), if any."""
        if ctx.finger is None or self.fused_search is None:
            return None
        result = self.fused_search.search(None, ctx.finger, ("inmate",), INMATE_STATUSES, None,
                                          self._thresholds().open_set, 1.0, "gate_inmate")  # fmt: skip
        ctx.note("fused:inmate/active", result.evidence("either"))
        ctx.finger_problem = result.finger_problem
        found = result.matches("either")
        return found[0].identity_id if found else None

    def _one_at_a_time(self, ctx: Passage) -> GateDecision | None:
        """Deny a passage with more than one person in the frame."""
        return self._crowded(ctx) if len(ctx.people) > 1 else None

    def _crowded(self, ctx: Passage, matched: str | None = None) -> GateDecision:
        """More than one person at the gate: the gate cannot tell who is passing, so an officer
        must see to it. Always after the inmate search, whose alarm takes precedence."""
        ctx.note("people_at_gate", len(ctx.people))
        return self._decide(ctx, "deny", "more_than_one_person", matched=matched,
                            count_failure=False)  # fmt: skip

    def _presentable(self, ctx: Passage) -> GateDecision | None:
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

    def _verify_claim(self, ctx: Passage) -> GateDecision | None:
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
        self, ctx: Passage, face_score: float | None, target_fmr: float
    ) -> GateDecision | None:
        """Face and finger fused at score level (or whichever is usable, at its own threshold)."""
        assert ctx.claimed is not None and ctx.finger is not None and self.fused is not None
        result = self.fused.verify(ctx.claimed.id, face_score, ctx.finger, target_fmr)
        d = result.decision
        ctx.note("fused", {"used": list(d.used), "reason": d.reason, "score": d.fused_score, "threshold": d.threshold,
                           "finger_score": result.finger_score, "finger_problem": result.finger_problem})  # fmt: skip
        if self._finger_required(ctx) and result.finger_problem is not None:
            ctx.finger_problem = result.finger_problem
            return self._finger_refused(ctx)
        if d.match:
            return None
        return self._decide(
            ctx, "deny", "finger_mismatch" if d.reason == "finger_against" else "face_mismatch"
        )

    def _finger_required(self, ctx: Passage) -> bool:
        """Whether this passage must present a usable finger (GatePolicy.finger_required)."""
        group = {"visitor_exit": "visitor_exit", "staff_in": "staff", "staff_out": "staff"}
        group |= dict.fromkeys(("release", "transfer_out", "court_out", "court_in"), "movement")
        return group.get(ctx.passage) in self.policy.finger_required

    def _no_finger_enrolled(self, ctx: Passage, identity_id: str) -> GateDecision | None:
        """A required finger, and the person matched by face has none enrolled to compare."""
        person = ctx.fused_people.get(identity_id)
        if self._finger_required(ctx) and (person is None or person.finger_score is None):
            return self._decide(ctx, "deny", "finger_not_enrolled", matched=identity_id)
        return None

    def _finger_given(self, ctx: Passage) -> GateDecision | None:
        """A recorded denial when the passage requires a finger and none was presented."""
        if ctx.finger is None and self._finger_required(ctx):
            ctx.note("finger_required", True)
            return self._decide(ctx, "deny", "finger_required", count_failure=False)
        return None

    def _finger_refused(self, ctx: Passage) -> GateDecision:
        """A required finger that could not be used: unreadable, or none enrolled to compare."""
        ctx.note("finger_required", True)
        reason = (
            "finger_not_enrolled"
            if ctx.finger_problem == "finger_not_enrolled"
            else "finger_unusable"
        )
        return self._decide(ctx, "deny", reason, count_failure=False)

    def _best(self, ctx: Passage, roles: tuple[str, ...], statuses: tuple[str, ...] | None,
              only: list[str] | None = None, everyone: bool = False) -> Candidate | None:  # fmt: skip
        """The best candidate above the 1:N threshold among the people selected, for the subject
        (or for every face in the frame), noted as evidence with the face each one matched. With
        a finger presented, the subject is decided on face and finger by the kind's rule
        (enrollment/fused_search.py); the other faces by face alone."""
        return self._best_scored(ctx, roles, statuses, only, everyone)[0]

    def _best_scored(self, ctx: Passage, roles: tuple[str, ...], statuses: tuple[str, ...] | None,
                     only: list[str] | None = None, everyone: bool = False
                     ) -> tuple[Candidate | None, float]:  # fmt: skip
        """_best and the threshold it was decided at: the target FPIR of the decision kind over
        the people searched (gallery_sync/openset.py)."""
        assert ctx.probe is not None
        thresholds, kind = self._thresholds(), search_kind(roles, statuses, only)
        found: list[tuple[Candidate, int]] = []
        results = []
        for face, probe in enumerate(ctx.people if everyone else [ctx.probe]):
            result = self.matcher.identify_template(
                probe, roles, statuses, only, 3, "", thresholds, kind
            )
            results.append(result)
            found += [(candidate, face) for candidate in result.candidates]
        found.sort(key=lambda pair: -pair[0].score)
        searched = f"{'+'.join(roles)}/{'+'.join(statuses or ('any',))}{'/inside' if only is not None else ''}"
        ctx.note(f"search:{searched}", {
            "candidates": [{"identity_id": c.identity_id, "score": round(c.score, 4), "face": face} for c, face in found],
            "faces_searched": len(ctx.people) if everyone else 1,
            **results[0].setting(),
            "top_scores": [result.evidence()["scores"] for result in results],
        })  # fmt: skip
        fused = self._fused(ctx, roles, statuses, only, results[0].threshold, searched)
        if fused is not None:  # the subject's own face candidates give way to the fused ones
            found = [(c, face) for c, face in found if face != 0]
            found = [(_candidate(p, roles, statuses), 0) for p in fused] + found
        return (found[0][0] if found else None), results[0].threshold

    def _fused(self, ctx: Passage, roles: tuple[str, ...], statuses: tuple[str, ...] | None,
               only: list[str] | None, face_threshold: float, searched: str
               ) -> list[PersonEvidence] | None:  # fmt: skip
        """The subject's matches by face and finger under the kind's rule (fused_search.py:
        alarms by either, the visitor exit by together), or None without a usable finger."""
        if ctx.finger is None or self.fused_search is None or ctx.probe is None:
            return None
        kind = search_kind(roles, statuses, only)
        rule = rule_for(kind)
        result = self.fused_search.search(
            ctx.probe.template, ctx.finger, roles, statuses, only,
            self._thresholds().open_set, face_threshold, kind,
        )  # fmt: skip
        ctx.note(f"fused:{searched}", result.evidence(rule))
        ctx.fused_people = {p.identity_id: p for p in result.people}
        ctx.finger_problem = result.finger_problem
        if result.finger_problem is not None:
            return None  # the finger cannot be used: the face decides alone, as noted
        return result.matches(rule)


def search_kind(
    roles: tuple[str, ...], statuses: tuple[str, ...] | None, only: list[str] | None
) -> str:
    """The open-set decision kind of a gate search (its target FPIR)."""
    if roles == ("inmate",):
        return "gate_inmate"
    if roles == ("visitor",) and statuses == ("banned",):
        return "banned_visitor"
    if roles == ("visitor",) and only is not None:
        return "visitor_exit"
    return "staff" if roles == ("staff",) else "identify"


def _candidate(
    person: PersonEvidence, roles: tuple[str, ...], statuses: tuple[str, ...] | None
) -> Candidate:
    """A fused match in the shape of a face candidate (its face score; -1 without one)."""
    score = person.face_score if person.face_score is not None else -1.0
    return Candidate(person.identity_id, -1, score, roles[0], (statuses or ("active",))[0])


def _person(face: FaceAnalysis) -> dict[str, Any]:
    """A face in the frame as evidence: where, how good, how live."""
    return {"box": [round(v) for v in face.face.box], "quality": round(face.quality.score, 4),
            "live_score": face.live_score}  # fmt: skip
