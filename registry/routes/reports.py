"""The consolidation report per site; a regional monitor sees only its own region's sites."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from httpkit.errors import error_responses
from kernel.errors import Forbidden, InputError, Unauthenticated
from registry.errors import RegistryNotFound, RegistryStorageError
from registry.routes.access import AuthorisedOfficer
from registry.routes.deps import Service
from registry.schemas import SiteReport, SiteReportList

router = APIRouter(prefix="/v1/reports", tags=["reports"])
OFFICER = (Unauthenticated, Forbidden, RegistryStorageError)


@router.get("/sites", response_model=SiteReportList, responses=error_responses(*OFFICER))
def site_reports(officer: AuthorisedOfficer, service: Service) -> dict[str, Any]:
    """Per site: arrivals, refusals, quarantined batches, pending cases, last contact."""
    return {"sites": service.site_reports(officer)}


@router.get(
    "/sites/{site_id}",
    response_model=SiteReport,
    responses=error_responses(*OFFICER, InputError, RegistryNotFound),
)
def site_report(site_id: str, officer: AuthorisedOfficer, service: Service) -> dict[str, Any]:
    """One site's report; a site outside a monitor's region does not exist for it."""
    return service.site_report(officer, site_id)
