"""Identities: read, search by fields, update, change status, erase; photos of record."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from edge.gate import queries as gate_queries
from edge.responses import ActiveInmates, IdentityResponse, IdentityStatus, Role
from edge.routes.documented import binary, refusals
from edge.schemas import ErasureRequest, IdentityUpdate, StatusRequest
from edge.security import allow, site_of
from edge.site import Site
from enrollment import queries
from enrollment.duplicates import InvalidDecision
from enrollment.queries import PhotoNotFound
from enrollment.records import Identity
from enrollment.repository import IdentityNotFound
from enrollment.service import StatusNotAllowed
from kernel.access import Principal
from kernel.errors import Forbidden
from models.errors import ModelNotReady

router = APIRouter(prefix="/v1/identities")


# A kiosk key sits in a browser on a public terminal: it sees who a decision is about, never
# their identity numbers, birth date or case details.
KIOSK_FIELDS = ("id", "role", "status", "full_name", "photo_url")


def identity_body(identity: Identity, principal: Principal | None = None) -> dict[str, Any]:
    """The JSON of an identity, with a link to its photo of record (narrowed for gate devices)."""
    body = asdict(identity)
    body["photo_url"] = f"/v1/identities/{identity.id}/photo" if identity.photo_image_id else None
    if principal is not None and principal.kind == "device":
        return {k: body[k] for k in KIOSK_FIELDS}
    return body


@router.get(
    "",
    response_model=list[IdentityResponse],
    response_model_exclude_unset=True,
    responses=refusals(),
)
def search_identities(
    site: Annotated[Site, Depends(site_of)],
    principal: Annotated[Principal, Depends(allow("identity.read"))],
    role: Role | None = None,
    status: IdentityStatus | None = None,
    nik: str | None = None,
    nip: str | None = None,
    registration_number: str | None = None,
    name: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[dict[str, Any]]:
    """Identities by exact fields and a part of the name or an alias.

    A gate device may only look an inmate up by the exact registration number a visitor names.
    """
    if principal.kind == "device" and (not registration_number or name or nik or nip):
        raise Forbidden.for_action("identity search beyond an exact registration number", "device")
    filters = {
        "role": role,
        "status": status,
        "nik": nik,
        "nip": nip,
        "registration_number": registration_number,
        "name": name,
    }
    found = queries.search_identities(site.db, site.vault, filters, limit)
    return [identity_body(i, principal) for i in found]


@router.get("/active-inmates", response_model=ActiveInmates, responses=refusals())
def active_inmates(
    site: Annotated[Site, Depends(site_of)],
    _: Annotated[Principal, Depends(allow("identity.enrol"))],
    q: Annotated[str, Query(min_length=1, max_length=100, description="registration number start or name part")],
) -> dict[str, Any]:  # fmt: skip
    """Active Warga Binaan by registration number or name: the desk's visited-inmate picker."""
    return {"inmates": queries.active_inmates(site.db, q)}


@router.get(
    "/{identity_id}",
    response_model=IdentityResponse,
    response_model_exclude_unset=True,
    responses=refusals(IdentityNotFound),
)
def read_identity(
    identity_id: str,
    site: Annotated[Site, Depends(site_of)],
    principal: Annotated[Principal, Depends(allow("identity.read"))],
) -> dict[str, Any]:
    """One identity (name, role, status and photo only, for a gate device)."""
    return identity_body(queries.identity(site.db, site.vault, identity_id), principal)


@router.get(
    "/{identity_id}/photo",
    response_class=Response,
    responses={
        **binary("image/jpeg", "The photo of record (JPEG or PNG)"),
        **refusals(IdentityNotFound, PhotoNotFound),
    },
)
def read_photo(
    identity_id: str,
    site: Annotated[Site, Depends(site_of)],
    principal: Annotated[Principal, Depends(allow("identity.read"))],
) -> Response:
    """The photo of record (the best enrolment capture); a gate device's only for its decision."""
    if principal.kind == "device" and not gate_queries.photo_needed_at_gate(
        site.db, principal.gate_id, identity_id
    ):
        raise Forbidden.for_action("a photo not of this gate's decision", "device")
    photo = queries.photo_of(site.db, site.vault, identity_id)
    return Response(photo.data, media_type=photo.media_type, headers={"Cache-Control": "no-store"})


@router.patch(
    "/{identity_id}",
    response_model=IdentityResponse,
    response_model_exclude_unset=True,
    responses=refusals(IdentityNotFound),
)
def update_identity(
    identity_id: str,
    fields: IdentityUpdate,
    site: Annotated[Site, Depends(site_of)],
    principal: Annotated[Principal, Depends(allow("identity.update"))],
) -> dict[str, Any]:
    """Correct a name, aliases or details (identity numbers are fixed at enrolment)."""
    allowed = fields.model_dump(exclude_none=True)
    return identity_body(site.enrolment.update_identity(identity_id, allowed, principal.name))


@router.post(
    "/{identity_id}/status",
    response_model=IdentityResponse,
    response_model_exclude_unset=True,
    responses=refusals(IdentityNotFound, StatusNotAllowed, ModelNotReady),
)
async def change_status(
    identity_id: str,
    body: StatusRequest,
    site: Annotated[Site, Depends(site_of)],
    principal: Annotated[Principal, Depends(allow("identity.status"))],
) -> dict[str, Any]:
    """Release, ban, transfer out or reactivate; the gallery follows in the same code path."""
    identity = await run_in_threadpool(
        site.enrolment.change_status, identity_id, body.status, principal.name, body.reason
    )
    return identity_body(identity)


@router.post(
    "/{identity_id}/erase",
    response_model=IdentityResponse,
    response_model_exclude_unset=True,
    responses=refusals(IdentityNotFound, InvalidDecision, ModelNotReady),
)
async def erase_identity(
    identity_id: str,
    body: ErasureRequest,
    site: Annotated[Site, Depends(site_of)],
    principal: Annotated[Principal, Depends(allow("identity.erase"))],
) -> dict[str, Any]:
    """Erase a visitor's templates and images on request; the record and audit stay."""
    identity = await run_in_threadpool(
        site.enrolment.erase, identity_id, principal.name, body.reason
    )
    return identity_body(identity)
