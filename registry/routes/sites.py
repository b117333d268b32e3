"""The sites allowed to sync: a central admin registers one, replaces or revokes its key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from httpkit.errors import error_responses
from kernel.errors import Forbidden, InputError, Unauthenticated
from registry.errors import (
    RegistryInputInvalid,
    RegistryNotFound,
    RegistryStorageError,
    SiteKeyConflict,
)
from registry.routes.access import AuthorisedOfficer
from registry.routes.deps import Service
from registry.schemas import (
    SiteKeyReplaced,
    SiteKeyRequest,
    SiteKeyRevocation,
    SiteKeysRevoked,
    SiteRequest,
    SiteResponse,
)

router = APIRouter(prefix="/v1/sites", tags=["sites"])
OFFICER = (Unauthenticated, Forbidden, RegistryStorageError)


@router.post(
    "",
    status_code=201,
    response_model=SiteResponse,
    responses=error_responses(*OFFICER, InputError, RegistryInputInvalid),
)
def add_site(body: SiteRequest, officer: AuthorisedOfficer, service: Service) -> dict[str, Any]:
    """Register a site and its public key."""
    service.add_site(body.id, body.name, body.region, body.public_key, officer.username)
    return body.model_dump()


@router.post(
    "/{site_id}/keys",
    response_model=SiteKeyReplaced,
    responses=error_responses(
        *OFFICER, InputError, RegistryInputInvalid, RegistryNotFound, SiteKeyConflict
    ),
)
def replace_site_key(
    site_id: str, body: SiteKeyRequest, officer: AuthorisedOfficer, service: Service
) -> dict[str, Any]:
    """Register a site's new key in its place (after a revocation)."""
    return service.replace_site_key(site_id, body.public_key, officer.username, body.reason)


@router.post(
    "/{site_id}/keys/revocation",
    response_model=SiteKeysRevoked,
    responses=error_responses(*OFFICER, InputError, RegistryNotFound, SiteKeyConflict),
)
def revoke_site_key(
    site_id: str, body: SiteKeyRevocation, officer: AuthorisedOfficer, service: Service
) -> dict[str, Any]:
    """Refuse a site key from now on (default: every key the site still has)."""
    return service.revoke_site_key(site_id, body.public_key, officer.username, body.reason)
