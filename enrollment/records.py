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
from kernel.text import FieldTooLarge, check_json, check_text

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


# Caps on what an officer types (or an import carries); `details` is free-form JSON.
MAX_NAME_CHARS, MAX_ALIASES, MAX_NUMBER_CHARS = 200, 20, 40
MAX_NOTE_CHARS, MAX_DETAILS_BYTES = 500, 16 * 1024

REQUIRED_BY_ROLE: dict[str, tuple[str, ...]] = {
    "visitor": ("nik", "birth_date", "sex", "consent"),
    "staff": ("nip", "birth_date", "sex"),
    "inmate": ("registration_number", "birth_date", "sex"),
}


# Draft attributes that the desk and the API spell differently: the error names the field to fill.
FIELD_NAMES = {"consent": "consent_purpose"}


def check_required(draft: IdentityDraft) -> None:
    """Refuse a draft that lacks a field its role needs (naming the field as the API spells it),
    or whose text cannot be stored."""
    check_draft_text(draft)
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


def check_draft_text(draft: IdentityDraft) -> None:
    """Every free-form field of a draft: no control characters, within its size."""
    check_corrections(
        {"full_name": draft.full_name, "aliases": list(draft.aliases), "details": draft.details}
    )
    for name in ("nik", "nip", "registration_number"):
        if (value := getattr(draft, name)) is not None:
            check_text(value, name, MAX_NUMBER_CHARS)
    for index, visit in enumerate(draft.visits):
        check_text(visit.inmate_id, f"visits[{index}].inmate_id", 64)
        check_text(visit.relationship, f"visits[{index}].relationship", 100)
    if draft.consent is not None:
        check_text(draft.consent.purpose, "consent_purpose", MAX_NOTE_CHARS, multiline=True)


def check_corrections(fields: dict[str, Any]) -> dict[str, Any]:
    """The corrected plain fields of an identity (name, aliases, details), checked; returned."""
    if (name := fields.get("full_name")) is not None:
        check_text(name, "full_name", MAX_NAME_CHARS)
    if (aliases := fields.get("aliases")) is not None:
        if len(aliases) > MAX_ALIASES:
            raise FieldTooLarge(field="aliases", max_items=MAX_ALIASES, items=len(aliases))
        for index, alias in enumerate(aliases):
            check_text(alias, f"aliases[{index}]", MAX_NAME_CHARS)
    if (details := fields.get("details")) is not None:
        check_json(details, "details", MAX_DETAILS_BYTES)
    return fields
