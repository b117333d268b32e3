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
    expected = Message("", "")  # what the field should hold, set by `named`

    @classmethod
    def named(cls, name: str, expected: Message | str, column: str | None = None) -> FieldInvalid:
        """`expected` in both languages, or one text both read (`F | M`); `column`: the source
        file's column when a mapping reads the field from another name (the officer's word)."""
        said = expected if isinstance(expected, Message) else Message(expected, expected)
        shown = f"'{column}' ({name})" if column and column != name else f"'{name}'"
        error = cls(
            Message(
                f"Isi kolom {shown} tidak sah; seharusnya {said.id}.",
                f"The value of {shown} is not valid; expected {said.en}.",
            ),
            field=name,
            expected=said.en,
            **({"column": column} if column and column != name else {}),
        )
        error.expected = said
        return error

    def in_column(self, column: str | None) -> FieldInvalid:
        """The same refusal naming the source file's column."""
        return FieldInvalid.named(self.details["field"], self.expected, column)


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


class PhotoFolderMissing(InputError):
    code = "import_photos_missing"
    message = Message(
        "Folder foto tidak ada. Periksa bahwa flashdisk atau folder bersama terpasang dan jalurnya"
        " benar; tidak ada baris yang diproses.",
        "The photo folder does not exist. Check that the USB stick or shared folder is mounted"
        " and the path is right; no row was processed.",
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
