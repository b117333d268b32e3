"""Enrolment use cases: capture, duplicate search, commit with an officer's decision, and the
later life of a record (re-enrolment, release, ban, erasure).

Every change is one database transaction that also writes the outbox row and the audit event;
the gallery is updated after the commit from the same values, and rebuilt from the database on
start, so a crash between the two can never leave the gallery ahead of the truth.
"""

from __future__ import annotations

import base64
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from enrollment.captures import (
    CaptureFeedback,
    CapturePolicy,
    FaceAnalyser,
    NotEnoughCaptures,
    StoredCapture,
    error_feedback,
    judge_frame,
)
from enrollment.db import Database
from enrollment.desk_guard import (
    is_inmate_lookalike,
    keep_typed,
    needing_supervisor,
    require_supervisor,
)
from enrollment.duplicates import (
    NOT_CONFIGURED,
    SEARCHABLE_STATUSES,
    DuplicateCheck,
    InvalidDecision,
    NationalAnswer,
    NationalMemory,
    NationalSearcher,
    OfficerDecision,
    PossibleDuplicate,  # noqa: F401  (importers and benches use this name)
    Resolution,
    held_elsewhere,
    local_body,
    local_candidates,
    record_decisions,
    resolve,
)
from enrollment.gallery_projection import reproject
from enrollment.records import (
    Identity,
    IdentityDraft,
    check_corrections,
    check_required,
    validate_draft,
)
from enrollment.repository import IdentityRepository, vector_to_blob
from enrollment.unit_of_work import reading, unit_of_work
from enrollment.vault import Vault
from gallery_sync.gallery import Candidate, GalleryIndex
from gallery_sync.openset import OpenSetThresholds, search_threshold
from kernel.errors import Conflict, InputError, Message
from models.imaging import clean_jpeg


class IdentityNumberTaken(Conflict):
    code = "identity_number_taken"
    message = Message(
        "Nomor identitas (NIK/NIP/registrasi) sudah dipakai identitas lain.",
        "This identity number (NIK/NIP/registration) already belongs to another identity.",
    )


class StatusNotAllowed(InputError):
    code = "status_change_not_allowed"
    status = 409
    message = Message(
        "Perubahan status ini tidak diizinkan.",
        "This status change is not allowed.",
    )

    @classmethod
    def between(cls, role: str, old: str, new: str) -> StatusNotAllowed:
        return cls(None, {"role": role, "from": old, "to": new})


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
class CommitResult:
    """What a commit did: which identity got the templates, whether it was new, and whether the
    national registry was asked (`{"status": "searched" | "unavailable" | "not_configured"}`)."""

    identity_id: str
    created: bool
    template_ids: list[int]
    national_search: dict[str, Any] = field(default_factory=NOT_CONFIGURED.summary)


@dataclass(frozen=True)
class MatchThresholds:
    """Scores from the calibration: 1:N duplicate/identify threshold, 1:1 verify threshold."""

    identify: float
    identify_fmr: float
    verify: float
    verify_fmr: float
    # 1:N by target FPIR for the people searched (gallery_sync/openset.py); None: the per-comparison
    # `identify` threshold above (tools and tests that have no open-set calibration)
    open_set: OpenSetThresholds | None = None


