"""Rows of a prison-database export read into identity drafts, each checked before any photo is.

Every row becomes an `ExportRow` carrying either a validated draft or the error that refuses it,
so one bad row never stops the file. Another system's export is read through a column mapping
(enrollment/column_mapping.py) into the same cells before any check. Numbers repeated inside the file are refused on the second
and later rows: the first row owns the number, which keeps the outcome the same on every re-run.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from enrollment.column_mapping import DATE_FIELDS, ColumnMapping, parse_date
from enrollment.identifiers import (
    normalise_digits,
    validate_nik,
    validate_nip,
    validate_registration_number,
)
from enrollment.import_errors import (
    ExportFileInvalid,
    FieldInvalid,
    IdentityNumberRepeated,
    PhotoMissing,
    RowIdRepeated,
)
from enrollment.records import ROLES, Consent, IdentityDraft, check_required, validate_draft
from kernel.errors import GerbangError, Message

COLUMNS = (
    "row_id", "role", "full_name", "birth_date", "sex", "nik", "nip", "registration_number",
    "aliases", "admission_date", "case_reference", "cell_block", "phone", "photos",
)  # fmt: skip
REQUIRED_COLUMNS = ("row_id", "role", "full_name", "photos")
DETAIL_COLUMNS = ("admission_date", "case_reference", "cell_block", "phone")
NUMBER_COLUMNS = ("registration_number", "nik", "nip")
LIST_SEPARATOR = ";"


@dataclass(frozen=True)
class ExportRow:
    """One row of the export: its key, line, photos and either a draft or what refuses it."""

    row_id: str
    line: int
    photos: tuple[str, ...]
    draft: IdentityDraft | None
    error: GerbangError | None = None


def read_export(
    data: bytes, import_id: str, officer: str, mapping: ColumnMapping | None = None
) -> list[ExportRow]:
    """Every row of the CSV, validated on its own, then against the rows before it."""
    encoding = mapping.source.encoding if mapping else "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ExportFileInvalid(reason=f"not {encoding} text", position=exc.start) from exc
    delimiter = mapping.source.delimiter if mapping else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    if mapping is None:
        _check_header(reader.fieldnames)
        rows = [_parse(_cells(v), n, import_id, officer) for n, v in enumerate(reader, start=2)]
    else:
        _check_mapped_header(reader.fieldnames, mapping)
        rows = [_mapped(v, n, mapping, import_id, officer) for n, v in enumerate(reader, start=2)]
    return _refuse_repeats(rows)


def _check_mapped_header(names: Iterable[str] | None, mapping: ColumnMapping) -> None:
    """Refuse a file that lacks a column the mapping reads (a wrong mapping, or a wrong file)."""
    found = {n.strip() for n in names or []}
    missing = [c for c in mapping.source_columns() if c not in found]
    if missing:
        raise ExportFileInvalid(reason="columns named by the mapping are missing", missing=missing)


def _mapped(
    values: dict[str, Any], line: int, mapping: ColumnMapping, import_id: str, officer: str
) -> ExportRow:
    """A source row through the mapping, then the same checks as the project's own format."""
    cells = mapping.cells(_cells(values))
    shown = mapping.source.date_format.replace("%d", "dd").replace("%m", "mm").replace("%Y", "yyyy")
    for name in DATE_FIELDS:
        if cells.get(name):
            try:
                cells[name] = parse_date(cells[name], mapping.source.date_format)
            except ValueError:
                error = FieldInvalid.named(name, _date_as(shown), _column_of(mapping, name))
                row_id = cells.get("row_id") or f"line-{line}"
                return ExportRow(row_id, line, _split(cells.get("photos", "")), None, error)
    row = _parse(cells, line, import_id, officer)
    if isinstance(row.error, FieldInvalid):  # name the officer's column, not Gerbang's field
        renamed = row.error.in_column(_column_of(mapping, row.error.details["field"]))
        return ExportRow(row.row_id, row.line, row.photos, None, renamed)
    return row


def _column_of(mapping: ColumnMapping, name: str) -> str | None:
    """The source column a mapped field is read from (several: joined with '+'; none: None)."""
    column = mapping.columns.get(name)
    if column is None or not column.source_columns():
        return None
    return "+".join(column.source_columns())


def _date_as(form: str) -> Message:
    """'a date as dd/mm/yyyy' in both languages."""
    return Message(f"tanggal berbentuk {form}", f"a date as {form}")


def _cells(values: dict[str, Any]) -> dict[str, str]:
    """A CSV row with its names and values stripped (a short row's missing cells are None)."""
    return {k.strip(): (v or "").strip() for k, v in values.items() if isinstance(k, str)}


def _check_header(names: Iterable[str] | None) -> None:
    """Refuse a file without the core columns, or with a column we would silently drop."""
    found = [n.strip() for n in names or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in found]
    unknown = [c for c in found if c not in COLUMNS]
    if missing or unknown:
        raise ExportFileInvalid(reason="columns", missing=missing, unknown=unknown)


def _parse(cells: dict[str, str], line: int, import_id: str, officer: str) -> ExportRow:
    row_id = cells.get("row_id") or f"line-{line}"
    photos = _split(cells.get("photos", ""))
    try:
        if not cells.get("row_id"):
            raise FieldInvalid.named(
                "row_id", Message("kunci baris ini dalam ekspor", "the export's key for this row")
            )
        draft = _draft(cells, {"import_id": import_id, "row_id": row_id}, officer)
        return ExportRow(row_id, line, photos, draft)
    except GerbangError as exc:
        return ExportRow(row_id, line, photos, None, exc)


