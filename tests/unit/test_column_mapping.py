"""Column mappings: the shipped example reads its sample SDP export; value maps, dd/mm/yyyy dates,
joined columns and the file's encoding and delimiter are applied; a bad mapping is refused whole
with what is wrong, a bad date refuses its row only."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from enrollment.column_mapping import MappingInvalid, load_mapping
from enrollment.export_rows import ExportFileInvalid, read_export

EXAMPLES = Path(__file__).parents[2] / "docs" / "examples"
HEADER = "NO_INDUK;JENIS;NAMA_LENGKAP;TGL_LAHIR;JENIS_KELAMIN;NIK;NO_REGISTRASI;ALIAS;TGL_MASUK;NO_PUTUSAN;BLOK_KAMAR;FOTO_DEPAN;FOTO_SAMPING"


def _rows(
    lines: list[str], mapping_path: Path = EXAMPLES / "sdp-mapping.toml", encoding: str = "utf-8"
):  # type: ignore[no-untyped-def]
    data = "\n".join([HEADER, *lines]).encode(encoding)
    return read_export(data, "import-1", "Petugas", load_mapping(mapping_path))


def test_the_shipped_example_mapping_reads_its_sample_export() -> None:
    rows = read_export(
        (EXAMPLES / "sdp-export.csv").read_bytes(),
        "i",
        "o",
        load_mapping(EXAMPLES / "sdp-mapping.toml"),
    )
    [row] = rows
    assert row.error is None and row.draft is not None
    assert (row.row_id, row.photos) == ("SDP-0001", ("0001-depan.jpg", "0001-samping.jpg"))
    draft = row.draft
    assert (draft.role, draft.sex, draft.birth_date) == ("inmate", "M", date(1961, 8, 4))
    assert draft.aliases == ("Bams", "Pak Budi") and draft.registration_number == "B.I-101/2024"
    assert draft.details["admission_date"] == "2024-01-10" and draft.details["cell_block"] == "A-3"


def test_value_maps_ignore_case_and_spaces_and_an_unknown_value_refuses_its_row() -> None:
    rows = _rows([
        "A1; pengunjung ;Sari;07/03/1985;perempuan;3201014703850001;;;;;;a.jpg;",
        "A2;NAPI;Andi;01/12/1990;X;;B.I-2/2024;;;;;b.jpg;",
    ])  # fmt: skip
    assert rows[0].draft is not None and (rows[0].draft.role, rows[0].draft.sex) == ("visitor", "F")
    assert rows[0].photos == ("a.jpg",)  # an empty second photo column adds nothing
    assert rows[1].draft is None and rows[1].error is not None
    assert rows[1].error.code == "field_invalid" and rows[1].error.details["field"] == "sex"
    said = rows[1].error.message  # the officer's column first, Gerbang's field beside it
    assert said.id == "Isi kolom 'JENIS_KELAMIN' (sex) tidak sah; seharusnya F | M."
    assert said.en == "The value of 'JENIS_KELAMIN' (sex) is not valid; expected F | M."


def test_a_date_in_another_format_refuses_that_row_only_and_says_the_format() -> None:
    rows = _rows([
        "B1;NAPI;Andi;1990-12-01;L;;B.I-3/2024;;;;;b.jpg;",
        "B2;NAPI;Budi;31/12/1990;L;;B.I-4/2024;;;;;c.jpg;",
    ])  # fmt: skip
    assert rows[0].error is not None and rows[0].error.details == {
        "field": "birth_date", "expected": "a date as dd/mm/yyyy", "column": "TGL_LAHIR"
    }  # fmt: skip
    said = rows[0].error.message  # each language whole: no English inside the Indonesian
    assert said.id == "Isi kolom 'TGL_LAHIR' (birth_date) tidak sah; seharusnya tanggal berbentuk dd/mm/yyyy."  # fmt: skip
    assert said.en == "The value of 'TGL_LAHIR' (birth_date) is not valid; expected a date as dd/mm/yyyy."  # fmt: skip
    assert rows[1].error is None and rows[1].draft is not None
    assert rows[1].draft.birth_date == date(1990, 12, 31)


def test_encoding_delimiter_constant_values_and_joined_columns(tmp_path: Path) -> None:
    mapping = tmp_path / "sheet.json"
    mapping.write_text(
        '{"source": {"delimiter": ",", "encoding": "cp1252", "date_format": "%d-%m-%Y"},'
        ' "columns": {"row_id": "No", "role": {"value": "inmate"}, "full_name": ["Nama", "Marga"],'
        ' "registration_number": "Reg", "photos": "Foto", "birth_date": "Lahir", "sex": {"value": "M"}}}',
        encoding="utf-8",
    )
    data = "No,Nama,Marga,Reg,Foto,Lahir,Catatan\n7,José,Sitompul,B.I-9/2024,7.jpg,02-01-1980,x\n"
    [row] = read_export(data.encode("cp1252"), "i", "o", load_mapping(mapping))
    assert row.draft is not None, row.error
    assert (row.draft.full_name, row.draft.role) == ("José Sitompul", "inmate")
    assert row.draft.birth_date == date(1980, 1, 2)


def test_a_file_without_a_column_the_mapping_reads_is_refused_whole() -> None:
    with pytest.raises(ExportFileInvalid) as refused:
        read_export(
            b"NO_INDUK;JENIS\nx;NAPI\n", "i", "o", load_mapping(EXAMPLES / "sdp-mapping.toml")
        )
    assert "NAMA_LENGKAP" in refused.value.details["missing"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            '[columns]\nrow_id = "A"\nrole = "B"\nfull_name = "C"\nphotoz = "D"',
            "unknown Gerbang fields",
        ),
        ('[columns]\nrow_id = "A"\nrole = "B"\nfull_name = "C"', "'photos' must be mapped"),
        ('[source]\ndelimiter = ";;"\n[columns]\nrow_id = "A"', "delimiter"),
        ('[columns\nrow_id = "A"', "Expected"),
    ],
)
def test_a_bad_mapping_is_refused_with_what_is_wrong(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "mapping.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MappingInvalid) as refused:
        load_mapping(path)
    assert refused.value.code == "import_mapping_invalid"
    assert problem in str(refused.value.details)
