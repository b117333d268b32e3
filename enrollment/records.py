"""Identity records: who a person is to the site, with the fields each role requires.

A visitor carries a NIK, staff a NIP, an inmate a registration number; each is validated (and
cross-checked against the birth date and sex typed in) before anything is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Literal

from enrollment.identifiers import (
    normalise_digits,
    validate_nik,
    validate_nip,
    validate_registration_number,
)
from kernel.errors import InputError, Message

Role = Literal["inmate", "staff", "visitor"]
Status = Literal["active", "released", "transferred_out", "banned", "merged", "erased"]
ROLES: tuple[Role, ...] = ("inmate", "staff", "visitor")
STATUSES: tuple[Status, ...] = (
    "active",
    "released",
    "transferred_out",
    "banned",
    "merged",
    "erased",
)


class MissingField(InputError):
    code = "field_missing"
    message = Message(
        "Kolom wajib untuk peran ini belum diisi.", "A field required for this role is empty."
    )

    @classmethod
    def named(cls, name: str, role: str) -> MissingField:
        return cls(
            Message(
                f"Kolom '{name}' wajib diisi untuk peran ini.",
                f"The field '{name}' is required for this role.",
            ),
            field=name,
            role=role,
        )


@dataclass(frozen=True)
class VisitLink:
    """An inmate a visitor is registered to visit."""

    inmate_id: str
    relationship: str


@dataclass(frozen=True)
class Consent:
    """A visitor's consent to biometric processing: who recorded it, when, for what."""

    purpose: str
    recorded_by: str
    given_at: str


@dataclass(frozen=True)
class IdentityDraft:
    """What the enrolment desk submits for a new person."""

    role: Role
    full_name: str
    birth_date: date | None = None
    sex: Literal["F", "M"] | None = None
    aliases: tuple[str, ...] = ()
    nik: str | None = None
    nip: str | None = None
    registration_number: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    visits: tuple[VisitLink, ...] = ()
    consent: Consent | None = None


@dataclass(frozen=True)
class Identity:
    """A stored person."""

    id: str
    role: Role
    status: Status
    full_name: str
    birth_date: str | None
    sex: str | None
    aliases: list[str]
    nik: str | None
    nip: str | None
    registration_number: str | None
    details: dict[str, Any]
    origin_site: str
    merged_into: str | None
    photo_image_id: int | None
    created_at: str
    updated_at: str
    version: int


REQUIRED_BY_ROLE: dict[str, tuple[str, ...]] = {
    "visitor": ("nik", "birth_date", "sex", "consent"),
    "staff": ("nip", "birth_date", "sex"),
    "inmate": ("registration_number", "birth_date", "sex"),
}


# Draft attributes that the desk and the API spell differently: the error names the field to fill.
FIELD_NAMES = {"consent": "consent_purpose"}


def check_required(draft: IdentityDraft) -> None:
    """Refuse a draft that lacks a field its role needs, naming the field as the API spells it."""
    if not draft.full_name.strip():
        raise MissingField.named("full_name", draft.role)
    for name in REQUIRED_BY_ROLE[draft.role]:
        if getattr(draft, name) in (None, ""):
            raise MissingField.named(FIELD_NAMES.get(name, name), draft.role)


def validate_draft(draft: IdentityDraft) -> IdentityDraft:
    """The draft with its identity number checked against the birth date and sex, normalised."""
    if draft.role == "visitor" and draft.nik:
        nik = validate_nik(normalise_digits(draft.nik), birth_date=draft.birth_date, sex=draft.sex)
        return replace(draft, nik=nik.normalised)
    if draft.role == "staff" and draft.nip:
        nip = validate_nip(normalise_digits(draft.nip), birth_date=draft.birth_date, sex=draft.sex)
        return replace(draft, nip=nip.normalised)
    if draft.role == "inmate" and draft.registration_number:
        registration = validate_registration_number(draft.registration_number)
        return replace(draft, registration_number=registration.normalised)
    return draft
