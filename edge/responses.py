"""Response bodies of the HTTP API: what each route answers, as published in the OpenAPI document.

Routes declare these as their response model, so FastAPI checks every answer against the
document a client reads. Request bodies and the face analysis live in edge/schemas.py.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Role = Literal["inmate", "staff", "visitor"]
IdentityStatus = Literal["active", "released", "transferred_out", "banned", "merged", "erased"]


class Bilingual(BaseModel):
    id: str = Field(description="Bahasa Indonesia: what an officer reads first")
    en: str = Field(description="English")


class CodedMessage(Bilingual):
    code: str = Field(description="Stable machine-readable reason code")


# --- system -------------------------------------------------------------------------------------


class Problem(BaseModel):
    code: str
    message: Bilingual | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class ReadyResponse(BaseModel):
    """200 when ready; the same body with 503 and the problem to fix when not."""

    ready: bool
    pack: str
    gallery: int | None = Field(None, description="Templates in the live gallery")
    problem: Problem | None


# --- admin --------------------------------------------------------------------------------------


class GalleryDifferences(BaseModel):
    missing_in_index: list[int]
    extra_in_index: list[int]
    wrong_metadata: list[int]
    wrong_vector: list[int]


class GalleryCheckResponse(BaseModel):
    ok: bool = Field(description="The live gallery matches the database exactly")
    templates: int
    partitions: dict[str, int] = Field(description="Templates per role/status")
    differences: GalleryDifferences


class GalleryRebuilt(BaseModel):
    templates: int


# --- identities ---------------------------------------------------------------------------------


class IdentityResponse(BaseModel):
    """An identity; a gate device sees only id, role, status, full_name and photo_url."""

    id: str
    role: Role
    status: str
    full_name: str
    photo_url: str | None = Field(description="The photo of record, when there is one")
    birth_date: str | None = None
    sex: str | None = None
    aliases: list[str] | None = None
    nik: str | None = None
    nip: str | None = None
    registration_number: str | None = None
    details: dict[str, Any] | None = None
    origin_site: str | None = None
    merged_into: str | None = None
    photo_image_id: int | None = None
    created_at: str | None = None
    updated_at: str | None = None
    version: int | None = None


# --- captures -----------------------------------------------------------------------------------


class SessionStarted(BaseModel):
    session_id: str
    needed: int = Field(description="Good captures needed before the commit")


class FrameFeedback(BaseModel):
    accepted: bool
    reasons: list[CodedMessage] = Field(description="What to fix when the frame was not kept")
    quality: dict[str, Any]
    live_score: float | None
    kept: int
    needed: int
    capture_id: int | None
    error: dict[str, Any] | None = Field(description="The house error when no face could be used")
    ready: bool = Field(description="Enough good captures to commit")


class StoredFields(BaseModel):
    """A candidate's stored fields, for the officer to reconcile with what was typed."""

    birth_date: str | None = None
    sex: str | None = None
    aliases: list[str] = Field(default_factory=list)
    nik: str | None = None
    nip: str | None = None
    registration_number: str | None = None


class LocalCandidate(BaseModel):
    identity_id: str
    score: float
    role: str
    status: str
    full_name: str
    photo_url: str | None
    inmate_lookalike: bool = Field(
        False, description="An active Warga Binaan resembling a visitor or staff enrolment:"
        " any decision about them needs a supervisor (supervisor_token)",
    )  # fmt: skip
    stored: StoredFields | None = None


class NationalCandidateBody(BaseModel):
    identity_id: str
    role: str
    status: str
    site_id: str | None
    site_name: str | None
    full_name: str | None
    score: float
    threshold: float
    registration_number: str | None
    nik: str | None
    nip: str | None
    photo_url: None = Field(description="Never here: the owning site holds the photo")
    inmate_lookalike: bool = False


class ActiveInmate(BaseModel):
    identity_id: str
    full_name: str
    registration_number: str | None
    cell_block: str | None


class ActiveInmates(BaseModel):
    inmates: list[ActiveInmate]


class NationalSearchSummary(BaseModel):
    status: Literal["searched", "unavailable", "not_configured"]
    reason: str | None


class DuplicatesResponse(BaseModel):
    candidates: list[LocalCandidate]
    national_candidates: list[NationalCandidateBody]
    national_search: NationalSearchSummary


class CommitResponse(BaseModel):
    identity_id: str
    created: bool = Field(description="A new identity (false: templates added to a known one)")
    template_ids: list[int]
    national_search: NationalSearchSummary


# --- faces --------------------------------------------------------------------------------------


class FaceEvidence(BaseModel):
    score: float | None
    problem: str | None = Field(description="Why the face could not be used, if it could not")
    pack: str | None
    quality: dict[str, Any] | None
    live_score: float | None


class FingerEvidence(BaseModel):
    score: float | None
    problem: str | None


class VerifyResponse(BaseModel):
    identity_id: str
    match: bool
    used: list[Literal["face", "finger"]]
    reason: str = Field(description="fused, finger_missing or face_missing")
    score: float
    threshold: float
    score_units: str = Field(description="nats when fused, else the modality's own score")
    target_fmr: float
    face: FaceEvidence
    finger: FingerEvidence


