"""Free-form text and JSON typed by people, checked before it is stored or sent anywhere.

A name with a NUL character is stored by SQLite but refused by PostgreSQL, so one such record
used to halt a site's sync for good; a 48 MiB `details` field did the same. Every free-form field
is therefore checked at the edge for characters no person types (C0/C1 controls, lone surrogates,
bidirectional overrides that disguise a name) and for its size, with a house error saying which
field and what to do. The registry uses `unstorable_path` to refuse such a change itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from kernel.errors import InputError, Message, TooLarge

# Controls other than tab/newline/carriage return, DEL and C1, lone surrogates, and the
# bidirectional embedding/override/isolate marks (a name must read as it is stored).
_MULTILINE_BAD = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]"
)
_SINGLE_LINE_BAD = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
# What PostgreSQL cannot hold in text or jsonb at all.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MAX_JSON_DEPTH = 6


class TextInvalid(InputError):
    code = "text_invalid"
    message = Message(
        "Isian berisi karakter yang tidak boleh (karakter kontrol). Ketik ulang isian itu.",
        "The field holds characters that are not allowed (control characters). Type it again.",
    )


class FieldTooLarge(TooLarge):
    code = "field_too_large"
    message = Message(
        "Isian terlalu panjang. Persingkat isian itu lalu simpan lagi.",
        "The field is too long. Shorten it and save again.",
    )


def check_text(value: str, field: str, max_chars: int, *, multiline: bool = False) -> str:
    """The value, or TextInvalid / FieldTooLarge naming the field."""
    if len(value) > max_chars:
        raise FieldTooLarge(field=field, max_chars=max_chars, chars=len(value))
    pattern = _MULTILINE_BAD if multiline else _SINGLE_LINE_BAD
    if found := pattern.search(value):
        raise TextInvalid(
            field=field, position=found.start(), character=f"U+{ord(found.group()):04X}"
        )
    return value


def check_json(value: Any, field: str, max_bytes: int, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """A JSON value of free-form text (keys and strings checked, depth and encoded size capped)."""
    _walk(value, field, max_depth, max_bytes)
    size = len(json.dumps(value, ensure_ascii=False, default=str).encode("utf-8", "replace"))
    if size > max_bytes:
        raise FieldTooLarge(field=field, max_bytes=max_bytes, bytes=size)
    return value


def _walk(value: Any, path: str, depth: int, max_chars: int) -> None:
    if depth < 0:
        raise TextInvalid(field=path, reason="nested too deeply")
    if isinstance(value, str):
        check_text(value, path, max_chars, multiline=True)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            check_text(str(key), f"{path}.{key!s:.40}", 100)
            _walk(item, f"{path}.{key}", depth - 1, max_chars)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _walk(item, f"{path}[{index}]", depth - 1, max_chars)


def unstorable_path(value: Any, path: str = "$", depth: int = 64) -> str | None:
    """Where a JSON value holds a string no database column can store (NUL, lone surrogate)."""
    if isinstance(value, str):
        return path if _UNSTORABLE.search(value) else None
    if depth <= 0:
        return path
    if isinstance(value, Mapping):
        items: Any = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        if isinstance(key, str) and _UNSTORABLE.search(key):
            return f"{path}.<key>"
        if found := unstorable_path(item, f"{path}.{key}", depth - 1):
            return found
    return None


# For request schemas (pydantic `AfterValidator`): a ValueError becomes the usual 422 there.
def one_line(value: str) -> str:
    """A single-line text field: no control characters (sizes are the schema's own)."""
    if found := _SINGLE_LINE_BAD.search(value):
        raise ValueError(
            f"holds a control character (U+{ord(found.group()):04X}) at {found.start()}"
        )
    return value


def free_text(value: str) -> str:
    """A multi-line text field (a reason, a note): tabs and newlines allowed, other controls not."""
    if found := _MULTILINE_BAD.search(value):
        raise ValueError(
            f"holds a control character (U+{ord(found.group()):04X}) at {found.start()}"
        )
    return value


def free_json(value: Any, max_bytes: int = 16 * 1024) -> Any:
    """Free-form JSON (details): keys and strings checked, depth and size capped."""
    try:
        return check_json(value, "details", max_bytes)
    except (TextInvalid, FieldTooLarge) as exc:
        raise ValueError(f"{exc.message.en} {exc.details}") from exc
