"""Fingerprint readers where people stand: which are attached, and a capture with the feedback the
person at the reader needs. A kiosk's device key reaches only its own gate's readers."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from edge.devices.feedback import impression_feedback
from edge.devices.fingerprint import (
    CapturedImage,
    FingerprintCaptureRetry,
    FingerprintCaptureTimeout,
    FingerprintReaderFailed,
    FingerprintReaderMissing,
    FingerprintReaderUnsupported,
)
from edge.devices.readers import ReaderBusy, ReaderNotConfigured
from edge.responses import Bilingual, CodedMessage, FingerQualityBody
from edge.routes.documented import refusals
from edge.security import allow, site_of
from edge.site import Site
from edge.work import work_queue
from enrollment.fingers import png_bytes
from httpkit.work import Overloaded
from kernel.access import Principal
from kernel.errors import Forbidden
from models.fingerprint.nbis import FingerprintExtractorMissing
from models.fingerprint.quality import finger_name

router = APIRouter(prefix="/v1")
CAPTURE_REFUSALS = refusals(
    ReaderNotConfigured,
    ReaderBusy,
    FingerprintCaptureTimeout,
    FingerprintCaptureRetry,
    FingerprintReaderMissing,
    FingerprintReaderUnsupported,
    FingerprintReaderFailed,
    FingerprintExtractorMissing,
    Overloaded,
)


class ReaderStatus(BaseModel):
    name: str
    gate: str | None = Field(description="The gate whose kiosk may use it; null: officers only")
    driver: str | None = Field(
        description="libfprint driver, `folder`, or null for the first found"
    )
    state: str = Field(description="ready, busy (capturing now) or absent (unplugged, not found)")
    problem: str | None = Field(description="Error code of the last failure, when absent")


class CaptureRequest(BaseModel):
    position: int | None = Field(
        None,
        ge=1,
        le=10,
        description="ISO finger position asked for (1 right thumb .. 10 left little)",
    )
    timeout_s: float = Field(15.0, ge=1.0, le=60.0, description="Longest wait for a finger")


class CaptureResponse(BaseModel):
    reader: str
    position: int | None
    finger: Bilingual | None = Field(description="The finger asked for, to say it back")
    image_png: str = Field(
        description="The impression, PNG, base64: send it on as the finger image"
    )
    width: int
    height: int
    resolution_ppi: int
    resolution_assumed: bool = Field(description="The reader did not say; libfprint's 500 ppi used")
    usable: bool = Field(description="Good enough to enrol: the enrolment API will keep it")
    quality: FingerQualityBody
    ridge_share: float | None = Field(description="Ridge pixels in the print: low dry, high wet")
    reasons: list[CodedMessage] = Field(description="What to do: refusal reasons, then hints")


def _readers_for(site: Site, principal: Principal) -> list[str]:
    """Every reader for an officer; the readers of its own gate for a kiosk."""
    return site.readers.names(principal.gate_id if principal.kind == "device" else None)


def _at_own_reader(site: Site, principal: Principal, name: str) -> None:
    reader = site.readers.settings(name)  # ReaderNotConfigured first: a typo is not a 403
    if principal.kind == "device" and reader.gate != principal.gate_id:
        raise Forbidden.for_action(f"reader {name}", f"device of gate {principal.gate_id}")


@router.get("/readers", response_model=list[ReaderStatus], responses=refusals())
async def readers(
    site: Annotated[Site, Depends(site_of)],
    principal: Annotated[Principal, Depends(allow("reader.read"))],
) -> list[dict[str, Any]]:
    """The readers this caller may use and whether each is there now (found by opening it)."""
    listed = []
    for name in _readers_for(site, principal):
        state, problem = await run_in_threadpool(site.readers.state, name)
        reader = site.readers.settings(name)
        listed.append({"name": name, "gate": reader.gate, "driver": reader.driver,
                       "state": state, "problem": problem})  # fmt: skip
    return listed


@router.post("/readers/{name}/capture", response_model=CaptureResponse, responses=CAPTURE_REFUSALS)
async def capture(
    name: str,
    body: CaptureRequest,
    site: Annotated[Site, Depends(site_of)],
    principal: Annotated[Principal, Depends(allow("reader.capture"))],
    request: Request,
) -> dict[str, Any]:
    """Wait for a finger on the reader (bounded), then answer the image and what to tell the person."""
    _at_own_reader(site, principal, name)
    shot = await run_in_threadpool(site.readers.capture, name, body.timeout_s)
    # Waiting for the finger holds no slot; judging the print is heavy work (a kiosk's: gate).
    async with work_queue(request).slot("gate" if principal.kind == "device" else "desk"):
        return await run_in_threadpool(_answer, site, name, body.position, shot)


def _answer(site: Site, name: str, position: int | None, shot: CapturedImage) -> dict[str, Any]:
    feedback = impression_feedback(shot.pixels, shot.resolution_ppi, site.fingers.rules)
    quality = feedback.quality
    return {
        "reader": name, "position": position,
        "finger": None if position is None else finger_name(position).as_dict(),
        "image_png": base64.b64encode(png_bytes(shot.pixels)).decode("ascii"),
        "width": shot.width, "height": shot.height,
        "resolution_ppi": shot.resolution_ppi, "resolution_assumed": shot.resolution_assumed,
        "usable": feedback.usable,
        "quality": {"minutiae": quality.minutiae, "mean_reliability": quality.mean_reliability,
                    "contact": quality.contact, "score": quality.score},
        "ridge_share": feedback.ridge_share,
        "reasons": feedback.messages(),
    }  # fmt: skip