def _draft(cells: dict[str, str], provenance: dict[str, str], officer: str) -> IdentityDraft:
    """The validated draft for one row; raises the first problem found."""
    role = cells.get("role", "").lower()
    if role not in ROLES:
        raise FieldInvalid.named("role", " | ".join(ROLES))
    sex = cells.get("sex", "").upper() or None
    if sex not in (None, "F", "M"):
        raise FieldInvalid.named("sex", "F | M")
    details: dict[str, Any] = {c: cells[c] for c in DETAIL_COLUMNS if cells.get(c)}
    if admitted := _date(cells, "admission_date"):
        details["admission_date"] = admitted.isoformat()
    draft = IdentityDraft(
        role=role,
        full_name=cells.get("full_name", ""),
        birth_date=_date(cells, "birth_date"),
        sex=sex,  # type: ignore[arg-type]
        aliases=_split(cells.get("aliases", "")),
        nik=cells.get("nik") or None,
        nip=cells.get("nip") or None,
        registration_number=cells.get("registration_number") or None,
        details={**details, "import": provenance},
        consent=_carried_consent(provenance, officer) if role == "visitor" else None,
    )
    check_required(draft)
    return _validate_every_number(validate_draft(draft))


def _carried_consent(provenance: dict[str, str], officer: str) -> Consent:
    """A visitor's consent is carried over from the source system, on the importing officer's word."""
    return Consent(
        purpose=f"carried over from the prison database export, row {provenance['row_id']}",
        recorded_by=officer,
        given_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def _validate_every_number(draft: IdentityDraft) -> IdentityDraft:
    """validate_draft checks only the role's own number; an export often carries the others too."""
    born, sex = draft.birth_date, draft.sex
    if draft.nik:
        draft = replace(
            draft,
            nik=validate_nik(normalise_digits(draft.nik), birth_date=born, sex=sex).normalised,
        )
    if draft.nip:
        draft = replace(
            draft,
            nip=validate_nip(normalise_digits(draft.nip), birth_date=born, sex=sex).normalised,
        )
    if draft.registration_number:
        number = validate_registration_number(draft.registration_number)
        draft = replace(draft, registration_number=number.normalised)
    return draft


def _refuse_repeats(rows: list[ExportRow]) -> list[ExportRow]:
    """Second and later uses of a row_id or an identity number become refusals."""
    lines: dict[str, int] = {}
    owners: dict[tuple[str, str], str] = {}
    checked = []
    for row in rows:
        error = row.error
        if row.row_id in lines:  # its own key, so the first row's state is not overwritten
            repeat = RowIdRepeated.first_at(lines[row.row_id])
            checked.append(
                replace(row, row_id=f"{row.row_id}@line-{row.line}", draft=None, error=repeat)
            )
            continue
        lines[row.row_id] = row.line
        if error is None and row.draft is not None:
            error = _repeated_number(row.row_id, row.draft, owners)
        checked.append(row if error is row.error else replace(row, draft=None, error=error))
    return checked


def _repeated_number(
    row_id: str, draft: IdentityDraft, owners: dict[tuple[str, str], str]
) -> IdentityNumberRepeated | None:
    """Claim the draft's numbers for this row, or name the earlier row that holds one."""
    numbers = identity_numbers(draft).items()
    for field, number in numbers:
        if owners.get((field, number), row_id) != row_id:
            return IdentityNumberRepeated.first_in(field, owners[(field, number)])
    owners.update(dict.fromkeys(numbers, row_id))
    return None


def load_photos(row: ExportRow, photos_dir: Path) -> list[tuple[str, bytes]]:
    """The row's photo files, read; a name outside the photo folder counts as missing."""
    if not row.photos:
        raise PhotoMissing.named("", "no photo listed")
    root = photos_dir.resolve()
    photos = []
    for name in row.photos:
        path = (root / name).resolve()
        if not path.is_relative_to(root):
            raise PhotoMissing.named(name, "outside the photo folder")
        try:
            photos.append((name, path.read_bytes()))
        except OSError as exc:
            raise PhotoMissing.named(name, exc.strerror or type(exc).__name__) from exc
    return photos


def draft_fields(draft: IdentityDraft | None) -> dict[str, Any]:
    """A row's typed data as the desk's form takes it (flagged rows are finished there)."""
    if draft is None:
        return {}
    details = {c: draft.details[c] for c in DETAIL_COLUMNS if draft.details.get(c)}
    return {
        "role": draft.role, "full_name": draft.full_name, "sex": draft.sex,
        "birth_date": draft.birth_date.isoformat() if draft.birth_date else None,
        "aliases": list(draft.aliases), "nik": draft.nik, "nip": draft.nip,
        "registration_number": draft.registration_number, **details,
    }  # fmt: skip


def identity_numbers(draft: IdentityDraft) -> dict[str, str]:
    """The draft's unique identity numbers by column."""
    return {f: getattr(draft, f) for f in NUMBER_COLUMNS if getattr(draft, f)}


def _date(cells: dict[str, str], name: str) -> date | None:
    if not cells.get(name):
        return None
    try:
        return date.fromisoformat(cells[name])
    except ValueError as exc:
        raise FieldInvalid.named(name, _date_as("YYYY-MM-DD")) from exc


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(LIST_SEPARATOR) if part.strip())
