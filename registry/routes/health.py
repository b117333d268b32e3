"""Liveness and metrics for monitoring, the central officers' page, and the list of the
registry's pages that its index at `/` and `gerbang registry serve` show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from httpkit.errors import error_responses
from httpkit.front_door import DOCS_LINK, PageLink
from httpkit.pages import page
from registry.errors import RegistryStorageError
from registry.metrics import render_registry_metrics
from registry.routes.deps import Service
from registry.schemas import HealthResponse

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
router = APIRouter()
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"

TITLE = ("Registri Pusat", "Central registry")
PAGES = (
    PageLink("/pusat", "Registri Pusat", "Central registry",
             "Petugas pusat: kasus duplikat, larangan nasional, laporan situs.",
             "Central officers: duplicate cases, national bans, site reports."),
    PageLink("/v1/health", "Kesehatan layanan", "Service health",
             "JSON: layanan berjalan, dan isi galeri nasional.",
             "JSON: the service is up, and what the national gallery holds."),
    DOCS_LINK,
)  # fmt: skip


@router.get(
    "/v1/health",
    tags=["health"],
    response_model=HealthResponse,
)
def health(service: Service) -> dict[str, Any]:
    """Liveness, and what the national gallery holds (in memory: it has no error to give)."""
    return service.health()


@router.get(
    "/metrics",
    tags=["health"],
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        **error_responses(RegistryStorageError),
    },
)
def metrics(service: Service, request: Request) -> Response:
    """Prometheus text format: sites' last contact, open cases, this replica's index."""
    text = render_registry_metrics(service, request.app.state.metrics)
    return Response(text, media_type=PROMETHEUS_TEXT)


@router.get("/pusat", include_in_schema=False)
def central_page() -> FileResponse:
    """The central officers' page: duplicate cases with photos on request, site reports."""
    return page(WEB_DIR / "pusat.html")
