"""Health, readiness, login and Prometheus metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from edge.metrics import render_metrics
from edge.schemas import HealthResponse, LoginRequest, LoginResponse
from edge.security import authenticate, site_of
from edge.site import Site
from enrollment.accounts import AccountStore, Principal
from gallery_sync.projection import check_gallery

router = APIRouter()


@router.get("/health", response_model=HealthResponse)
def health() -> HealthResponse:
    """The process is up (it may still be loading models)."""
    return HealthResponse(status="ok")


@router.get("/ready")
def ready(site: Annotated[Site, Depends(site_of)]) -> JSONResponse:
    """Models loaded and verified, gallery consistent with the database; 503 with the fix when not."""
    if not site.ready:
        problem = site.problem.to_payload()["error"] if site.problem else None
        return JSONResponse({"ready": False, "pack": site.settings.pack, "problem": problem}, 503)
    diff = check_gallery(site.db, site.vault, site.gallery(), site.engine().pack_id)
    body = {
        "ready": diff.ok,
        "pack": site.engine().pack_id,
        "gallery": len(site.gallery()),
        "problem": None,
    }
    if not diff.ok:
        body["problem"] = {
            "code": "gallery_inconsistent",
            "details": {"missing": len(diff.missing_in_index)},
        }
    return JSONResponse(body, 200 if diff.ok else 503)


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(site: Annotated[Site, Depends(site_of)]) -> str:
    """Prometheus text format."""
    return render_metrics(site)


@router.post("/v1/auth/login", response_model=LoginResponse)
def login(body: LoginRequest, site: Annotated[Site, Depends(site_of)]) -> LoginResponse:
    """A bearer token for an operator's shift."""
    with site.db.transaction() as tx:
        token, principal = AccountStore(tx).login(body.username, body.password)
        full_name = tx.execute(
            "SELECT full_name FROM operators WHERE id = ?", (principal.id,)
        ).fetchone()[0]
    return LoginResponse(token=token, role=principal.role, name=principal.name, full_name=full_name)


@router.post("/v1/auth/logout", status_code=204)
def logout(
    request: Request,
    site: Annotated[Site, Depends(site_of)],
    _: Annotated[Principal, Depends(authenticate)],
) -> None:
    """End this token's session."""
    token = request.headers.get("authorization", "")[7:].strip()
    with site.db.transaction() as tx:
        AccountStore(tx).logout(token)
