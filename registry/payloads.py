"""What each kind of change must carry, checked before anything is applied.

A change whose payload breaks its kind's schema makes the whole batch a schema violation
(quarantined, 422): the site must fix its software, and nothing is half-applied meanwhile.
Records keep fields the registry does not know (`extra="allow"`) so a newer site loses nothing;
the fields the registry acts on are typed. Kinds without a model here are stored as sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gallery_sync.protocol import (
    MAX_PHOTO_BYTES,
    Change,
    change_cap,
    payload_bytes,
    photo_media_type,
)
from kernel.text import unstorable_path
from registry.errors import SyncSchemaInvalid

RoleName = Literal["inmate", "staff", "visitor"]
StatusName = Literal["active", "released", "transferred_out", "banned", "merged", "erased"]
MAX_TEMPLATES_PER_CHANGE = 50
MAX_VECTOR_DIM = 4096


class IdentityRecord(BaseModel):
    """A person's record as the site holds it (photos never travel)."""

    model_config = ConfigDict(extra="allow")

    id: uuid.UUID
    role: RoleName
    status: StatusName
    full_name: str = Field(min_length=1, max_length=300)
    created_at: str | None = None
    version: int = Field(1, ge=1)


class TemplateIn(BaseModel):
    """One face template: the site's id for it and the vector as base64 float32 little-endian."""

    model_config = ConfigDict(extra="ignore")

    template_id: int = Field(ge=1)
    quality: float | None = None
    vector_f32le_b64: str = Field(min_length=4, max_length=MAX_VECTOR_DIM * 8)

    def vector(self) -> np.ndarray:
        """The float32 vector; ValueError if the bytes are not finite float32s."""
        try:
            raw = base64.b64decode(self.vector_f32le_b64, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"template {self.template_id}: vector is not base64") from exc
        if not raw or len(raw) % 4:
            raise ValueError(f"template {self.template_id}: vector is not float32 bytes")
        vector = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        if not np.isfinite(vector).all():
            raise ValueError(f"template {self.template_id}: vector has NaN or infinity")
        return vector


class SiteDecisionIn(BaseModel):
    """A site officer's answer to a national candidate shown before the enrolment was saved."""

    model_config = ConfigDict(extra="ignore")

    national_identity_id: uuid.UUID
    decision: Literal["same_person", "different_person"]
    reason: str = Field(max_length=2000)
    officer: str = Field(min_length=1, max_length=100)
    score: float | None = None
    threshold: float | None = None
    decided_at: str | None = Field(None, max_length=60)


class EnrolledPayload(BaseModel):
    """identity.enrolled: the record, its new templates, and answers to national candidates."""

    model_config = ConfigDict(extra="ignore")

    identity: IdentityRecord
    pack_id: str = Field(min_length=1, max_length=80)
    # absent when the site erased the person before this row was pushed (see redacted())
    templates: list[TemplateIn] = Field(default_factory=list, max_length=MAX_TEMPLATES_PER_CHANGE)
    national_decisions: list[SiteDecisionIn] = Field(default_factory=list, max_length=20)


class StatusPayload(BaseModel):
    """identity.status: the new status and the record version it produced."""

    model_config = ConfigDict(extra="ignore")

    status: StatusName
    version: int | None = Field(None, ge=1)
    reason: str | None = Field(None, max_length=1000, description="why (a ban's reason)")
    officer: str | None = Field(None, max_length=100, description="the site officer who decided")


class UpdatedPayload(BaseModel):
    """identity.updated: corrected plain fields."""

    model_config = ConfigDict(extra="ignore")

    fields: dict[str, Any]
    version: int | None = Field(None, ge=1)


class ErasedPayload(BaseModel):
    """identity.erased: how many templates (face and finger) and images the site dropped."""

    model_config = ConfigDict(extra="ignore")

    templates: int = Field(0, ge=0)
    images: int = Field(0, ge=0)


class FingerPayload(BaseModel):
    """finger.enrolled (and finger.reextracted, the same impression's record made again by the
    site's new extractor): one ISO/IEC 19794-2 minutiae record."""

    model_config = ConfigDict(extra="ignore")

    position: int = Field(ge=1, le=10, description="ISO/IEC 19794-2 finger position code")
    impression: int = Field(ge=0)
    extractor: str = Field(min_length=1, max_length=80)
    iso_record_b64: str | None = Field(None, min_length=4)  # None: erased before it was pushed
    quality: float | None = None

    def record(self) -> bytes | None:
        """The ISO record bytes, if the site still sent them."""
        if self.iso_record_b64 is None:
            return None
        return base64.b64decode(self.iso_record_b64, validate=True)


