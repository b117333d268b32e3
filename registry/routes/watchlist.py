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
    RegistryFingersUnavailable,
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
from registry.watchlist_finger_images import (
    MAX_FINGER_IMAGE_BYTES,
    MAX_FINGER_IMAGES,
    FingerImage,
)
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
                  LowQualityFace, ModelNotReady, RegistryFacesUnavailable, WatchlistNoBiometrics,
                  WatchlistFingerInvalid, RegistryFingersUnavailable)  # fmt: skip


@router.post(
    "/photos", response_model=WatchlistAdded, responses=error_responses(*OFFICER, *PHOTO_REFUSALS)
)
async def watchlist_add_photos(
    officer: AuthorisedOfficer,
    service: Service,
    full_name: Annotated[str, Form(min_length=1, max_length=300)],
    reason: Annotated[str, Form(min_length=3, max_length=1000)],
    nik: Annotated[str | None, Form(pattern=r"^\d{16}$")] = None,
    photos: Annotated[
        list[UploadFile] | None, File(description=f"0 to {MAX_PHOTOS} photos of the face")
    ] = None,
    finger_images: Annotated[
        list[UploadFile] | None,
        File(description=f"0 to {MAX_FINGER_IMAGES} fingerprint images (500 ppi), one finger each"),
    ] = None,
    finger_positions: Annotated[
        list[int] | None, Form(description="the ISO finger position (1-10) of each finger image")
    ] = None,
) -> dict[str, Any]:
    """Put a person on the national watchlist from face photos and/or fingerprint images; the
    registry embeds the photos and extracts the fingers' minutiae as a site would."""
    photos, finger_images = photos or [], finger_images or []
    positions = _positions(finger_positions or [], len(finger_images))
    if len(photos) > MAX_PHOTOS:
        raise RegistryInputInvalid.saying(
            f"Kirim paling banyak {MAX_PHOTOS} foto.", f"Send at most {MAX_PHOTOS} photos.",
            photos=len(photos),
        )  # fmt: skip
    images = [await photo.read() for photo in photos]
    fingers = [FingerImage(position, await upload.read(MAX_FINGER_IMAGE_BYTES + 1))
               for position, upload in zip(positions, finger_images, strict=True)]  # fmt: skip
    entry = {"full_name": full_name, "reason": reason, "nik": nik or None}
    return await run_in_threadpool(
        service.watchlist_add_from_images, entry, images, fingers, officer
    )


def _positions(positions: list[int], images: int) -> list[int]:
    """The finger images' ISO positions, one each, every one 1-10 (else 422, nothing read)."""
    if images > MAX_FINGER_IMAGES:
        raise RegistryInputInvalid.saying(
            f"Kirim paling banyak {MAX_FINGER_IMAGES} citra sidik jari.",
            f"Send at most {MAX_FINGER_IMAGES} finger images.", finger_images=images,
        )  # fmt: skip
    if len(positions) != images:
        raise RegistryInputInvalid.saying(
            "Pilih satu jari untuk setiap citra sidik jari.",
            "Choose one finger for each finger image.",
            finger_images=images, finger_positions=len(positions),
        )  # fmt: skip
    for index, position in enumerate(positions):
        if not 1 <= position <= 10:
            raise RegistryInputInvalid.saying(
                "Posisi jari adalah kode ISO 1-10.", "A finger position is an ISO code 1-10.",
                finger=index, position=position,
            )  # fmt: skip
    return positions
