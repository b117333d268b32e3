"""Fingerprints: enrol impressions, enrolment status, 1:1 verification, 1:N shortlist and
decision, ISO export."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from edge.responses import (
    FingerFeedbackResponse,
    FingerIdentifyResponse,
    FingerStatusResponse,
    FingerVerifyResponse,
    ShortlistResponse,
)
from edge.routes.documented import FINGER, binary, refusals
from edge.routes.uploads import read_upload
from edge.security import allow, site_of
from edge.site import Site
from edge.work import DESK_WORK
from enrollment.fingers import FingerFeedback, FingerNotEnrolled
from enrollment.repository import IdentityNotFound
from kernel.access import Principal
from models.fingerprint import nbis

router = APIRouter(prefix="/v1")
Ppi = Annotated[int, Form(ge=250, le=1000, description="Reader resolution in pixels per inch")]


def feedback_body(feedback: FingerFeedback) -> dict[str, Any]:
    """What the desk shows for one impression."""
    quality = feedback.quality
    return {
        "accepted": feedback.accepted,
        "position": feedback.position,
        "reasons": quality.reason_messages(),
        "quality": {"minutiae": quality.minutiae, "mean_reliability": quality.mean_reliability,
                    "contact": quality.contact, "score": quality.score},
        "impressions": feedback.impressions,
        "complete": feedback.complete,
    }  # fmt: skip


@router.post(
    "/identities/{identity_id}/fingers",
    response_model=FingerFeedbackResponse,
    responses=refusals(*FINGER, IdentityNotFound),
    dependencies=[DESK_WORK],
)
async def enrol_finger(
    identity_id: str, image: Annotated[UploadFile, File()], position: Annotated[int, Form(ge=1, le=10)],
    site: Annotated[Site, Depends(site_of)], principal: Annotated[Principal, Depends(allow("finger.enrol"))],
    resolution_ppi: Ppi = 500,
) -> dict[str, Any]:  # fmt: skip
    """One impression of one finger (ISO position 1-10): kept if good enough, with reasons if not,
    and the other people whose fingers it matches (the desk's duplicate check)."""
    pixels = nbis.read_image(await read_upload(image, site.settings))
    feedback, check = await run_in_threadpool(
        site.desk_fingers.enrol, identity_id, position, pixels, resolution_ppi, principal.name
    )
    found = [d.body() for d in check.duplicates] if check else []
    return {**feedback_body(feedback), "duplicates": found}


@router.get(
    "/identities/{identity_id}/fingers", response_model=FingerStatusResponse, responses=refusals()
)
def finger_status(identity_id: str, site: Annotated[Site, Depends(site_of)],
                  _: Annotated[Principal, Depends(allow("identity.read"))]) -> dict[str, Any]:  # fmt: skip
    """Impressions per finger and whether the enrolment is complete."""
    return site.fingers.status(identity_id)


@router.get(
    "/identities/{identity_id}/fingers/iso",
    response_class=Response,
    responses={
        **binary("application/octet-stream", "An ISO/IEC 19794-2:2005 minutiae record"),
        **refusals(FingerNotEnrolled),
    },
)
def finger_iso(identity_id: str, site: Annotated[Site, Depends(site_of)],
               _: Annotated[Principal, Depends(allow("finger.enrol"))]) -> Response:  # fmt: skip
    """The identity's minutiae as an ISO/IEC 19794-2:2005 record, for another system."""
    return Response(site.fingers.iso_export(identity_id), media_type="application/octet-stream")


@router.post(
    "/identities/{identity_id}/fingers/verify",
    response_model=FingerVerifyResponse,
    responses=refusals(*FINGER, FingerNotEnrolled),
    dependencies=[DESK_WORK],
)
async def verify_finger(
    identity_id: str, image: Annotated[UploadFile, File()], site: Annotated[Site, Depends(site_of)],
    _: Annotated[Principal, Depends(allow("finger.verify"))],
    position: Annotated[int | None, Form(ge=1, le=10)] = None, resolution_ppi: Ppi = 500,
) -> dict[str, Any]:  # fmt: skip
    """1:1: best of the claimed identity's impressions, at the configured target FMR."""
    pixels = nbis.read_image(await read_upload(image, site.settings))
    target = site.settings.match.verify_fmr
    decision = await run_in_threadpool(
        site.fingers.verify, identity_id, pixels, resolution_ppi, target, position
    )
    return {
        "identity_id": identity_id,
        **asdict(decision),
        "target_fmr": target,
        "calibrated_fmr_point": decision.target_fmr,
    }


@router.post(
    "/fingers/shortlist",
    response_model=ShortlistResponse,
    responses=refusals(*FINGER),
    dependencies=[DESK_WORK],
)
async def shortlist(
    image: Annotated[UploadFile, File()], site: Annotated[Site, Depends(site_of)],
    _: Annotated[Principal, Depends(allow("finger.shortlist"))], resolution_ppi: Ppi = 500,
) -> dict[str, Any]:  # fmt: skip
    """1:N as a shortlist only: the best-scoring identities, for a face check or an officer to decide."""
    pixels = nbis.read_image(await read_upload(image, site.settings))
    found = await run_in_threadpool(site.fingers.shortlist, pixels, resolution_ppi)
    return {"shortlist": [{"identity_id": i, "score": s} for i, s in found], "decision": None}


@router.post(
    "/fingers/identify",
    response_model=FingerIdentifyResponse,
    responses=refusals(*FINGER),
    dependencies=[DESK_WORK],
)
async def identify(
    image: Annotated[UploadFile, File()], site: Annotated[Site, Depends(site_of)],
    _: Annotated[Principal, Depends(allow("finger.identify"))],
    position: Annotated[int | None, Form(ge=1, le=10)] = None, resolution_ppi: Ppi = 500,
) -> dict[str, Any]:  # fmt: skip
    """1:N that decides: the people whose best finger reaches the threshold for the target FPIR."""
    pixels = nbis.read_image(await read_upload(image, site.settings))
    target = site.settings.match.finger_fpir
    found = await run_in_threadpool(site.fingers.identify, pixels, resolution_ppi, target, position)
    return {
        "matches": [asdict(c) for c in found.matches],
        "candidates": [asdict(c) for c in found.candidates[:5]],
        "threshold": found.threshold,
        "target_fpir": found.target_fpir,
        "calibrated_fmr_point": found.calibrated_fmr_point,
        "templates_searched": found.templates_searched,
        "position": found.position,
        "strict_enough": found.strict_enough,
    }
