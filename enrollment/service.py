"""Enrolment use cases: capture, duplicate search, commit with an officer's decision, and the
later life of a record (re-enrolment, release, ban, erasure).

Every change is one database transaction that also writes the outbox row and the audit event;
the gallery is updated after the commit from the same values, and rebuilt from the database on
start, so a crash between the two can never leave the gallery ahead of the truth.
"""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from edge.errors import Conflict, InputError, Message
from enrollment.audit import append_event, now_iso
from enrollment.captures import (
    CaptureFeedback,
    CapturePolicy,
    CaptureStore,
    FaceAnalyser,
    NotEnoughCaptures,
    StoredCapture,
    error_feedback,
    judge_frame,
)
from enrollment.db import Database
from enrollment.records import Identity, IdentityDraft, check_required, validate_draft
from enrollment.repository import IdentityRepository, vector_to_blob
from enrollment.vault import Vault
from gallery_sync.gallery import Candidate, GalleryEntry, GalleryIndex
from gallery_sync.outbox import append_change

SEARCHABLE_STATUSES = ("active", "released", "transferred_out", "banned")


class PossibleDuplicate(Conflict):
    code = "possible_duplicate"

    @classmethod
    def found(cls, candidates: list[dict[str, Any]]) -> PossibleDuplicate:
        return cls(
            Message(
                "Orang ini mirip dengan identitas yang sudah terdaftar. Periksa dan putuskan sebelum menyimpan.",
                "This person resembles an enrolled identity. Check and decide before saving.",
            ),
            {"candidates": candidates},
        )


class IdentityNumberTaken(Conflict):
    code = "identity_number_taken"

    @classmethod
    def because(cls, reason: str) -> IdentityNumberTaken:
        return cls(
            Message(
                "Nomor identitas (NIK/NIP/registrasi) sudah dipakai identitas lain.",
                "This identity number (NIK/NIP/registration) already belongs to another identity.",
            ),
            {"reason": reason},
        )


class InvalidDecision(InputError):
    code = "decision_invalid"

    @classmethod
    def because(cls, reason: str, candidate: str | None = None) -> InvalidDecision:
        return cls(
            Message(
                "Keputusan petugas tidak lengkap atau tidak sah.",
                "The officer's decision is incomplete or invalid.",
            ),
            {"reason": reason, "candidate_identity_id": candidate},
        )


class StatusNotAllowed(InputError):
    code = "status_change_not_allowed"
    status = 409

    @classmethod
    def between(cls, role: str, old: str, new: str) -> StatusNotAllowed:
        return cls(
            Message("Perubahan status ini tidak diizinkan.", "This status change is not allowed."),
            {"role": role, "from": old, "to": new},
        )


# Which statuses each role can be moved to, by hand. A ban is for visitors: an inmate set to
# 'banned' would drop out of the exit gate's inmate search. Nothing leaves 'erased' or 'merged'.
ALLOWED_STATUSES = {
    "inmate": {"active", "released", "transferred_out"},
    "staff": {"active", "released"},
    "visitor": {"active", "banned"},
}
FINAL_STATUSES = {"erased", "merged"}


def check_transition(role: str, old: str, new: str) -> None:
    """Refuse a status change that would make a record lie or a gate miss someone."""
    if old in FINAL_STATUSES or new not in ALLOWED_STATUSES[role] or old == new:
        raise StatusNotAllowed.between(role, old, new)


@dataclass(frozen=True)
class OfficerDecision:
    """An officer's answer to one duplicate candidate."""

    candidate_identity_id: str
    decision: Literal["same_person", "different_person"]
    reason: str


@dataclass(frozen=True)
class CommitResult:
    """What a commit did: which identity got the templates, and whether it was new."""

    identity_id: str
    created: bool
    template_ids: list[int]


@dataclass(frozen=True)
class MatchThresholds:
    """Scores from the calibration: 1:N duplicate/identify threshold, 1:1 verify threshold."""

    identify: float
    identify_fmr: float
    verify: float
    verify_fmr: float


