"""Face endpoints: analyse a photo, compare two, verify 1:1 against an identity, identify 1:N."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, UploadFile
from starlette.concurrency import run_in_threadpool

from edge.routes.uploads import read_upload
from edge.schemas import AnalyseResponse, CompareResponse, analysis_body
from edge.security import allow, site_of
from edge.site import Site
from enrollment.accounts import Principal
from models.engine import cosine

router = APIRouter(prefix="/v1")
Role = Literal["inmate", "staff", "visitor"]
Status = Literal["active", "released", "transferred_out", "banned", "merged"]


@router.post("/faces/analyse", response_model=AnalyseResponse)
async def analyse_face(
    image: Annotated[UploadFile, File()],
    site: Annotated[Site, Depends(site_of)],
    _: Annotated[Principal, Depends(allow("face.analyse"))],
) -> AnalyseResponse:
    """Find the subject's face: box, landmarks, quality with reasons, liveness, template."""
    engine = site.engine()
    result = await run_in_threadpool(engine.analyse_bytes, await read_upload(image, site.settings))
    return AnalyseResponse(pack=engine.pack_id, **analysis_body(result))


@router.post("/faces/compare", response_model=CompareResponse)
async def compare_faces(
    probe: Annotated[UploadFile, File()],
    reference: Annotated[UploadFile, File()],
    site: Annotated[Site, Depends(site_of)],
    _: Annotated[Principal, Depends(allow("face.verify"))],
) -> CompareResponse:
    """1:1 on two photos: are they the same person at the configured target FMR?"""
    engine, thresholds = site.engine(), site.thresholds()
    first = await run_in_threadpool(engine.analyse_bytes, await read_upload(probe, site.settings))
    second = await run_in_threadpool(
        engine.analyse_bytes, await read_upload(reference, site.settings)
    )
    score = cosine(first.template, second.template)
    return CompareResponse(
        pack=engine.pack_id,
        score=score,
        threshold=thresholds.verify,
        target_fmr=thresholds.verify_fmr,
        threshold_supported=site.calibration.point_for(thresholds.verify_fmr).supported,  # type: ignore[union-attr]
        match=score >= thresholds.verify,
        probe=analysis_body(first, include_template=False),
        reference=analysis_body(second, include_template=False),
    )


@router.post("/verify")
async def verify(
    identity_id: Annotated[str, Form(min_length=36, max_length=36)],
    image: Annotated[UploadFile, File()],
    site: Annotated[Site, Depends(site_of)],
    _: Annotated[Principal, Depends(allow("face.verify"))],
) -> dict[str, Any]:
    """1:1: is this the person enrolled as identity_id? Decision, score, threshold and its FMR."""
    decision = await run_in_threadpool(
        site.matcher.verify, identity_id, await read_upload(image, site.settings)
    )
    return {
        "identity_id": decision.identity.id,
        "match": decision.match,
        "score": round(decision.score, 4),
        "threshold": round(decision.threshold, 6),
        "target_fmr": decision.target_fmr,
        "pack": decision.pack_id,
        "quality": decision.probe.quality.as_dict(),
        "live_score": decision.probe.live_score,
    }


@router.post("/identify")
async def identify(
    image: Annotated[UploadFile, File()],
    site: Annotated[Site, Depends(site_of)],
    _: Annotated[Principal, Depends(allow("face.identify"))],
    roles: Annotated[list[Role] | None, Form()] = None,
    statuses: Annotated[list[Status] | None, Form()] = None,
) -> dict[str, Any]:
    """1:N: candidates above the threshold among the roles and statuses given, or 'unknown'."""
    data = await read_upload(image, site.settings)
    result = await run_in_threadpool(site.matcher.identify, data, roles, statuses or ["active"])
    names = site_names(site, [c.identity_id for c in result.candidates])
    return {
        "result": "candidates" if result.candidates else "unknown",
        "candidates": [
            {"identity_id": c.identity_id, "score": round(c.score, 4), "role": c.role, "status": c.status,
             "full_name": names.get(c.identity_id)}
            for c in result.candidates
        ],
        "threshold": round(result.threshold, 6),
        "target_fmr_per_comparison": result.target_fmr,
        "pack": result.pack_id,
        "live_score": result.probe.live_score,
    }  # fmt: skip


def site_names(site: Site, identity_ids: list[str]) -> dict[str, str]:
    """Full names for candidate ids (one query)."""
    if not identity_ids:
        return {}
    marks = ",".join("?" * len(identity_ids))
    with site.db.reading() as tx:
        rows = tx.execute(
            f"SELECT id, full_name FROM identities WHERE id IN ({marks})", identity_ids
        )
        return {r[0]: r[1] for r in rows}
