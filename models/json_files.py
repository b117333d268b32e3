"""Strict JSON files for the numbers models ship (calibrations, fusion models).

A threshold read from a half-written or hand-edited file would silently change who gets
through a gate, so files are replaced atomically and read back refusing anything unexpected:
a missing or unknown key, or a value of the wrong JSON type.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import fields
from pathlib import Path
from typing import Any


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write as JSON (sorted keys, indent 2, no NaN) via a temp file and an atomic rename."""
    text = json.dumps(payload, sort_keys=True, indent=2, allow_nan=False) + "\n"
    write_text_atomically(Path(path), text)


def write_text_atomically(path: Path, text: str) -> None:
    """Temp file in the same folder, fsync, rename: readers see the old file or the new one."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(0o644)  # mkstemp makes 0600; shipped package data must stay readable
        tmp.replace(path)  # os.replace: readers see the old file or the new one, never half
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_keys(data: Any, expected: set[str], what: str) -> None:
    """Refuse anything but a JSON object with exactly the expected keys."""
    if not isinstance(data, dict):
        raise TypeError(f"{what} must be a JSON object")
    if missing := expected - data.keys():
        raise ValueError(f"{what} is missing keys: {', '.join(sorted(missing))}")
    if extra := data.keys() - expected:
        raise ValueError(f"{what} has unknown keys: {', '.join(sorted(extra))}")


# JSON types accepted for each dataclass field type (bool is an int in Python, so it is refused
# for numbers explicitly in _field).
_JSON_KINDS: dict[str, tuple[type, tuple[type, ...]]] = {
    "str": (str, (str,)),
    "int": (int, (int,)),
    "float": (float, (int, float)),
    "bool": (bool, (bool,)),
}


def _field(data: dict[str, Any], name: str, kind: str) -> Any:
    """One value of the expected JSON type, converted to the field's Python type."""
    convert, accepted = _JSON_KINDS[kind]
    value = data[name]
    if isinstance(value, bool) != (convert is bool) or not isinstance(value, accepted):
        raise TypeError(f"{name!r} must be a JSON {kind}, got {value!r}")
    return convert(value)


def scalar_fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The str/int/float/bool fields of a dataclass, type-checked from parsed JSON.

    Field types are read as strings, so the dataclass module must use
    `from __future__ import annotations`; other fields are left for the caller to build.
    """
    return {f.name: _field(data, f.name, str(f.type)) for f in fields(cls) if f.type in _JSON_KINDS}
