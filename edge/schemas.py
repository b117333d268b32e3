"""Request and response bodies of the HTTP API (published in the OpenAPI document)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from kernel.text import free_text, one_line
from models.engine import FaceAnalysis

Line = Annotated[str, AfterValidator(one_line)]  # no control characters (NUL, bidi overrides...)
Text = Annotated[str, AfterValidator(free_text)]  # the same, newlines and tabs allowed


class HealthResponse(BaseModel):
    status: str


class FaceBody(BaseModel):
    box: list[float] = Field(description="x1, y1, x2, y2 in the uploaded image's pixels")
    landmarks: list[list[float]] = Field(description="eyes, nose tip, mouth corners (x, y)")
    detector_score: float
    faces_found: int
    quality: dict[str, Any]
    live_score: float | None = Field(None, description="Fused MiniFASNet live probability, 0..1")
    template: list[float] | None = Field(None, description="L2-normalised face template")
    timings_ms: dict[str, float]


class AnalyseResponse(FaceBody):
    pack: str


class CompareResponse(BaseModel):
    pack: str
    score: float = Field(description="Cosine similarity of the two templates")
    threshold: float = Field(description="Score at or above which the two are the same person")
    target_fmr: float
    threshold_supported: bool = Field(
        description="False when the calibration set was too small for this FMR"
    )
    match: bool
    probe: FaceBody
    reference: FaceBody


def analysis_body(result: FaceAnalysis, include_template: bool = True) -> dict[str, Any]:
    """The JSON fields describing one analysed face."""
    return {
        "box": [round(v, 1) for v in result.face.box],
        "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in result.face.landmarks],
        "detector_score": round(result.face.score, 4),
        "faces_found": result.faces_found,
        "quality": result.quality.as_dict(),
        "live_score": None if result.live_score is None else round(result.live_score, 4),
        "template": [float(v) for v in result.template] if include_template else None,
        "timings_ms": {k: round(v, 2) for k, v in result.timings_ms.items()},
    }


def _calendar_date(text: str) -> str:
    """A YYYY-MM-DD that exists (1990-02-30 does not)."""
    try:
        date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{text} is not a date that exists (YYYY-MM-DD)") from exc
    return text


DateText = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$"), AfterValidator(_calendar_date)]


class LoginRequest(BaseModel):
    username: Line = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class LoginResponse(BaseModel):
    token: str
    role: str
    name: str = Field(description="The username, as recorded in the audit log")
    full_name: str


class VisitLinkBody(BaseModel):
    inmate_id: str = Field(min_length=36, max_length=36)
    relationship: Line = Field(min_length=1, max_length=40)


class IdentityBody(BaseModel):
    """Registration data typed at the enrolment desk (role-specific fields checked server-side)."""

    full_name: Line = Field(min_length=1, max_length=200)
    birth_date: DateText | None = None
    sex: Literal["F", "M"] | None = None
    aliases: list[Annotated[Line, Field(max_length=200)]] = Field(
        default_factory=list, max_length=20
    )
    nik: Line | None = Field(None, max_length=30)
    nip: Line | None = Field(None, max_length=30)
    registration_number: Line | None = Field(None, max_length=40)
    phone: Line | None = Field(None, max_length=20)
    admission_date: DateText | None = None
    case_reference: Line | None = Field(None, max_length=80)
    cell_block: Line | None = Field(None, max_length=40)
    visits: list[VisitLinkBody] = Field(default_factory=list, max_length=10)
    consent_purpose: Text | None = Field(
        None, max_length=200, description="Visitors: what they consented to"
    )


class DecisionBody(BaseModel):
    candidate_identity_id: str = Field(min_length=36, max_length=36)
    decision: Literal["same_person", "different_person"]
    reason: Text = Field("", max_length=500)


class TypedFields(BaseModel):
    """Typed values the officer keeps over the stored ones of the record "same person" joins."""

    model_config = ConfigDict(extra="forbid")

    full_name: Line | None = Field(None, min_length=1, max_length=300)
    birth_date: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    sex: Literal["F", "M"] | None = None
    aliases: list[Annotated[Line, Field(max_length=300)]] | None = Field(None, max_length=20)


class CommitRequest(BaseModel):
    identity: IdentityBody | None = None
    decisions: list[DecisionBody] = Field(default_factory=list, max_length=20)
    supervisor_token: str | None = Field(
        None, max_length=200, description="A supervisor's session token: their sign-off for an"
        " inmate look-alike or a cross-role join (the desk signs them out again at once)",
    )  # fmt: skip
    keep_typed: TypedFields | None = Field(
        None, description="'Same person' only: typed values that replace the joined record's"
    )
    replace_templates: bool = Field(
        False, description="Re-enrolment only: the new captures replace the identity's templates"
    )


class StartSessionRequest(BaseModel):
    role: Literal["inmate", "staff", "visitor"]
    identity_id: str | None = Field(
        None, min_length=36, max_length=36, description="Re-enrol this identity"
    )


class IdentityUpdate(BaseModel):
    """Corrections an enrolment officer may make; identity numbers are fixed at enrolment."""

    model_config = ConfigDict(extra="forbid")

    full_name: Line | None = Field(None, min_length=1, max_length=200)
    aliases: list[Annotated[Line, Field(min_length=1, max_length=200)]] | None = Field(
        None, max_length=20
    )
    details: dict[str, str | int | float | bool | None] | None = None


class StatusRequest(BaseModel):
    status: Literal["active", "released", "transferred_out", "banned"]
    reason: Text = Field(min_length=3, max_length=500)


class ErasureRequest(BaseModel):
    reason: Text = Field(min_length=3, max_length=500)
