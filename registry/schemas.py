"""Request and response bodies of the registry's HTTP API (pydantic only, no FastAPI)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer

from kernel.text import free_text, one_line

Line = Annotated[str, AfterValidator(one_line)]  # no control characters: PostgreSQL refuses a NUL
Text = Annotated[str, AfterValidator(free_text)]  # the same, newlines and tabs allowed

SITE_ID_PATTERN = r"^[A-Za-z0-9._-]+$"


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Line = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


class LoginResponse(BaseModel):
    token: str
    role: str
    region: str | None


class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["same", "not_same"]
    reason: Text = Field(min_length=3, max_length=2000)


class TransferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    identity_id: str = Field(min_length=36, max_length=36)
    to_site: str = Field(min_length=2, max_length=40, pattern=SITE_ID_PATTERN)
    reason: Text = Field(min_length=3, max_length=2000)


class SiteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=2, max_length=40, pattern=SITE_ID_PATTERN)
    name: Line = Field(min_length=1, max_length=200)
    region: Line = Field(min_length=1, max_length=40, description="Kanwil code")
    public_key: str = Field(min_length=40, max_length=60, description="base64 raw Ed25519 key")


class PhotoRequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text | None = Field(None, max_length=2000, description="Why the photo is needed")


class SiteKeyRequest(BaseModel):
    """A central admin registers a site's new key (after a revocation)."""

    model_config = ConfigDict(extra="forbid")

    public_key: str = Field(min_length=40, max_length=60, description="base64 raw Ed25519 key")
    reason: Text = Field(min_length=3, max_length=1000)


class SiteKeyRevocation(BaseModel):
    """Which key to refuse from now on (default: every key the site still has), and why."""

    model_config = ConfigDict(extra="forbid")

    reason: Text = Field(min_length=3, max_length=1000)
    public_key: str | None = Field(None, min_length=40, max_length=60)


# --- answers ----------------------------------------------------------------------------------
# Every answer model lists the fields clients rely on. `extra="allow"` keeps a field added later
# in a use case from being silently dropped before its model catches up; the integration test
# checks that real answers carry no field their model does not name.


def _iso(value: datetime | str) -> str:
    """A time as the registry has always written it (`isoformat`, `+00:00`), text left as is."""
    return value if isinstance(value, str) else value.isoformat()


Timestamp = Annotated[datetime | str, PlainSerializer(_iso, return_type=str)]


class Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class OpenSetSetting(Answer):
    """The open-set setting of a national duplicate search (models/openset.py)."""

    kind: str
    target_fpir: float
    gallery_people: int = Field(description="People (templates, on the FMR points) searched")
    threshold: float
    calibration: str = Field(description="site (the national gallery), or fmr-points")
    extrapolated: bool = Field(description="Threshold in the fitted tail, beyond the data")


class FingerTailHealth(Answer):
    """The finger impostor tail the search's thresholds are read off now
    (registry/national_finger_tail.py)."""

    calibration: Literal["national", "shipped", "operating-points"] = Field(
        description="national (fitted on the national fingers), shipped (the FVC tail, until"
        " REGISTRY_FINGER_MIN_PEOPLE people hold fingers), or the calibration's operating points"
    )
    dataset: str | None = Field(description="What the tail was fitted on (None: operating points)")
    calibrated_people: int = Field(
        description="People holding finger records at the last fit (merged and erased ones aside)"
    )
    impostor_comparisons: int


class FingerSearchHealth(Answer):
    """The national duplicate search by fingers now (registry/national_fingers.py)."""

    records: int = Field(description="Finger records in the index")
    people: int
    index_bytes: int = Field(description="Memory the index holds, about 55 KB per record")
    target_fpir: float
    threshold: float = Field(description="MCC threshold of a search over every record now")
    calibrated_fmr_point: float
    strict_enough: bool = Field(
        description="The calibration reaches the per-comparison FMR the target needs at this size"
    )
    calibration: FingerTailHealth


