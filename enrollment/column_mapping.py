"""A column mapping: how another system's export (the national prison database SDP, a
spreadsheet saved as CSV) becomes the rows `gerbang import` reads, without editing the file.

A mapping file (TOML or JSON) says, for each Gerbang field, which source column holds it (or a
fixed value, or several columns joined), how the file is written (delimiter, encoding, date
format) and how source values translate (`LAKI-LAKI` → `M`, `NAPI` → `inmate`). Columns the
mapping does not name are not read. A value a map does not know passes through unchanged, so
the row's own checks refuse it with the field's name; a date in the wrong format refuses that
row, never the file. The example in docs/examples/sdp-mapping.toml is the reference.
"""

from __future__ import annotations

import json
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kernel.errors import InputError, Message

FIELDS = (
    "row_id",
    "role",
    "full_name",
    "birth_date",
    "sex",
    "nik",
    "nip",
    "registration_number",
    "aliases",
    "admission_date",
    "case_reference",
    "cell_block",
    "phone",
    "photos",
)  # fmt: skip — the columns of the project's own export format (enrollment/export_rows.py)
DATE_FIELDS = ("birth_date", "admission_date")
LIST_FIELDS = ("aliases", "photos")
JOINED = ";"  # how list fields are written in the project's own format


class MappingInvalid(InputError):
    code = "import_mapping_invalid"
    message = Message(
        "Berkas pemetaan kolom tidak sah. Periksa isinya dengan contoh di docs/examples.",
        "The column mapping file is not valid. Check it against the example in docs/examples.",
    )


class Source(BaseModel):
    """How the source file is written."""

    model_config = ConfigDict(extra="forbid")
    delimiter: str = Field(",", min_length=1, max_length=1, description="Cell separator")
    encoding: Literal["utf-8-sig", "utf-8", "cp1252", "latin-1"] = Field(
        "utf-8-sig", description="Text encoding (spreadsheets on Windows often write cp1252)"
    )
    date_format: str = Field(
        "%Y-%m-%d", max_length=40, description="strptime format of the date columns, e.g. %d/%m/%Y"
    )
    list_separator: str = Field(
        ";", min_length=1, max_length=3, description="Separator inside aliases and photos cells"
    )


class Column(BaseModel):
    """Where one Gerbang field comes from: a column, several columns joined, or a fixed value."""

    model_config = ConfigDict(extra="forbid")
    column: str | None = Field(None, min_length=1, max_length=200)
    columns: list[str] | None = Field(None, min_length=1, max_length=20)
    value: str | None = Field(None, max_length=200)

    def source_columns(self) -> list[str]:
        """The source columns this field reads."""
        return [self.column] if self.column else list(self.columns or [])


class ColumnMapping(BaseModel):
    """A whole mapping file."""

    model_config = ConfigDict(extra="forbid")
    source: Source = Field(default_factory=Source)
    columns: dict[str, Column] = Field(description="Gerbang field -> where its value comes from")
    values: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="Gerbang field -> {source value: Gerbang value}"
    )

    @field_validator("columns", mode="before")
    @classmethod
    def _short_forms(cls, raw: object) -> object:
        """`field = "COLUMN"` and `field = ["A", "B"]` are short for the table forms."""
        if not isinstance(raw, dict):
            return raw
        return {k: {"column": v} if isinstance(v, str) else {"columns": v} if isinstance(v, list)
                else v for k, v in raw.items()}  # fmt: skip

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, columns: dict[str, Column]) -> dict[str, Column]:
        unknown = sorted(set(columns) - set(FIELDS))
        if unknown:
            raise ValueError(f"unknown Gerbang fields {unknown}; known: {', '.join(FIELDS)}")
        for name in ("row_id", "role", "full_name", "photos"):
            if name not in columns:
                raise ValueError(f"'{name}' must be mapped")
        for name, column in columns.items():
            if sum(x is not None for x in (column.column, column.columns, column.value)) != 1:
                raise ValueError(f"'{name}': give exactly one of column, columns or value")
        return columns

    @field_validator("values")
    @classmethod
    def _value_maps_for_known_fields(
        cls, values: dict[str, dict[str, str]]
    ) -> dict[str, dict[str, str]]:
        unknown = sorted(set(values) - set(FIELDS))
        if unknown:
            raise ValueError(f"value maps for unknown fields {unknown}")
        return {f: {k.strip().casefold(): v for k, v in m.items()} for f, m in values.items()}

    def source_columns(self) -> list[str]:
        """Every source column the mapping reads, in field order."""
        return [c for f in self.columns.values() for c in f.source_columns()]

    def cells(self, row: dict[str, str]) -> dict[str, str]:
        """One source row as the project's own cells; dates stay raw until `date_cell`."""
        out = {}
        for name, spec in self.columns.items():
            if spec.value is not None:
                raw = spec.value
            else:
                parts = [(row.get(c) or "").strip() for c in spec.source_columns()]
                sep = JOINED if name in LIST_FIELDS else " "
                raw = sep.join(p for p in parts if p)
            if name in LIST_FIELDS:
                raw = JOINED.join(
                    p.strip() for p in raw.split(self.source.list_separator) if p.strip()
                )
            mapped = self.values.get(name, {})
            out[name] = mapped.get(raw.strip().casefold(), raw) if raw else raw
        return out


def load_mapping(path: Path) -> ColumnMapping:
    """Read and check a mapping file (.toml or .json)."""
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
        return ColumnMapping.model_validate(raw)
    except OSError as exc:
        raise MappingInvalid(file=str(path), reason=exc.strerror or type(exc).__name__) from exc
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MappingInvalid(file=str(path), reason=str(exc)) from exc
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise MappingInvalid(file=str(path), problems=problems) from exc


def parse_date(text: str, date_format: str) -> str:
    """A source date as YYYY-MM-DD; ValueError when it does not fit the format."""
    return datetime.strptime(text, date_format).date().isoformat()