class IdentifyCandidate(BaseModel):
    identity_id: str
    score: float
    role: str
    status: str
    full_name: str | None


class IdentifyResponse(BaseModel):
    result: Literal["candidates", "unknown"]
    candidates: list[IdentifyCandidate]
    fused: dict[str, Any] | None = Field(
        None,
        description="With a finger: each person's face, finger and fused evidence, and the"
        " setting (enrollment/fused_search.py); the candidates are then the fused matches",
    )
    threshold: float
    target_fmr_per_comparison: float
    open_set: dict[str, Any] | None = Field(
        None,
        description="The 1:N setting the threshold follows: decision kind, target FPIR, people"
        " searched, calibration source (gallery_sync/openset.py); None on the FMR points",
    )
    pack: str
    live_score: float | None


# --- fingers ------------------------------------------------------------------------------------


class FingerQualityBody(BaseModel):
    minutiae: int
    mean_reliability: float
    contact: float
    score: float


class FingerDuplicateBody(BaseModel):
    identity_id: str
    full_name: str
    role: str
    status: str
    registration_number: str | None
    position: int | None = Field(description="Their finger (ISO position) that matched")
    score: float
    threshold: float = Field(description="For the desk's duplicate check's target FPIR")
    inmate_lookalike: bool = Field(
        description="An active inmate's finger at a visitor or staff enrolment: a supervisor's matter"
    )


class FingerFeedbackResponse(BaseModel):
    accepted: bool
    position: int
    reasons: list[CodedMessage]
    quality: FingerQualityBody
    impressions: int = Field(description="Accepted impressions of this finger so far")
    complete: bool = Field(description="The identity has enough fingers and impressions")
    duplicates: list[FingerDuplicateBody] = Field(
        default_factory=list,
        description="Other people whose enrolled fingers match this impression, best first"
        " (the desk's duplicate check, issue 12); empty when none or the impression was not kept",
    )


class FingerRequirement(BaseModel):
    fingers: int
    impressions_each: int


class FingerStatusResponse(BaseModel):
    fingers: dict[str, int] = Field(description="Accepted impressions per ISO finger position")
    complete: bool
    required: FingerRequirement


class FingerVerifyResponse(BaseModel):
    identity_id: str
    match: bool
    score: float
    threshold: float
    target_fmr: float
    comparisons: int
    position: int | None
    matcher: str
    calibrated_fmr_point: float = Field(description="The calibrated FMR the threshold is for")


class ShortlistEntry(BaseModel):
    identity_id: str
    score: float


class ShortlistResponse(BaseModel):
    shortlist: list[ShortlistEntry]
    decision: None = Field(description="Always null: a shortlist decides nothing by itself")


class FingerCandidate(BaseModel):
    person: str = Field(description="Identity id")
    score: float = Field(description="Best MCC score of the person's fingers compared")
    position: int | None = Field(description="ISO position of the finger that gave it")
    templates: int = Field(description="The person's impressions scored")


class FingerIdentifyResponse(BaseModel):
    matches: list[FingerCandidate] = Field(description="People at or above the threshold")
    candidates: list[FingerCandidate] = Field(description="The best five people, decided or not")
    threshold: float
    target_fpir: float
    calibrated_fmr_point: float = Field(description="Per-comparison FMR of the threshold used")
    templates_searched: int
    position: int | None
    strict_enough: bool = Field(
        description="False when no calibrated threshold meets the target: with the fitted impostor"
        " tail only at the score ceiling (beyond the counted scores it extrapolates, as stated);"
        " without it, past the strictest operating point"
    )


# --- gate ---------------------------------------------------------------------------------------


class GateResponse(BaseModel):
    id: str
    name: str
    directions: list[Literal["in", "out"]]
    roles: list[Role]


class GateListed(GateResponse):
    devices: int  # active terminals registered at this gate


class Person(BaseModel):
    identity_id: str
    full_name: str
    role: str
    status: str
    photo_url: str | None


class DecisionResponse(BaseModel):
    """A gate decision as the kiosk shows it."""

    event_id: int
    result: Literal["admit", "deny", "alarm"]
    reason: str
    message: Bilingual
    passage: str
    gate_id: str
    at: str
    visit_id: str | None
    person: Person | None
    evidence: dict[str, Any]


class AlarmCleared(BaseModel):
    event_id: int
    result: str
    alarm_cleared_by: str | None


class GateEventResponse(BaseModel):
    """A stored decision with the message the kiosk shows for it."""

    id: int
    gate_id: str
    at: str
    passage: str
    direction: Literal["in", "out"]
    result: Literal["admit", "deny", "alarm"]
    reason: str
    claimed_identity_id: str | None
    matched_identity_id: str | None
    evidence: dict[str, Any]
    actor: str
    order_reference: str | None
    overrides_event_id: int | None
    alarm_cleared_by: str | None
    message: Bilingual


class VisitInside(BaseModel):
    id: str
    visitor_id: str
    visitor_name: str
    inmate_id: str | None
    inmate_name: str | None
    entry_gate: str
    entry_at: str