class PhotoProvidedPayload(BaseModel):
    """photo.provided: the site's answer to a photo request, the image itself as base64."""

    model_config = ConfigDict(extra="ignore")

    request_id: int = Field(ge=1)
    content_type: Literal["image/jpeg", "image/png"]  # protocol.PHOTO_TYPES
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    source: str | None = Field(None, max_length=40)
    # None: the site erased the person before this row was pushed (see redacted())
    image_b64: str | None = Field(None, min_length=4, max_length=(MAX_PHOTO_BYTES + 2) // 3 * 4)

    def image(self) -> bytes | None:
        """The image bytes, checked: within the size cap, really its content type, its sha256."""
        if self.image_b64 is None:
            return None
        try:
            data = base64.b64decode(self.image_b64, validate=True)
        except binascii.Error as exc:
            raise ValueError("image_b64 is not base64") from exc
        if len(data) > MAX_PHOTO_BYTES:
            raise ValueError(f"photo of {len(data)} bytes exceeds {MAX_PHOTO_BYTES}")
        if photo_media_type(data) != self.content_type:
            raise ValueError(f"the bytes are not a {self.content_type} image")
        if hashlib.sha256(data).hexdigest() != self.sha256:
            raise ValueError("the photo's sha256 differs from the one sent with it")
        return data


class PhotoUnavailablePayload(BaseModel):
    """photo.unavailable: why the site cannot send the photo asked for."""

    model_config = ConfigDict(extra="ignore")

    request_id: int = Field(ge=1)
    reason: str = Field(min_length=1, max_length=200)


PAYLOADS: dict[str, type[BaseModel]] = {
    "identity.enrolled": EnrolledPayload,
    "identity.status": StatusPayload,
    "identity.updated": UpdatedPayload,
    "identity.erased": ErasedPayload,
    "finger.enrolled": FingerPayload,
    "finger.reextracted": FingerPayload,
    "photo.provided": PhotoProvidedPayload,
    "photo.unavailable": PhotoUnavailablePayload,
}
# What a site strips from unsent rows on erasure (enrollment.repository.erase_biometrics).
BIOMETRIC_KEYS = frozenset({"templates", "iso_record_b64", "image_b64"})


def redacted(change: Change) -> Change | None:
    """The change as the site rewrites it after an erasure (biometrics gone), or None if it
    carries none. The site removes the keys themselves, so the copy does too."""
    if not BIOMETRIC_KEYS & change.payload.keys():
        return None
    payload = {k: v for k, v in change.payload.items() if k not in BIOMETRIC_KEYS}
    return change.model_copy(update={"payload": payload})


def parse_payload(change: Change) -> BaseModel | None:
    """The typed payload of a known kind (None for kinds stored as sent), or SyncSchemaInvalid.

    Any kind is refused, with its seq, when it holds text no column can store (a NUL): the
    site then sets that one change aside instead of retrying the whole batch forever.
    """
    fields = {
        "entity_id": change.entity_id,
        "created_at": change.created_at,
        "payload": change.payload,
    }
    if where := unstorable_path(fields):
        reason = f"{change.kind}: {where} holds a character no database can store (NUL)"
        raise SyncSchemaInvalid.because(reason, change.seq)
    if (size := payload_bytes(change.payload)) > change_cap(change.kind):
        reason = f"{change.kind}: {size} bytes, more than {change_cap(change.kind)}"
        raise SyncSchemaInvalid.because(reason, change.seq)
    model = PAYLOADS.get(change.kind)
    if model is None:
        return None
    try:
        uuid.UUID(change.entity_id)
        parsed = model.model_validate(change.payload)
        _check_parsed(change, parsed)
    except ValidationError as exc:  # which fields and why (never their values: a photo is one)
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3]
        )
        raise SyncSchemaInvalid.because(f"{change.kind}: {problems}"[:300], change.seq) from exc
    except ValueError as exc:
        reason = f"{change.kind}: {str(exc).splitlines()[0][:300]}"
        raise SyncSchemaInvalid.because(reason, change.seq) from exc
    return parsed


def _check_parsed(change: Change, parsed: BaseModel) -> None:
    """Checks a schema cannot express: the record is the change's entity, vectors decode."""
    if isinstance(parsed, EnrolledPayload):
        if str(parsed.identity.id) != change.entity_id:
            raise ValueError("identity.id differs from the change's entity_id")
        for template in parsed.templates:
            template.vector()
    if isinstance(parsed, FingerPayload):
        parsed.record()
    if isinstance(parsed, PhotoProvidedPayload):
        parsed.image()
