"""The sites' signed endpoints: push a batch, pull changes, search nationally, rotate the key.

A site authenticates every request with its Ed25519 key (see registry/site_auth.py), never with a
bearer token; the use cases verify the signature before anything else.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from httpkit.errors import error_responses
from kernel.errors import InputError
from registry.errors import (
    NationalSearchUnavailable,
    RegistryInputInvalid,
    RegistryStorageError,
    SearchPackMismatch,
    SiteKeyConflict,
    SyncConflict,
    SyncGap,
    SyncSchemaInvalid,
    SyncUnauthenticated,
)
from registry.routes.deps import Service, SignatureHeader, SignedPath, SiteHeader, TimestampHeader
from registry.schemas import (
    BatchReceiptResponse,
    ChangesResponse,
    KeyRotationResponse,
    NationalSearchResponse,
    RecoveryResponse,
)

router = APIRouter(prefix="/v1/sync", tags=["sites"])
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
SIGNED = (SyncUnauthenticated, RegistryStorageError)


@router.post(
    "/batches",
    response_model=BatchReceiptResponse,
    responses=error_responses(*SIGNED, SyncSchemaInvalid, SyncConflict, SyncGap),
)
async def push_batch(
    request: Request, service: Service, site: SiteHeader = "", signature: SignatureHeader = ""
) -> dict[str, Any]:
    """Apply a signed, gzipped batch exactly once."""
    body = await request.body()
    receipt = await run_in_threadpool(service.apply_batch, site, signature, body)
    return receipt.as_dict()


@router.get(
    "/changes",
    response_model=ChangesResponse,
    responses=error_responses(*SIGNED, InputError),
)
def pull_changes(
    service: Service,
    path: SignedPath,
    site: SiteHeader = "",
    signature: SignatureHeader = "",
    timestamp: TimestampHeader = "",
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> dict[str, Any]:
    """The changes for the calling site after its cursor."""
    return service.pull_for_site(site, path, timestamp, signature, after, limit)


@router.get(
    "/recovery",
    response_model=RecoveryResponse,
    responses=error_responses(*SIGNED, InputError),
)
def recovery(
    service: Service,
    path: SignedPath,
    site: SiteHeader = "",
    signature: SignatureHeader = "",
    timestamp: TimestampHeader = "",
    after: Annotated[str | None, Query(pattern=UUID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """The calling site's own people and its pushed cursor, a page at a time (dead-site recovery)."""
    return service.recovery_for_site(site, path, timestamp, signature, after, limit)


@router.post(
    "/search",
    response_model=NationalSearchResponse,
    responses=error_responses(
        *SIGNED, RegistryInputInvalid, SearchPackMismatch, NationalSearchUnavailable
    ),
)
async def national_search(
    request: Request,
    service: Service,
    path: SignedPath,
    site: SiteHeader = "",
    signature: SignatureHeader = "",
    timestamp: TimestampHeader = "",
) -> dict[str, Any]:
    """National candidates at or above the threshold for an enrolment desk's probes."""
    body = await request.body()
    return await run_in_threadpool(service.search_for_site, site, path, timestamp, signature, body)


@router.post(
    "/keys",
    response_model=KeyRotationResponse,
    responses=error_responses(*SIGNED, RegistryInputInvalid, SiteKeyConflict),
)
async def rotate_key(
    request: Request,
    service: Service,
    path: SignedPath,
    site: SiteHeader = "",
    timestamp: TimestampHeader = "",
    signature: SignatureHeader = "",
) -> dict[str, Any]:
    """The site's new key, signed with its current key and proved by the new one."""
    body = await request.body()
    return await run_in_threadpool(service.rotate_site_key, site, path, timestamp, signature, body)
