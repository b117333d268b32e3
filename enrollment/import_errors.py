"""Why an export file or one of its rows is refused (enrollment/export_rows.py), in both
languages, each naming the field, photo or earlier row concerned."""

from __future__ import annotations

from kernel.errors import InputError, Message


class ExportFileInvalid(InputError):
    code = "import_file_invalid"
    message = Message(
        "Berkas ekspor tidak dapat dibaca. Periksa format CSV dan nama kolomnya.",
        "The export file cannot be read. Check its CSV format and column names.",
    )


class FieldInvalid(InputError):
    code = "field_invalid"
    message = Message(
        "Isi kolom tidak sah. Periksa nilainya.", "A field's value is not valid. Check it."
    )

    @classmethod
    def named(cls, name: str, expected: str) -> FieldInvalid:
        return cls(
            Message(
                f"Isi kolom '{name}' tidak sah; seharusnya {expected}.",
                f"The value of '{name}' is not valid; expected {expected}.",
            ),
            field=name,
            expected=expected,
        )


class IdentityNumberRepeated(InputError):
    code = "identity_number_repeated"
    message = Message(
        "Nomor identitas yang sama sudah dipakai baris lain dalam berkas ini.",
        "The same identity number is already used by another row of this file.",
    )

    @classmethod
    def first_in(cls, field: str, first_row_id: str) -> IdentityNumberRepeated:
        label = {"nik": "NIK", "nip": "NIP"}.get(field)
        return cls(
            Message(
                f"{label or 'Nomor registrasi'} yang sama sudah dipakai baris {first_row_id} dalam berkas ini.",
                f"The same {label or 'registration number'} is already used by row {first_row_id} of this file.",
            ),
            field=field,
            first_row_id=first_row_id,
        )


class RowIdRepeated(InputError):
    code = "row_id_repeated"
    message = Message(
        "row_id ini sudah dipakai pada baris lain berkas ini.",
        "This row_id is already used on another line of this file.",
    )

    @classmethod
    def first_at(cls, line: int) -> RowIdRepeated:
        return cls(
            Message(
                f"row_id ini sudah dipakai pada baris {line} berkas ini.",
                f"This row_id is already used on line {line} of this file.",
            ),
            first_line=line,
        )


class PhotoMissing(InputError):
    code = "photo_missing"
    message = Message(
        "Foto tidak ditemukan di folder foto. Periksa nama berkasnya.",
        "The photo is not in the photo folder. Check the file name.",
    )

    @classmethod
    def named(cls, name: str, reason: str) -> PhotoMissing:
        return cls(
            Message(
                f"Foto '{name}' tidak ditemukan di folder foto. Periksa nama berkasnya.",
                f"The photo '{name}' is not in the photo folder. Check the file name.",
            ),
            photo=name,
            reason=reason,
        )
