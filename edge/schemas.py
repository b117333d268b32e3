"""Request and response bodies of the HTTP API (published in the OpenAPI document)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from models.engine import FaceAnalysis


class HealthResponse(BaseModel):
    status: str


class ReadyResponse(BaseModel):
    ready: bool
    pack: str
    problem: dict[str, Any] | None = Field(
        None, description="The error that keeps the models from loading."
    )


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
