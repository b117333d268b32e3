"""Identities: read, search by fields, update, change status, erase; photos of record."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from edge.gate.records import decided_recently
from edge.schemas import ErasureRequest, IdentityUpdate, StatusRequest
from edge.security import allow, site_of
from edge.site import Site
from enrollment.audit import append_event
from enrollment.records import Identity, check_corrections
from enrollment.repository import IdentityRepository
from gallery_sync.outbox import append_change
from kernel.access import Principal
from kernel.errors import Forbidden, Message, NotFound

router = APIRouter(prefix="/v1/identities")


class PhotoNotFound(NotFound):
    code = "photo_not_found"
    message = Message(
        "Identitas ini tidak punya foto (belum ada atau sudah dihapus).",
        "This identity has no photo (none yet, or erased).",
    )


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


@router.get("")
def search_identities(
    site: Annotated[Site, Depends(site_of)],
    principal: Annotated[Principal, Depends(allow("identity.read"))],
    role: str | None = None,
    status: str | None = None,
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
    with site.db.reading() as tx:
        found = IdentityRepository(tx, site.vault).search(filters, limit)
    return [identity_body(i, principal) for i in found]


@router.get("/{identity_id}")
def read_identity(
    identity_id: str,
    site: Annotated[Site, Depends(site_of)],
    principal: Annotated[Principal, Depends(allow("identity.read"))],
) -> dict[str, Any]:
    """One identity (name, role, status and photo only, for a gate device)."""
    with site.db.reading() as tx:
        return identity_body(IdentityRepository(tx, site.vault).get(identity_id), principal)


@router.get("/{identity_id}/photo")
def read_photo(
    identity_id: str,
    site: Annotated[Site, Depends(site_of)],
    principal: Annotated[Principal, Depends(allow("identity.read"))],
) -> Response:
    """The photo of record (the best enrolment capture); a gate device's only for its decision."""
    with site.db.reading() as tx:
        if principal.kind == "device" and not decided_recently(tx, principal.gate_id, identity_id):
            raise Forbidden.for_action("a photo not of this gate's decision", "device")
        repo = IdentityRepository(tx, site.vault)
        identity = repo.get(identity_id)
        data = repo.image_bytes(identity.photo_image_id) if identity.photo_image_id else None
        row = tx.execute(
            "SELECT media_type FROM images WHERE id = ?", (identity.photo_image_id,)
        ).fetchone()
    if data is None:
        raise PhotoNotFound(identity_id=identity_id)
    return Response(
        data, media_type=row[0] if row else "image/jpeg", headers={"Cache-Control": "no-store"}
    )


@router.patch("/{identity_id}")
def update_identity(
    identity_id: str,
    fields: IdentityUpdate,
    site: Annotated[Site, Depends(site_of)],
    principal: Annotated[Principal, Depends(allow("identity.update"))],
) -> dict[str, Any]:
    """Correct a name, aliases or details (identity numbers are fixed at enrolment)."""
    allowed = fields.model_dump(exclude_none=True)
    with site.db.transaction() as tx:
        repo = IdentityRepository(tx, site.vault)
        repo.update_fields(identity_id, check_corrections(allowed))
        identity = repo.get(identity_id)
        append_change(
            tx, "identity.updated", identity_id, {"fields": allowed, "version": identity.version}
        )
        append_event(
            tx, principal.name, "identity.updated", identity_id, {"fields": sorted(allowed)}
        )
    return identity_body(identity)


@router.post("/{identity_id}/status")
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


@router.post("/{identity_id}/erase")
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
