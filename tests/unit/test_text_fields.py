"""Free-form fields are checked before they are stored: control characters and sizes."""

from __future__ import annotations

import pytest

from enrollment.records import IdentityDraft, check_corrections, check_required
from kernel.text import FieldTooLarge, TextInvalid, check_text, unstorable_path


@pytest.mark.parametrize("text", ["a\u0000b", "a\u0007b", "a\nb", "a\u202eb", "a\ud800b", "a\x85b"])
def test_a_name_with_a_control_character_is_refused(text: str) -> None:
    with pytest.raises(TextInvalid) as refused:
        check_corrections({"full_name": text})
    assert refused.value.details["field"] == "full_name" and refused.value.details["position"] == 1


def test_a_note_may_hold_newlines_and_tabs_but_no_nul() -> None:
    assert check_text("baris satu\n\tbaris dua", "reason", 100, multiline=True)
    with pytest.raises(TextInvalid):
        check_text("baris\u0000", "reason", 100, multiline=True)


def test_48_mib_of_details_is_refused_with_its_size() -> None:
    with pytest.raises(FieldTooLarge) as refused:
        check_corrections({"details": {"note": "a" * (48 * 1024 * 1024)}})
    assert refused.value.status == 413 and refused.value.details["field"].startswith("details")


def test_details_keys_nesting_and_aliases_are_checked_too() -> None:
    with pytest.raises(TextInvalid):
        check_corrections({"details": {"ok": {"bad\u0000key": 1}}})
    deep: dict[str, object] = {}
    node = deep
    for _ in range(10):
        node["x"] = {}
        node = node["x"]  # type: ignore[assignment]
    with pytest.raises(TextInvalid):
        check_corrections({"details": deep})
    with pytest.raises(FieldTooLarge):
        check_corrections({"aliases": ["a"] * 21})


def test_an_import_or_commit_draft_is_checked_in_every_free_form_field() -> None:
    draft = IdentityDraft(role="inmate", full_name="Budi", registration_number="B.I-1\u0000")
    with pytest.raises(TextInvalid) as refused:
        check_required(draft)
    assert refused.value.details["field"] == "registration_number"


def test_the_registry_finds_what_postgresql_cannot_store() -> None:
    assert unstorable_path({"fields": {"full_name": "a\u0000b"}}) == "$.fields.full_name"
    assert unstorable_path({"list": ["ok", "\ud800"]}) == "$.list.1"
    assert unstorable_path({"fine": "Budi\n"}) is None