class HealthResponse(Answer):
    status: Literal["ok"]
    templates: int = Field(description="Templates in the national gallery")
    pack: str
    threshold: float = Field(description="Duplicate threshold (cosine) of the pack")
    target_fmr: float
    open_set: OpenSetSetting | None = Field(
        None, description="Where the threshold comes from: target FPIR over the people searched"
    )
    open_set_cost: dict[str, Any] | None = Field(
        None,
        description="What the target costs at this size: threshold, false cases per 100"
        " enrolments of new people, expected misses, usable",
    )
    warnings: list[dict[str, str]] = Field(
        default_factory=list,
        description="What an administrator must fix, e.g. development_key: the KEK that"
        " unlocks stored biometrics is a development file beside the service",
    )
    fingers: FingerSearchHealth | None = Field(
        None, description="The duplicate search by fingers (None: switched off)"
    )


class NotAppliedChange(Answer):
    seq: int
    outcome: Literal["ignored", "refused"]
    note: str | None


class BatchReceiptResponse(Answer):
    """Everything through `acknowledged_through` is safely stored."""

    acknowledged_through: int
    applied: int
    already_applied: int
    not_applied: list[NotAppliedChange]


class PulledChange(Answer):
    seq: int
    kind: str
    payload: dict[str, Any]


class ChangesResponse(Answer):
    changes: list[PulledChange]
    last_seq: int = Field(description="The cursor to send as `after` next time")


class RecoveredPerson(Answer):
    identity: dict[str, Any] = Field(description="The record as the site last pushed it")
    status: str
    version: int
    templates: list[dict[str, Any]] = Field(
        description="Face templates: template_id, pack_id, quality, vector_f32le_b64"
    )


class RecoveryResponse(Answer):
    last_seq: int = Field(description="The last outbox seq the registry applied from this site")
    people: list[RecoveredPerson]
    next_after: str | None = Field(description="Send as `after` for the next page; null: done")


class NationalCandidate(Answer):
    identity_id: str
    role: str
    status: str
    site_id: str | None
    site_name: str | None
    full_name: str | None
    registration_number: str | None
    nik: str | None
    nip: str | None
    score: float
    threshold: float


class NationalSearchResponse(Answer):
    pack_id: str
    threshold: float
    target_fmr: float
    candidates: list[NationalCandidate]
    open_set: OpenSetSetting | None = None


class KeyRotationResponse(Answer):
    site_id: str
    public_key: str
    status: Literal["rotated", "unchanged"]
    previous_key_accepted_until: str | None = None


class PhotoRequestSummary(Answer):
    id: int
    state: str
    note: str | None
    requested_at: Timestamp | None
    answered_at: Timestamp | None


class PhotoState(Answer):
    available: bool
    url: str | None
    request: PhotoRequestSummary | None


class CasePerson(Answer):
    id: str
    site_id: str | None
    role: str
    status: str
    full_name: str | None
    photo: PhotoState


class SiteDecision(Answer):
    identity_id: str
    candidate_id: str
    site_id: str
    decision: str
    reason: str | None
    officer: str | None
    score: float | None
    decided_at: Timestamp | None


class CaseResponse(Answer):
    id: int
    identity_a: str
    identity_b: str
    score: float
    threshold: float
    pack_id: str
    state: Literal["open", "same", "not_same"]
    opened_at: Timestamp
    survivor_id: str | None
    decided_by: str | None
    decided_at: Timestamp | None
    reason: str | None
    modality: Literal["face", "finger"] = Field(
        description="What found the pair: the face search (cosine score) or the fingers (MCC score)"
    )
    target_fpir: float | None = Field(
        None, description="Target FPIR the threshold was set for (None: a per-comparison FMR)"
    )
    templates_searched: int | None = Field(
        None, description="People (face) or finger records (finger) the search compared"
    )
    people: list[CasePerson]
    site_decisions: list[SiteDecision]


