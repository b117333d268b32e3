"""One person in the national registry: a transfer to another site, their photo on request."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from httpkit.errors import error_responses
from kernel.errors import Forbidden, InputError, Unauthenticated
from registry.errors import (
    PhotoHeldByNoSite,
    PhotoNotAvailable,
    RegistryInputInvalid,
    RegistryNotFound,
    RegistryStorageError,
)
from registry.routes.access import AuthorisedOfficer
from registry.routes.deps import Service
from registry.schemas import (
    PhotoRequestBody,
    PhotoRequestResponse,
    TransferRequest,
    TransferResponse,
)

router = APIRouter(prefix="/v1", tags=["identities"])
OFFICER = (Unauthenticated, Forbidden, RegistryStorageError)
PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")


@router.post(
    "/transfers",
    response_model=TransferResponse,
    responses=error_responses(*OFFICER, InputError, RegistryInputInvalid, RegistryNotFound),
)
def transfer(body: TransferRequest, officer: AuthorisedOfficer, service: Service) -> dict[str, Any]:
    """Move an inmate to another site."""
    return service.transfer(body.identity_id, body.to_site, officer, body.reason)


@router.post(
    "/identities/{identity_id}/photo-requests",
    response_model=PhotoRequestResponse,
    status_code=201,
    responses={
        200: {"model": PhotoRequestResponse, "description": "The request still open for it"},
        **error_responses(*OFFICER, InputError, RegistryNotFound, PhotoHeldByNoSite),
    },
)
def request_photo(
    identity_id: str,
    officer: AuthorisedOfficer,
    service: Service,
    body: PhotoRequestBody | None = None,
) -> JSONResponse:
    """Ask the owning site for the photo (201), or the request still open for it (200)."""
    request, created = service.request_photo(identity_id, officer, body.reason if body else None)
    return JSONResponse(request, status_code=201 if created else 200)


@router.get(
    "/identities/{identity_id}/photo",
    response_class=Response,
    responses={
        200: {
            "description": "The delivered photo's bytes (never cached)",
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in PHOTO_TYPES},
        },
        **error_responses(*OFFICER, InputError, RegistryNotFound, PhotoNotAvailable),
    },
)
def read_photo(identity_id: str, officer: AuthorisedOfficer, service: Service) -> Response:
    """The delivered photo's bytes, or 404 photo_not_available with the request's state."""
    data, content_type = service.photo(identity_id, officer)
    return Response(data, media_type=content_type, headers={"Cache-Control": "no-store"})
