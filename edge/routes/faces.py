"""Face endpoints: analyse a photo, compare two, verify 1:1 against an identity, identify 1:N."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, UploadFile
from starlette.concurrency import run_in_threadpool

from edge.responses import IdentifyResponse, VerifyResponse
from edge.routes.documented import FACE, FINGER, refusals
from edge.routes.uploads import read_upload
from edge.schemas import AnalyseResponse, CompareResponse, analysis_body
from edge.security import allow, site_of
from edge.site import Site
from edge.work import DESK_WORK
from enrollment import queries
from enrollment.fingers import FingerNotEnrolled
from enrollment.fused import FingerProbe, NothingToVerify
from enrollment.fused_search import FingerprintUnusable
from enrollment.matching import NoTemplates
from enrollment.repository import IdentityNotFound
from kernel.access import Principal
from kernel.errors import InputError
from models.engine import cosine
from models.errors import ModelNotReady
from models.fingerprint import nbis

router = APIRouter(prefix="/v1")
Role = Literal["inmate", "staff", "visitor"]
Status = Literal["active", "released", "transferred_out", "banned", "merged"]


@router.post(
    "/faces/analyse",
    response_model=AnalyseResponse,
    responses=refusals(*FACE),
    dependencies=[DESK_WORK],
)
async def analyse_face(
    image: Annotated[UploadFile, File()],
    site: Annotated[Site, Depends(site_of)],
    _: Annotated[Principal, Depends(allow("face.analyse"))],
) -> AnalyseResponse:
    """Find the subject's face: box, landmarks, quality with reasons, liveness, template."""
    engine = site.engine()
    result = await run_in_threadpool(engine.analyse_bytes, await read_upload(image, site.settings))
    return AnalyseResponse(pack=engine.pack_id, **analysis_body(result))


@router.post(
    "/faces/compare",
    response_model=CompareResponse,
    responses=refusals(*FACE),
    dependencies=[DESK_WORK],
)
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


@router.post(
    "/verify",
    response_model=VerifyResponse,
    responses=refusals(
        *FINGER, IdentityNotFound, FingerNotEnrolled, NothingToVerify, ModelNotReady
    ),
    dependencies=[DESK_WORK],
)
async def verify(
    identity_id: Annotated[str, Form(min_length=36, max_length=36)],
    site: Annotated[Site, Depends(site_of)],
    _: Annotated[Principal, Depends(allow("face.verify"))],
    image: Annotated[UploadFile | None, File()] = None,
    finger_image: Annotated[UploadFile | None, File()] = None,
    finger_position: Annotated[int | None, Form(ge=1, le=10)] = None,
    finger_ppi: Annotated[int, Form(ge=250, le=1000)] = 500,
) -> dict[str, Any]:
    """1:1: is this the person enrolled as identity_id? Face, fingerprint, or both fused.

    With both, the scores are fused (log-likelihood ratios, threshold in nats); with one, it
    decides alone at its own calibrated threshold. A face or finger that cannot be used is
    reported and the other decides; neither usable is 422 nothing_to_verify.
    """
    face = await _face_score(site, identity_id, image)
    finger = None
    if finger_image is not None:
        pixels = nbis.read_image(await read_upload(finger_image, site.settings))
        finger = FingerProbe(pixels, finger_ppi, finger_position)
    target = site.settings.match.verify_fmr
    result = await run_in_threadpool(site.fused.verify, identity_id, face.score, finger, target)
    decision = result.decision
    return {
        "identity_id": identity_id,
        "match": decision.match,
        "used": list(decision.used),
        "reason": decision.reason,
        "score": round(decision.fused_score, 4),
        "threshold": round(decision.threshold, 6),
        "score_units": "nats" if len(decision.used) == 2 else decision.used[0],
        "target_fmr": target,
        "face": {"score": face.score, "problem": face.problem, "pack": face.pack_id,
                 "quality": face.quality, "live_score": face.live_score},
        "finger": {"score": result.finger_score, "problem": result.finger_problem},
    }  # fmt: skip


@dataclass(frozen=True)
class _FaceScore:
    score: float | None
    problem: str | None = None
    pack_id: str | None = None
    quality: dict[str, Any] | None = None
    live_score: float | None = None


async def _face_score(site: Site, identity_id: str, image: UploadFile | None) -> _FaceScore:
    """The face's 1:1 score, or why there is none (the other modality may still decide)."""
    if image is None:
        return _FaceScore(None, "no_face_image")
    data = await read_upload(image, site.settings)
    try:
        decision = await run_in_threadpool(site.matcher.verify, identity_id, data)
    except (InputError, NoTemplates) as exc:
        return _FaceScore(None, exc.code)
    probe = decision.probe
    live, needed = probe.live_score, site.gate.policy.liveness_threshold
    if site.gate.policy.require_liveness and live is not None and live < needed:
        # A photo held up to the camera must not verify anyone: the face counts as unusable.
        return _FaceScore(None, "not_live", decision.pack_id, probe.quality.as_dict(), live)
    return _FaceScore(decision.score, None, decision.pack_id, probe.quality.as_dict(), live)


@router.post(
    "/identify",
    response_model=IdentifyResponse,
    responses=refusals(*FACE, *FINGER, FingerprintUnusable),
    dependencies=[DESK_WORK],
)
async def identify(
    image: Annotated[UploadFile, File()],
    site: Annotated[Site, Depends(site_of)],
    _: Annotated[Principal, Depends(allow("face.identify"))],
    roles: Annotated[list[Role] | None, Form()] = None,
    statuses: Annotated[list[Status] | None, Form()] = None,
    finger_image: Annotated[UploadFile | None, File()] = None,
    finger_position: Annotated[int | None, Form(ge=1, le=10)] = None,
) -> dict[str, Any]:
    """1:N: candidates above the threshold among the roles and statuses given, or 'unknown';
    with a finger, face and finger decided together (`fused` holds the evidence)."""
    data = await read_upload(image, site.settings)
    finger = None
    if finger_image is not None:
        raw = await read_upload(finger_image, site.settings)
        finger = FingerProbe(nbis.read_image(raw), 500, finger_position)
    result = await run_in_threadpool(site.matcher.identify, data, roles, statuses or ["active"])
    found = [(c.identity_id, c.score, c.role, c.status) for c in result.candidates]
    fused = None
    if finger is not None:
        fused = await run_in_threadpool(site.fused_search.identify, result, finger, roles,
                                        statuses or ["active"], site.thresholds().open_set)  # fmt: skip
        if fused.finger_problem is not None:
            raise FingerprintUnusable(problem=fused.finger_problem)
        found = site.fused_search.candidates(fused)
    names = queries.full_names(site.db, [f[0] for f in found])
    return {
        "result": "candidates" if found else "unknown",
        "candidates": [
            {"identity_id": i, "score": round(score, 4), "role": role, "status": status,
             "full_name": names.get(i)}
            for i, score, role, status in found
        ],
        "threshold": round(result.threshold, 6),
        "target_fmr_per_comparison": result.target_fmr,
        "open_set": result.open_set.evidence() if result.open_set else None,
        "pack": result.pack_id,
        "live_score": result.probe.live_score,
        "fused": fused.evidence("fused") if fused else None,
    }  # fmt: skip
