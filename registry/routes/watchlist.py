"""The national watchlist: a central admin puts a person on it or takes them off; every site follows."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.concurrency import run_in_threadpool

from httpkit.errors import error_responses
from kernel.errors import Forbidden, InputError, Unauthenticated
from models.errors import InvalidImage, LowQualityFace, ModelNotReady, MultipleFaces, NoFaceFound
from registry.errors import (
    NotOnWatchlist,
    RegistryFacesUnavailable,
    RegistryInputInvalid,
    RegistryNotFound,
    RegistryStorageError,
    WatchlistFingerInvalid,
    WatchlistNoBiometrics,
)
from registry.routes.access import AuthorisedOfficer
from registry.routes.deps import Service
from registry.schemas import WatchlistAdded, WatchlistEntries, WatchlistRemoved
from registry.watchlist import WatchlistEntry, WatchlistRemoval
from registry.watchlist_photos import MAX_PHOTOS

router = APIRouter(prefix="/v1/watchlist", tags=["watchlist"])
OFFICER = (Unauthenticated, Forbidden, RegistryStorageError)


@router.post(
    "",
    response_model=WatchlistAdded,
    responses=error_responses(
        *OFFICER, InputError, RegistryInputInvalid, WatchlistNoBiometrics, WatchlistFingerInvalid
    ),
)
def watchlist_add(
    body: WatchlistEntry, officer: AuthorisedOfficer, service: Service
) -> dict[str, Any]:
    """Add a person to the national watchlist: face templates, ISO/IEC 19794-2 fingers, or both."""
    return service.watchlist_add(body, officer)


@router.post(
    "/{identity_id}/removal",
    response_model=WatchlistRemoved,
    responses=error_responses(*OFFICER, InputError, RegistryNotFound, NotOnWatchlist),
)
def watchlist_remove(
    identity_id: uuid.UUID, body: WatchlistRemoval, officer: AuthorisedOfficer, service: Service
) -> dict[str, Any]:
    """Take a person off the national watchlist (a reason is required)."""
    return service.watchlist_remove(str(identity_id), officer, body.reason)


@router.get("", response_model=WatchlistEntries, responses=error_responses(*OFFICER))
def watchlist_list(_officer: AuthorisedOfficer, service: Service) -> dict[str, Any]:
    """Everyone on the national watchlist: the registry's entries and the sites' bans."""
    return {"entries": service.watchlist_entries()}


PHOTO_REFUSALS = (InputError, RegistryInputInvalid, InvalidImage, NoFaceFound, MultipleFaces,
                  LowQualityFace, ModelNotReady, RegistryFacesUnavailable)  # fmt: skip


@router.post(
    "/photos", response_model=WatchlistAdded, responses=error_responses(*OFFICER, *PHOTO_REFUSALS)
)
async def watchlist_add_photos(
    officer: AuthorisedOfficer,
    service: Service,
    photos: Annotated[list[UploadFile], File(description=f"1 to {MAX_PHOTOS} photos of the face")],
    full_name: Annotated[str, Form(min_length=1, max_length=300)],
    reason: Annotated[str, Form(min_length=3, max_length=1000)],
    nik: Annotated[str | None, Form(pattern=r"^\d{16}$")] = None,
) -> dict[str, Any]:
    """Put a person on the national watchlist from photos; the registry embeds them."""
    if not 1 <= len(photos) <= MAX_PHOTOS:
        raise RegistryInputInvalid(reason=f"send 1 to {MAX_PHOTOS} photos", photos=len(photos))
    images = [await photo.read() for photo in photos]
    entry = {"full_name": full_name, "reason": reason, "nik": nik or None}
    return await run_in_threadpool(service.watchlist_add_from_photos, entry, images, officer)
