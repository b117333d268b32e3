"""The national watchlist: a central admin puts a person on it or takes them off; every site follows."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from httpkit.errors import error_responses
from kernel.errors import Forbidden, InputError, Unauthenticated
from registry.errors import (
    NotOnWatchlist,
    RegistryInputInvalid,
    RegistryNotFound,
    RegistryStorageError,
)
from registry.routes.access import AuthorisedOfficer
from registry.routes.deps import Service
from registry.schemas import WatchlistAdded, WatchlistRemoved
from registry.watchlist import WatchlistEntry, WatchlistRemoval

router = APIRouter(prefix="/v1/watchlist", tags=["watchlist"])
OFFICER = (Unauthenticated, Forbidden, RegistryStorageError)


@router.post(
    "",
    response_model=WatchlistAdded,
    responses=error_responses(*OFFICER, InputError, RegistryInputInvalid),
)
def watchlist_add(
    body: WatchlistEntry, officer: AuthorisedOfficer, service: Service
) -> dict[str, Any]:
    """Add a person to the national watchlist."""
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