class CaseList(Answer):
    cases: list[CaseResponse]


class TransferResponse(Answer):
    identity_id: str
    from_site: str | None
    to_site: str
    reason: str
    change_seqs: list[int]


class WatchlistAdded(Answer):
    identity_id: str
    change_seq: int


class WatchlistPerson(Answer):
    identity_id: str
    site_id: str | None = Field(description="the site whose ban it is; null: the registry's entry")
    role: str
    full_name: str
    nik: str | None
    reason: str | None
    officer: str | None
    fingers: int = Field(description="finger records (ISO/IEC 19794-2) held for the ban")
    since: str


class WatchlistEntries(Answer):
    entries: list[WatchlistPerson]


class WatchlistRemoved(Answer):
    identity_id: str
    status: Literal["erased"]
    change_seq: int


class PhotoRequestResponse(Answer):
    id: int
    identity_id: str
    site_id: str
    requested_by: str
    reason: str | None
    state: str
    note: str | None
    requested_at: Timestamp | None
    answered_at: Timestamp | None


class SiteResponse(Answer):
    id: str
    name: str
    region: str
    public_key: str


class SiteKeyReplaced(Answer):
    site_id: str
    public_key: str
    status: Literal["replaced"]


class SiteKeysRevoked(Answer):
    site_id: str
    revoked: list[str]
    current_revoked: bool


class RefusedChange(Answer):
    seq: int
    kind: str
    outcome: str
    note: str | None


class QuarantinedBatch(Answer):
    received_at: Timestamp
    reason: str
    detail: str | None


class Quarantined(Answer):
    count: int
    recent: list[QuarantinedBatch]


class WithheldChange(Answer):
    """A change the site set aside after it was refused here, not yet retried or dropped."""

    seq: int
    entity_id: str
    created_at: str
    kind: str = Field(description="The kind of the change withheld")
    code: str = Field(description="Why it was refused")


class DenialCount(Answer):
    reason: str = Field(description="The gate's stable reason code")
    count: int
    id: str = Field(description="The reason in Indonesian, as the kiosk says it")
    en: str = Field(description="The reason in English")


class SiteActivity(Answer):
    """What the site did, by the changes that arrived in the period (gate days arrive late
    when a site was offline)."""

    enrolled: dict[str, int] = Field(description="role (inmate, staff, visitor) -> people enrolled")
    visits_in: int = Field(description="Visitor entries admitted: visits opened")
    visits_out: int = Field(description="Visitor exits admitted: visits closed")
    alarms_raised: int
    alarms_cleared: int = Field(description="Alarms cleared in the period, whenever raised")
    alarms_open: int = Field(description="Alarms raised at any time and not cleared yet")
    denials: list[DenialCount] = Field(description="Most frequent first")


class AccessRefused(Answer):
    """Why the registry refuses a site now: it cannot be in touch, whatever its last contact."""

    reason: str = Field(description="key revoked, no current key, or the registry's 401 reason")
    since: Timestamp | None = Field(
        description="The revocation, or the first refusal since contact"
    )
    refused_batches: int = Field(description="Batches refused as unauthenticated since contact")


class SiteReport(Answer):
    id: str
    name: str
    region: str
    last_seq: int
    last_contact: Timestamp | None
    silent: bool
    arrived: dict[str, dict[str, int]] = Field(description="kind -> outcome -> count, last day")
    refused: list[RefusedChange]
    quarantined: Quarantined
    pending_cases: int
    withheld: list[WithheldChange] = Field(
        description="Changes refused one by one, an alarm until the site resolves them"
    )
    access_refused: AccessRefused | None = Field(
        None, description="Set while the registry refuses the site (not in touch, see reports.py)"
    )
    activity: SiteActivity


class SiteReportList(Answer):
    sites: list[SiteReport]