class EnrolmentService:
    """Everything the enrolment desk can do, over one site database and gallery."""

    def __init__(
        self,
        db: Database,
        vault: Vault,
        engine: Callable[[], FaceAnalyser],
        gallery: Callable[[], GalleryIndex],
        thresholds: Callable[[], MatchThresholds],
        site_id: str,
        policy: CapturePolicy | None = None,
    ) -> None:
        self.db = db
        self.vault = vault
        self._engine = engine
        self._gallery = gallery
        self._thresholds = thresholds
        self.site_id = site_id
        self.policy = policy or CapturePolicy()

    def start_session(self, role: str, operator: str, target_identity_id: str | None = None) -> str:
        """Open a capture session (for a new person, or to re-enrol a known one)."""
        with self.db.transaction() as tx:
            if target_identity_id:
                IdentityRepository(tx, self.vault).get(target_identity_id)
            return CaptureStore(tx, self.vault).open_session(role, operator, target_identity_id)

    def add_frame(self, session_id: str, data: bytes) -> CaptureFeedback:
        """Judge one frame and keep it if it is among the best; never raises for a bad frame."""
        with self.db.reading() as tx:
            store = CaptureStore(tx, self.vault)
            store.session(session_id)
            kept = store.count(session_id)
        engine = self._engine()
        try:
            analysis = engine.analyse_bytes(data)
        except InputError as exc:
            return error_feedback(exc, kept, self.policy.min_captures)
        reasons = judge_frame(analysis, self.policy)
        capture_id = None
        if not reasons:
            with self.db.transaction() as tx:
                store = CaptureStore(tx, self.vault)
                store.session(session_id)
                capture_id = store.keep(
                    session_id, data, analysis, engine.pack_id, self.policy.keep_best
                )
                kept = store.count(session_id)
        return CaptureFeedback(
            not reasons,
            reasons,
            analysis.quality.as_dict(),
            analysis.live_score,
            kept,
            self.policy.min_captures,
            capture_id,
        )

    def abandon_session(self, session_id: str, actor: str) -> None:
        """Give up an open session: its captures are deleted, nothing is enrolled."""
        with self.db.transaction() as tx:
            store = CaptureStore(tx, self.vault)
            store.session(session_id)
            store.close(session_id, "abandoned")
            append_event(tx, actor, "capture.abandoned", session_id, {})

    def duplicates(self, session_id: str) -> list[Candidate]:
        """Known people the session's captures resemble above the 1:N threshold, best first."""
        with self.db.reading() as tx:
            session = CaptureStore(tx, self.vault).session(session_id)
            captures = CaptureStore(tx, self.vault).kept(session_id)
        return self._candidates(captures, exclude=session["target_identity_id"])

    def _candidates(self, captures: list[StoredCapture], exclude: str | None) -> list[Candidate]:
        if not captures:
            return []
        threshold = self._thresholds().identify
        results = self._gallery().search(
            np.stack([c.vector for c in captures]), k=5, statuses=SEARCHABLE_STATUSES
        )
        best: dict[str, Candidate] = {}
        for candidate in (c for per_query in results for c in per_query):
            if (
                candidate.score >= threshold
                and candidate.identity_id != exclude
                and (
                    candidate.identity_id not in best
                    or candidate.score > best[candidate.identity_id].score
                )
            ):
                best[candidate.identity_id] = candidate
        return sorted(best.values(), key=lambda c: -c.score)

    def commit(
        self,
        session_id: str,
        draft: IdentityDraft | None,
        decisions: list[OfficerDecision],
        officer: str,
        replace_templates: bool = False,
    ) -> CommitResult:
        """Save the session as a new identity, or into an existing one the officer said it is."""
        with self.db.reading() as tx:
            session = CaptureStore(tx, self.vault).session(session_id)
            captures = CaptureStore(tx, self.vault).kept(session_id)
        if len(captures) < self.policy.min_captures:
            raise NotEnoughCaptures.counted(len(captures), self.policy.min_captures)
        candidates = self._candidates(captures, exclude=session["target_identity_id"])
        target = self._target(session, candidates, decisions)
        if target is None:
            if draft is None:
                raise InvalidDecision.because("a new identity needs its registration data")
            check_required(draft)
            draft = validate_draft(draft)
        if replace_templates and target is None:
            raise InvalidDecision.because(
                "only a re-enrolment of a known identity can replace its templates"
            )
        result = self._write_commit(
            session_id, draft, target, captures, candidates, decisions, officer, replace_templates
        )
        self._project(result.identity_id)
        return result

    def _target(
        self, session: sqlite3.Row, candidates: list[Candidate], decisions: list[OfficerDecision]
    ) -> str | None:
        """The identity to add templates to (re-enrolment or 'same person'), or None for a new one."""
        by_candidate = {d.candidate_identity_id: d for d in decisions}
        missing = [c for c in candidates if c.identity_id not in by_candidate]
        if missing:
            raise PossibleDuplicate.found([self._candidate_body(c) for c in missing])
        unknown = set(by_candidate) - {c.identity_id for c in candidates}
        if unknown:
            # A 'same person' about someone who is not a candidate would add these captures to a
            # stranger's record; a decision must answer a candidate the search actually found.
            raise InvalidDecision.because(
                "a decision names someone who is not a candidate", sorted(unknown)[0]
            )
        for decision in decisions:
            if decision.decision == "different_person" and not decision.reason.strip():
                raise InvalidDecision.because(
                    "'different person' needs a reason", decision.candidate_identity_id
                )
        same = [d.candidate_identity_id for d in decisions if d.decision == "same_person"]
        if len(same) > 1:
            raise InvalidDecision.because("only one identity can be the same person")
        if same and session["target_identity_id"] and same[0] != session["target_identity_id"]:
            raise InvalidDecision.because("re-enrolment already names the identity")
        return same[0] if same else session["target_identity_id"]

    def _write_commit(
        self,
        session_id: str,
        draft: IdentityDraft | None,
        target: str | None,
        captures: list[StoredCapture],
        candidates: list[Candidate],
        decisions: list[OfficerDecision],
        officer: str,
        replace_templates: bool = False,
    ) -> CommitResult:
        pack_id = self._engine().pack_id
        scores = {c.identity_id: c.score for c in candidates}
        try:
            with self.db.transaction() as tx:
                store = CaptureStore(tx, self.vault)
                store.session(session_id)  # still open: a double commit fails here, not after
                repo = IdentityRepository(tx, self.vault)
                identity_id = target or repo.insert(draft, self.site_id)  # type: ignore[arg-type]
                replaced = repo.template_ids(identity_id, pack_id) if replace_templates else []
                repo.delete_templates(
                    replaced
                )  # old captures' images stay: a model upgrade may want them
                template_ids = self._store_captures(repo, identity_id, captures, pack_id)
                self._record_decisions(tx, session_id, decisions, scores, officer)
                store.close(session_id, "committed")
                identity = repo.get(identity_id)
                append_change(
                    tx,
                    "identity.enrolled",
                    identity_id,
                    _change_payload(identity, captures, template_ids, pack_id),
                )
                append_event(tx, officer, "identity.enrolled", identity_id, {
                    "session_id": session_id, "created": target is None, "role": identity.role,
                    "templates": template_ids, "replaced_templates": replaced, "pack_id": pack_id, "decisions": [asdict(d) for d in decisions],
                    "candidate_scores": scores, "threshold": self._thresholds().identify,
                })  # fmt: skip
        except sqlite3.IntegrityError as exc:
            raise IdentityNumberTaken.because(str(exc)) from exc
        return CommitResult(identity_id, target is None, template_ids)

    def _store_captures(
        self,
        repo: IdentityRepository,
        identity_id: str,
        captures: list[StoredCapture],
        pack_id: str,
    ) -> list[int]:
        ids = []
        for capture in captures:
            image_id, digest = repo.add_image(
                identity_id, capture.data, capture.media_type, capture.captured_at
            )
            ids.append(
                repo.add_template(
                    identity_id,
                    image_id,
                    digest,
                    pack_id,
                    capture.vector,
                    capture.quality,
                    capture.captured_at,
                )
            )
        identity = repo.get(identity_id)
        if identity.photo_image_id is None:
            first_image = repo.db.execute(
                "SELECT image_id FROM templates WHERE id = ?", (ids[0],)
            ).fetchone()[0]
            repo.update_fields(identity_id, {"photo_image_id": first_image})
        return ids

    def _candidate_body(self, candidate: Candidate) -> dict[str, Any]:
        """What the officer needs to judge a candidate: who, how alike, and their photo."""
        with self.db.reading() as tx:
            identity = IdentityRepository(tx, self.vault).get(candidate.identity_id)
        return {
            "identity_id": candidate.identity_id,
            "score": round(candidate.score, 4),
            "role": candidate.role,
            "status": candidate.status,
            "full_name": identity.full_name,
            "photo_url": f"/v1/identities/{identity.id}/photo" if identity.photo_image_id else None,
        }

    def _record_decisions(
        self,
        tx: sqlite3.Connection,
        session_id: str,
        decisions: list[OfficerDecision],
        scores: dict[str, float],
        officer: str,
    ) -> None:
        threshold = self._thresholds().identify
        for d in decisions:
            tx.execute(
                "INSERT INTO duplicate_decisions (session_id, candidate_identity_id, score, threshold, decision,"
                " reason, officer, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (session_id, d.candidate_identity_id, scores.get(d.candidate_identity_id, 0.0), threshold,
                 d.decision, d.reason, officer, now_iso()),
            )  # fmt: skip

    def _project(self, identity_id: str) -> None:
        """Bring the gallery in line with the database for one identity."""
        pack_id = self._engine().pack_id
        with self.db.reading() as tx:
            repo = IdentityRepository(tx, self.vault)
            identity = repo.get(identity_id)
            stored = list(repo.templates_for_pack(pack_id, identity_id))
        gallery = self._gallery()
        gallery.remove_identity(identity_id)
        gallery.add(
            [
                GalleryEntry(t.template_id, identity_id, identity.role, identity.status, t.vector)
                for t in stored
            ]
        )

    def change_status(self, identity_id: str, status: str, actor: str, reason: str) -> Identity:
        """Release, ban, deactivate...: one transaction, then the gallery follows."""
        with self.db.transaction() as tx:
            repo = IdentityRepository(tx, self.vault)
            before = repo.get(identity_id)
            check_transition(before.role, before.status, status)
            repo.set_status(identity_id, status)
            identity = repo.get(identity_id)
            append_change(
                tx, "identity.status", identity_id, {"status": status, "version": identity.version}
            )
            append_event(
                tx,
                actor,
                "identity.status",
                identity_id,
                {"from": before.status, "to": status, "reason": reason},
            )
        self._gallery().set_status(identity_id, status)
        return identity

    def erase(self, identity_id: str, actor: str, reason: str) -> Identity:
        """Erase a visitor's biometrics on request: templates and images go, the audit record stays."""
        with self.db.transaction() as tx:
            repo = IdentityRepository(tx, self.vault)
            if repo.get(identity_id).role != "visitor":
                raise InvalidDecision.because(
                    "only a visitor's biometrics can be erased on request", identity_id
                )
            templates, images = repo.erase_biometrics(identity_id)
            repo.set_status(identity_id, "erased")
            repo.update_fields(identity_id, {"photo_image_id": None})
            append_change(
                tx, "identity.erased", identity_id, {"templates": templates, "images": images}
            )
            append_event(
                tx,
                actor,
                "identity.erased",
                identity_id,
                {"reason": reason, "templates": templates, "images": images},
            )
            identity = repo.get(identity_id)
        self._gallery().remove_identity(identity_id)
        return identity


def _change_payload(
    identity: Identity, captures: list[StoredCapture], template_ids: list[int], pack_id: str
) -> dict[str, Any]:
    """What the registry needs: the record and its new templates (templates travel, photos do not).

    The vectors go into the outbox row itself, so the row is an immutable fact of what was
    enrolled even if the templates are later replaced or erased at the site.
    """
    body = asdict(identity)
    body.pop("photo_image_id", None)
    templates = [
        {"template_id": tid, "quality": round(c.quality, 4), "image_sha256": c.sha256,
         "vector_f32le_b64": base64.b64encode(vector_to_blob(c.vector)).decode()}
        for tid, c in zip(template_ids, captures, strict=True)
    ]  # fmt: skip
    return {"identity": body, "pack_id": pack_id, "templates": templates}
