"""The payloads the registry sends down to a site, checked before anything is applied.

Lenient where the registry legitimately varies: a watchlist entry has no origin site (the
registry owns it), templates may name their pack themselves or inherit the change's `pack_id`,
and may come without the digest of the image they were made from (photos never travel); extra
fields (reason, case id) are ignored. The fingers a transfer, a watchlist entry or recovery
carries (ISO/IEC 19794-2 records, one finger view each) are decoded here, as vectors are.

A payload that does not fit its kind refuses the whole page it came in (`PulledChangeInvalid`),
so a site never holds half of what the registry decided. Vectors are decoded and checked here
(float32 little-endian, finite, unit length), because the gallery refuses anything else later,
after the transaction has committed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from enrollment.records import Role
from kernel.errors import GerbangError, Message
from models.fingerprint import iso19794
from models.fingerprint.minutiae import MinutiaeTemplate

UNIT_TOLERANCE = 1e-3  # as the gallery checks it
REGISTRY_ORIGIN = "registry"  # origin_site of a record no site enrolled (a watchlist entry)
CentralStatus = Literal["active", "released", "transferred_out", "banned", "erased"]
Payload = TypeVar("Payload", bound=BaseModel)


class PulledChangeInvalid(GerbangError):
    code = "sync_change_invalid"
    status = 502
    message = Message(
        "Perubahan dari registri pusat tidak valid dan tidak diterapkan. Hubungi admin pusat.",
        "A change from the central registry is invalid and was not applied. Call the central admin.",
    )


class RecordIn(BaseModel):
    """An identity record as the registry sends it (the fields of enrollment.records.Identity)."""

    model_config = ConfigDict(extra="ignore")  # version, timestamps, photo ids: the site's own

    id: str = Field(min_length=1, max_length=64)
    role: Role
    full_name: str = Field(min_length=1, max_length=300)
    birth_date: str | None = None
    sex: Literal["F", "M"] | None = None
    aliases: list[str] = Field(default_factory=list)
    nik: str | None = None
    nip: str | None = None
    registration_number: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    origin_site: str = Field(REGISTRY_ORIGIN, min_length=2, max_length=40)


def decode_vector(text: str) -> np.ndarray:
    """A base64 float32 little-endian vector, or ValueError saying what is wrong with it."""
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"vector is not base64: {exc}") from exc
    if not raw or len(raw) % 4:
        raise ValueError(f"vector has {len(raw)} bytes, not a whole number of float32")
    vector = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if not np.all(np.isfinite(vector)):
        raise ValueError("vector holds NaN or infinity")
    if abs(float(np.linalg.norm(vector)) - 1.0) > UNIT_TOLERANCE:
        raise ValueError("vector is not L2-normalised")
    return vector


class TemplateIn(BaseModel):
    """A face template: the vector travels, the photo does not."""

    model_config = ConfigDict(extra="ignore")

    quality: float | None = Field(None, ge=0)  # a watchlist photo's may be unknown
    pack_id: str | None = Field(None, min_length=1, max_length=80)
    image_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    vector_f32le_b64: str

    @field_validator("vector_f32le_b64")
    @classmethod
    def _decodable(cls, value: str) -> str:
        decode_vector(value)
        return value

    def vector(self) -> np.ndarray:
        """The decoded vector."""
        return decode_vector(self.vector_f32le_b64)

    def digest(self) -> str:
        """What identifies it at the site: its image's sha256, else the sha256 of its vector."""
        raw = base64.b64decode(self.vector_f32le_b64)
        return self.image_sha256 or hashlib.sha256(raw).hexdigest()


class FingerIn(BaseModel):
    """A finger record as the registry sends it (registry/transfers.fingers_payload)."""

    model_config = ConfigDict(extra="ignore")

    position: int = Field(ge=1, le=10, description="ISO/IEC 19794-2 finger position code")
    impression: int = Field(ge=0)
    extractor: str = Field(min_length=1, max_length=80)
    quality: float | None = None
    iso_record_b64: str = Field(min_length=4)

    @field_validator("iso_record_b64")
    @classmethod
    def _decodable(cls, value: str) -> str:
        decode_finger(value)
        return value

    def record(self) -> bytes:
        """The ISO record's bytes."""
        return base64.b64decode(self.iso_record_b64)

    def template(self) -> MinutiaeTemplate:
        """The record's one finger view."""
        return decode_finger(self.iso_record_b64)


def decode_finger(text: str) -> MinutiaeTemplate:
    """The one finger view of a base64 ISO/IEC 19794-2:2005 record, or ValueError."""
    try:
        views = iso19794.decode(base64.b64decode(text, validate=True))
    except binascii.Error as exc:
        raise ValueError(f"finger record is not base64: {exc}") from exc
    if len(views) != 1:
        raise ValueError(f"finger record holds {len(views)} views, not one")
    return views[0][1]


class RecordChange(BaseModel):
    """identity.transferred_in and watchlist.added: a record with its face templates and fingers."""

    model_config = ConfigDict(extra="ignore")

    identity: RecordIn
    pack_id: str | None = Field(None, min_length=1, max_length=80)
    templates: list[TemplateIn] = Field(default_factory=list)
    fingers: list[FingerIn] = Field(default_factory=list)

    @model_validator(mode="after")
    def _packs_known(self) -> RecordChange:
        sizes: dict[str, set[int]] = {}
        for pack, template in self.by_pack():
            sizes.setdefault(pack, set()).add(len(base64.b64decode(template.vector_f32le_b64)))
        if any(len(found) > 1 for found in sizes.values()):
            raise ValueError("templates of one pack must share one dimension")
        return self

    def by_pack(self) -> list[tuple[str, TemplateIn]]:
        """(pack id, template) pairs; ValueError for a template that names no pack."""
        pairs = []
        for index, template in enumerate(self.templates):
            pack = template.pack_id or self.pack_id
            if pack is None:
                raise ValueError(f"template {index} names no pack and the change none either")
            pairs.append((pack, template))
        return pairs


class WatchlistChange(RecordChange):
    """watchlist.added: a record with its templates and fingers, and the site whose own ban it
    is (if any)."""

    banned_by_site: str | None = Field(None, min_length=2, max_length=40)


class MergeChange(BaseModel):
    """identity.merged: the registry's decision that two records are one person."""

    merged_id: str = Field(min_length=1, max_length=64)
    survivor_id: str = Field(min_length=1, max_length=64)

    @model_validator(mode="after")
    def _two_records(self) -> MergeChange:
        if self.merged_id == self.survivor_id:
            raise ValueError("a record cannot be merged into itself")
        return self


class StatusChange(BaseModel):
    """identity.status: a national status; `merged` only comes with a survivor (identity.merged)."""

    identity_id: str = Field(min_length=1, max_length=64)
    status: CentralStatus


class PhotoRequest(BaseModel):
    """photo.requested: a central officer asks for the photo of one record this site owns."""

    model_config = ConfigDict(extra="ignore")

    request_id: int = Field(ge=1)
    identity_id: str = Field(min_length=1, max_length=64)


class IdentityRef(BaseModel):
    """watchlist.removed: which record left the national watchlist (and whose ban it was)."""

    identity_id: str = Field(min_length=1, max_length=64)
    banned_by_site: str | None = Field(None, min_length=2, max_length=40)


def parse(model: type[Payload], seq: int, kind: str, payload: dict[str, Any]) -> Payload:
    """The checked payload, or PulledChangeInvalid naming the change."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3]
        )
        raise PulledChangeInvalid(seq=seq, kind=kind, reason=problems) from exc
