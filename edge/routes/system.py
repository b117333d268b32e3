"""Health, readiness, login and Prometheus metrics."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from edge.metrics import render_metrics
from edge.responses import ReadyResponse
from edge.routes.documented import refusals
from edge.schemas import HealthResponse, LoginRequest, LoginResponse
from edge.security import authenticate, site_of
from edge.site import Site
from edge.sync_text import problem_warnings
from enrollment import queries
from enrollment.accounts import sign_in, sign_out
from kernel.access import Principal, SignInThrottled
from kernel.errors import Message, Unauthenticated
from site_sync import dead_letters, problems

router = APIRouter()
log = logging.getLogger(__name__)

# Said when the gallery holds another count of templates than the database even after applying
# the gallery feed (other processes' writes arrive through it): memory damaged, or a bug.
GALLERY_BEHIND = Message(
    "Galeri wajah di memori berbeda dari basis data: jalankan gerbang gallery rebuild, atau mulai"
    " ulang layanan.",
    "The face gallery in memory differs from the database: run gerbang gallery rebuild, or"
    " restart the service.",
)
DEAD_LETTERS = Message(
    "Ada perubahan yang ditolak registri dan ditahan di situs ini: lihat gerbang sync status.",
    "Some changes were refused by the registry and are held at this site: see gerbang sync status.",
)


@router.get("/health", response_model=HealthResponse)
def health() -> HealthResponse:
    """The process is up (it may still be loading models)."""
    return HealthResponse(status="ok")


@router.get(
    "/ready",
    response_model=ReadyResponse,
    responses={
        503: {"model": ReadyResponse, "description": "Not ready: `problem` says what to fix"}
    },
)
def ready(site: Annotated[Site, Depends(site_of)]) -> JSONResponse:
    """Models loaded and verified, gallery consistent with the database, fingerprint extractor
    loadable; 503 with the fix when not. Warnings (still 200): changes the registry refused,
    pushing or pulling stopped by the registry or an outage, a development key."""
    if not site.ready:
        problem = site.problem.to_payload()["error"] if site.problem else None
        return JSONResponse({"ready": False, "pack": site.pack_in_use(), "problem": problem}, 503)
    if changed := site.pack_changed():  # a re-embed switched the site's pack: restart
        problem = changed.to_payload()["error"]
        return JSONResponse(
            {"ready": False, "pack": site.engine().pack_id, "problem": problem}, 503
        )
    # Cheap enough for a probe every few seconds: counts only. The vector-by-vector comparison
    # is /v1/admin/gallery (it took ~1 s at 50k templates and held the database meanwhile).
    pack = site.engine().pack_id
    try:
        site.gallery_feed.follow()  # another process's writes count once applied, not before
    except Exception:  # the counts below then say how far behind; the feed thread retries
        log.exception("the gallery could not follow the database")
    stored = queries.templates_in_gallery(site.db, pack)
    held = len(site.gallery())
    withheld = dead_letters.open_count_now(site.db)  # an alarm for officers, not a reason to stop
    warnings: list[dict[str, Any]] = (
        [{"code": "sync_dead_letters", "message": DEAD_LETTERS.as_dict(), "details": {"open": withheld}}]
        if withheld
        else []
    )  # fmt: skip
    warnings += problem_warnings(problems.stored_now(site.db))  # refused, or long unreachable
    if key_warning := site.key_warning:  # a warning, not a failure: the README's first run works
        warnings.append(key_warning)
    body = {"ready": held == stored, "pack": pack, "gallery": held, "problem": None,
            "open_set": site.open_set_report(),
            "finger_calibration": site.finger_calibration_report(),
            "warnings": warnings}  # fmt: skip
    if held != stored:
        body["problem"] = {
            "code": "gallery_inconsistent",
            "message": GALLERY_BEHIND.as_dict(),
            "details": {"database": stored, "gallery": held,
                        "fix": "gerbang gallery rebuild (or restart the service)"},
        }  # fmt: skip
    elif finger := site.nbis.problem or site.finger_problem:  # faces work; fingers not (yet)
        body |= {"ready": False, "problem": finger.to_payload()["error"]}
    return JSONResponse(body, 200 if body["ready"] else 503)


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(site: Annotated[Site, Depends(site_of)]) -> str:
    """Prometheus text format."""
    return render_metrics(site)


@router.post(
    "/v1/auth/login",
    response_model=LoginResponse,
    responses=refusals(Unauthenticated, SignInThrottled, public=True),
)
def login(
    body: LoginRequest, request: Request, site: Annotated[Site, Depends(site_of)]
) -> LoginResponse:
    """A bearer token for an operator's shift (throttled per account and per source: 429)."""
    source = request.client.host if request.client else ""
    token, principal, full_name = sign_in(
        site.db, body.username, body.password, site.sign_ins, source
    )
    return LoginResponse(token=token, role=principal.role, name=principal.name, full_name=full_name)


@router.post("/v1/auth/logout", status_code=204, responses=refusals())
def logout(
    request: Request,
    site: Annotated[Site, Depends(site_of)],
    _: Annotated[Principal, Depends(authenticate)],
) -> None:
    """End this token's session."""
    token = request.headers.get("authorization", "")[7:].strip()
    sign_out(site.db, token)
