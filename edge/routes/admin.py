"""Site administration over HTTP: check the live gallery against the database, and repair it."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from edge.responses import GalleryCheckResponse, GalleryRebuilt
from edge.routes.documented import refusals
from edge.security import allow, site_of
from edge.site import Site
from enrollment.packs import PackChanged
from kernel.access import Principal
from models.errors import ModelNotReady
from site_sync.projection import check_gallery

router = APIRouter(prefix="/v1/admin")


@router.get("/gallery", response_model=GalleryCheckResponse, responses=refusals(ModelNotReady))
def gallery_check(
    site: Annotated[Site, Depends(site_of)],
    _: Annotated[Principal, Depends(allow("gallery.admin"))],
) -> dict[str, Any]:
    """Compare the service's live gallery with the database: ids, metadata and vectors."""
    gallery = site.gallery()
    diff = check_gallery(site.db, site.vault, gallery, site.engine().pack_id)
    counts = {f"{role}/{status}": n for (role, status), n in gallery.counts().items()}
    return {
        "ok": diff.ok,
        "templates": len(gallery),
        "partitions": counts,
        "differences": asdict(diff),
    }


@router.post(
    "/gallery/rebuild",
    response_model=GalleryRebuilt,
    responses=refusals(ModelNotReady, PackChanged),
)
async def gallery_rebuild(
    site: Annotated[Site, Depends(site_of)],
    principal: Annotated[Principal, Depends(allow("gallery.admin"))],
) -> dict[str, Any]:
    """Rebuild the live gallery from the database (searches see the old one until it is done)."""
    size = await run_in_threadpool(site.rebuild_gallery_for, principal.name)
    return {"templates": size}