@dataclass(frozen=True)
class DeskSignOff:
    """Who signed for the desk's guarded decisions, and the typed values kept over a record's."""

    supervisor: str | None = None
    typed: dict[str, Any] = field(default_factory=dict)


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
        national: NationalSearcher | None = None,
        gallery_refresh: Callable[[], object] | None = None,
    ) -> None:
        self.db = db
        self.vault = vault
        self._engine = engine
        self._gallery = gallery
        self._thresholds = thresholds
        self.site_id = site_id
        self.policy = policy or CapturePolicy()
        self.national = national  # the registry's search, when this site syncs
        self._commit_lock = threading.Lock()
        self._national_seen = NationalMemory()
        # Applies other processes' writes to the gallery (site_sync/follow.py: GalleryFeed) just
        # before a save's duplicate check: what an import or another desk saved is searched too.
        self._gallery_refresh = gallery_refresh

    def start_session(self, role: str, operator: str, target_identity_id: str | None = None) -> str:
        """Open a capture session (for a new person, or to re-enrol a known one)."""
        with unit_of_work(self.db, self.vault) as uow:
            if target_identity_id:
                uow.identities.get(target_identity_id)
            return uow.captures.open_session(role, operator, target_identity_id)

    def add_frame(self, session_id: str, data: bytes) -> CaptureFeedback:
        """Judge one frame and keep it if it is among the best; never raises for a bad frame."""
        with reading(self.db, self.vault) as uow:
            uow.captures.session(session_id)
            kept = uow.captures.count(session_id)
        engine = self._engine()
        try:
            analysis = engine.analyse_bytes(data)
        except InputError as exc:
            return error_feedback(exc, kept, self.policy.min_captures)
        reasons = judge_frame(analysis, self.policy)
        capture_id = None
        if not reasons:
            # Kept as a clean JPEG: no EXIF, nothing after the image data (issue 13).
            clean = clean_jpeg(data)
            with unit_of_work(self.db, self.vault) as uow:
                uow.captures.session(session_id)
                capture_id = uow.captures.keep(
                    session_id, clean, analysis, engine.pack_id, self.policy.keep_best
                )
                kept = uow.captures.count(session_id)
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
        with unit_of_work(self.db, self.vault) as uow:
            uow.captures.session(session_id)
            uow.captures.close(session_id, "abandoned")
            uow.audit(actor, "capture.abandoned", session_id, {})
        self._national_seen.forget(session_id)

    def duplicates(self, session_id: str) -> list[Candidate]:
        """Known people at this site the captures resemble above the 1:N threshold, best first."""
        session, captures = self._session_captures(session_id)
        return self._local(captures, session["target_identity_id"])

    def check_duplicates(self, session_id: str) -> tuple[DuplicateCheck, list[dict[str, Any]]]:
        """Local and national candidates to show before the commit, with the local ones' bodies."""
        session, captures = self._session_captures(session_id)
        national = self._ask_registry(session_id, captures)
        check = self._check(captures, session["target_identity_id"], national)
        return check, [self._describe(c, session["role"]) for c in check.local]

    def _session_captures(self, session_id: str) -> tuple[sqlite3.Row, list[StoredCapture]]:
        with reading(self.db, self.vault) as uow:
            session = uow.captures.session(session_id)
            captures = uow.captures.kept(session_id)
        return session, captures

    def _local(self, captures: list[StoredCapture], exclude: str | None) -> list[Candidate]:
        vectors = [c.vector for c in captures]
        return local_candidates(self._gallery(), self._duplicate_threshold(), vectors, exclude)

    def _duplicate_threshold(self) -> float:
        """The desk's duplicate check: investigation mode, its own target FPIR over everyone
        searchable (gallery_sync/openset.py), or the per-comparison threshold without one."""
        thresholds = self._thresholds()
        threshold, _ = search_threshold(
            self._gallery(),
            thresholds.open_set,
            thresholds.identify,
            "desk_duplicate",
            None,
            SEARCHABLE_STATUSES,
        )
        return threshold

    def _ask_registry(self, session_id: str, captures: list[StoredCapture]) -> NationalAnswer:
        """The registry's candidates (never raises); asked with no lock held, as it may be slow.
        Unanswered, the session's earlier answered candidates stand (NationalMemory)."""
        if self.national is None or not captures:
            return NOT_CONFIGURED
        vectors = np.stack([c.vector for c in captures])
        answer = self.national.search(vectors, self._engine().pack_id)
        return self._national_seen.settle(session_id, answer)

    def _check(
        self, captures: list[StoredCapture], exclude: str | None, national: NationalAnswer
    ) -> DuplicateCheck:
        with self.db.reading() as tx:
            elsewhere = [c for c in held_elsewhere(tx, national) if c.identity_id != exclude]
        return DuplicateCheck(self._local(captures, exclude), elsewhere, national)

    def _describe(self, candidate: Candidate, session_role: str) -> dict[str, Any]:
        with reading(self.db, self.vault) as uow:
            body = local_body(uow.identities, candidate)
        return {
            **body,
            "inmate_lookalike": is_inmate_lookalike(session_role, candidate.role, candidate.status),
        }

    def commit(
        self,
        session_id: str,
        draft: IdentityDraft | None,
        decisions: list[OfficerDecision],
        officer: str,
        replace_templates: bool = False,
        guard: DeskSignOff | None = None,
    ) -> CommitResult:
        """Save the session as a new identity, or into an existing one the officer said it is.

        Inmate look-alikes and cross-role joins need `guard.supervisor` (enrollment.desk_guard);
        `guard.typed` are the typed values the officer kept over a joined record's.
        """
        guard = guard or DeskSignOff()
        session, captures = self._session_captures(session_id)
        if len(captures) < self.policy.min_captures:
            raise NotEnoughCaptures.counted(len(captures), self.policy.min_captures)
        national = self._ask_registry(session_id, captures)
        # Search, save and project as one step: two desks committing the same new person at once
        # would otherwise both search before either is in the gallery, and both save.
        with self._commit_lock:
            if self._gallery_refresh is not None:
                self._gallery_refresh()
            check = self._check(captures, session["target_identity_id"], national)
            role = session["role"]
            resolution = resolve(check, decisions, session["target_identity_id"],
                                 lambda c: self._describe(c, role))  # fmt: skip
            shown = [(c.identity_id, c.role, c.status) for c in check.local]
            shown += [(c.identity_id, c.role, c.status) for c in check.national]
            same = [d.candidate_identity_id for d in decisions if d.decision == "same_person"]
            require_supervisor(needing_supervisor(role, shown, same), guard.supervisor)
            if guard.typed and resolution.target is None:
                raise InvalidDecision.because("typed values are kept only when joining a record")
            if resolution.target is None:
                if draft is None:
                    raise InvalidDecision.because("a new identity needs its registration data")
                check_required(draft)
                draft = validate_draft(draft)
            if replace_templates and resolution.target is None:
                raise InvalidDecision.because(
                    "only a re-enrolment of a known identity can replace its templates"
                )
            result = self._write_commit(
                session_id,
                draft,
                resolution,
                captures,
                check,
                decisions,
                officer,
                replace_templates,
                guard,
            )
            self._project(result.identity_id)
        return result

    def _write_commit(
        self,
        session_id: str,
        draft: IdentityDraft | None,
        resolution: Resolution,
        captures: list[StoredCapture],
        check: DuplicateCheck,
        decisions: list[OfficerDecision],
        officer: str,
        replace_templates: bool = False,
        guard: DeskSignOff | None = None,
    ) -> CommitResult:
        pack_id, target = self._engine().pack_id, resolution.target
        guard = guard or DeskSignOff()
        threshold, searched = self._duplicate_threshold(), check.national_search.summary()
        try:
            with unit_of_work(self.db, self.vault) as uow:
                uow.captures.session(
                    session_id
                )  # still open: a double commit fails here, not after
                repo = uow.identities
                identity_id = target or repo.insert(draft, self.site_id)  # type: ignore[arg-type]
                replaced = repo.template_ids(identity_id, pack_id) if replace_templates else []
                repo.delete_templates(
                    replaced
                )  # old captures' images stay: a model upgrade may want them
                template_ids = self._store_captures(repo, identity_id, captures, pack_id)
                national = record_decisions(
                    uow.connection,
                    session_id,
                    identity_id,
                    check,
                    decisions,
                    resolution,
                    officer,
                    threshold,
                )
                uow.captures.close(session_id, "committed")
                identity = repo.get(identity_id)
                payload = _change_payload(identity, captures, template_ids, pack_id)
                uow.record("identity.enrolled", identity_id, {
                    **payload, "national_decisions": national, "national_search": searched,
                }, officer, {
                    "session_id": session_id, "created": target is None, "role": identity.role,
                    "templates": template_ids, "replaced_templates": replaced, "pack_id": pack_id, "decisions": [asdict(d) for d in decisions],
                    "candidate_scores": check.local_scores(), "threshold": threshold,
                    "national_search": searched, "national_decisions": national,
                    "supervisor": guard.supervisor,
                })  # fmt: skip
                if target and guard.typed:
                    keep_typed(uow, identity_id, guard.typed, officer)
        except sqlite3.IntegrityError as exc:
            raise IdentityNumberTaken(reason=str(exc)) from exc
        self._national_seen.forget(session_id)
        return CommitResult(identity_id, target is None, template_ids, searched)

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

    def _project(self, identity_id: str) -> None:
        """Bring the gallery in line with the database for one identity, in one step and inside
        a read (enrollment/gallery_projection.py says why)."""
        reproject(self.db, self.vault, self._gallery(), self._engine().pack_id, [identity_id])

    def change_status(self, identity_id: str, status: str, actor: str, reason: str) -> Identity:
        """Release, ban, deactivate...: one transaction, then the gallery follows."""
        with unit_of_work(self.db, self.vault) as uow:
            before = uow.identities.get(identity_id)
            check_transition(before.role, before.status, status)
            uow.identities.set_status(identity_id, status)
            identity = uow.identities.get(identity_id)
            uow.record(
                "identity.status",
                identity_id,
                # The reason and officer travel: a site's ban becomes a national entry (issue 14).
                {"status": status, "version": identity.version, "reason": reason, "officer": actor},
                actor,
                {"from": before.status, "to": status, "reason": reason},
            )
        self._project(identity_id)
        return identity

    def update_identity(self, identity_id: str, fields: dict[str, Any], actor: str) -> Identity:
        """Correct a name, aliases or details (identity numbers are fixed at enrolment).

        The text is checked before anything is written: a NUL or an oversized field would be
        refused by the registry and must never reach the outbox.
        """
        fields = check_corrections(fields)
        with unit_of_work(self.db, self.vault) as uow:
            uow.identities.update_fields(identity_id, fields)
            identity = uow.identities.get(identity_id)
            uow.record(
                "identity.updated",
                identity_id,
                {"fields": fields, "version": identity.version},
                actor,
                {"fields": sorted(fields)},
            )
        return identity

    def erase(self, identity_id: str, actor: str, reason: str) -> Identity:
        """Erase a visitor's biometrics on request: templates and images go, the audit record stays."""
        with unit_of_work(self.db, self.vault) as uow:
            repo = uow.identities
            if repo.get(identity_id).role != "visitor":
                raise InvalidDecision.because(
                    "only a visitor's biometrics can be erased on request", identity_id
                )
            templates, images = repo.erase_biometrics(identity_id)
            repo.set_status(identity_id, "erased")
            repo.update_fields(identity_id, {"photo_image_id": None})
            uow.record(
                "identity.erased",
                identity_id,
                {"templates": templates, "images": images},
                actor,
                {"reason": reason, "templates": templates, "images": images},
            )
            identity = repo.get(identity_id)
        self.db.checkpoint()  # the WAL's copies of the erased pages go too (best effort)
        self._project(identity_id)
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
