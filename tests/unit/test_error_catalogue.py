"""Every error class in the project is declarative, bilingual and owns a code no other class uses.

`kernel.catalogue.all_error_classes()` imports every module of the project (an import that
fails fails the test: nothing is skipped) and walks the GerbangError tree. The checks here are
what clients and the OpenAPI tables rely on; the last tests plant a breach to prove they bite.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest

from kernel.catalogue import PROJECT_PACKAGES, all_error_classes, import_all
from kernel.errors import (
    Conflict,
    Forbidden,
    GerbangError,
    InputError,
    Message,
    NotFound,
    TooLarge,
    Unauthenticated,
    Unavailable,
)

# The abstract branches of kernel/errors.py: every leaf elsewhere hangs under one of them.
KERNEL_BRANCHES = frozenset(
    {
        GerbangError,
        InputError,
        TooLarge,
        Unauthenticated,
        Forbidden,
        NotFound,
        Conflict,
        Unavailable,
    }
)
ERRORS = all_error_classes()
WORD = re.compile(r"[a-z]{3,}")


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def duplicated_codes(classes: Sequence[type[GerbangError]]) -> dict[str, list[str]]:
    """code -> the classes sharing it, for every code used more than once."""
    counts = Counter(cls.code for cls in classes)
    return {
        code: sorted(_name(cls) for cls in classes if cls.code == code)
        for code, n in counts.items()
        if n > 1
    }


def inherited_codes(classes: Sequence[type[GerbangError]]) -> list[str]:
    """Classes that do not declare their own code (they would answer with their parent's)."""
    return [_name(cls) for cls in classes if "code" not in cls.__dict__]


def message_problems(cls: type[GerbangError]) -> list[str]:
    """What is wrong with a class's message: missing, one language only, or English twice."""
    message = cls.message
    if not isinstance(message, Message):
        return [f"message is {type(message).__name__}, not Message"]
    problems = []
    if not message.id.strip() or not message.en.strip():
        problems.append("a language is empty")
    if message.id.strip() == message.en.strip():
        problems.append("Indonesian and English are the same text")
    id_words, en_words = (
        set(WORD.findall(message.id.lower())),
        set(WORD.findall(message.en.lower())),
    )
    if id_words and len(id_words & en_words) > len(id_words) / 2:
        problems.append(f"the Indonesian is mostly English words: {sorted(id_words & en_words)}")
    return problems


def payload_problems(payload: Any, code: str) -> list[str]:
    """How a to_payload() body departs from {"error": {"code", "message": {id, en}, "details"}}."""
    if not isinstance(payload, dict) or set(payload) != {"error"}:
        return ["the body is not {'error': ...}"]
    error = payload["error"]
    if not isinstance(error, dict) or set(error) != {"code", "message", "details"}:
        return ["error does not carry exactly code, message and details"]
    problems = []
    if error["code"] != code:
        problems.append(f"code {error['code']!r} is not the class's {code!r}")
    message = error["message"]
    if not isinstance(message, dict) or set(message) != {"id", "en"}:
        problems.append("message is not {'id': ..., 'en': ...}")
    elif not all(isinstance(text, str) and text for text in message.values()):
        problems.append("a message text is empty")
    if not isinstance(error["details"], dict):
        problems.append("details is not an object")
    return problems


def test_every_module_of_every_package_imports():
    names = import_all()
    for package in PROJECT_PACKAGES:
        assert package in names
    assert len(names) > 100  # the walk really went into the subpackages


def test_the_catalogue_holds_the_kernel_tree_and_the_leaves_of_every_layer():
    assert set(ERRORS) >= KERNEL_BRANCHES
    modules = {cls.__module__.split(".")[0] for cls in ERRORS}
    assert {"kernel", "models", "enrollment", "site_sync", "edge", "registry"} <= modules
    assert len(ERRORS) > 60


def test_error_codes_are_unique_across_the_project():
    assert duplicated_codes(ERRORS) == {}


def test_every_class_declares_its_own_code():
    assert inherited_codes(ERRORS) == []


@pytest.mark.parametrize("cls", ERRORS, ids=_name)
def test_status_is_an_http_error_status(cls):
    assert isinstance(cls.status, int) and 400 <= cls.status <= 599


@pytest.mark.parametrize("cls", ERRORS, ids=_name)
def test_message_is_in_indonesian_and_english(cls):
    assert message_problems(cls) == []


@pytest.mark.parametrize("cls", ERRORS, ids=_name)
def test_payload_has_the_house_shape(cls):
    error = cls(where="catalogue")
    payload = error.to_payload()
    assert payload_problems(payload, cls.code) == []
    assert payload["error"]["details"] == {"where": "catalogue"}
    assert payload["error"]["message"] == cls.message.as_dict()


# --- the checks can fail -------------------------------------------------------------------------


def test_a_planted_duplicate_code_is_caught():
    class Planted(NotFound):
        code = "identity_not_found"  # enrollment.repository.IdentityNotFound's
        message = Message("Ditanam.", "Planted.")

    found = duplicated_codes([*ERRORS, Planted])
    assert list(found) == ["identity_not_found"]
    assert any(name.endswith("Planted") for name in found["identity_not_found"])


def test_a_planted_inherited_code_is_caught():
    class Inherits(Conflict):
        message = Message("Diwarisi.", "Inherited.")

    assert inherited_codes([*ERRORS, Inherits]) == [_name(Inherits)]


def test_english_posing_as_indonesian_is_caught():
    class EnglishOnly(InputError):
        code = "planted_english_only"
        message = Message("The photo is too dark. Try again.", "The photo is too dark. Retry.")

    class SameText(InputError):
        code = "planted_same_text"
        message = Message("Foto terlalu gelap.", "Foto terlalu gelap.")

    class Empty(InputError):
        code = "planted_empty"
        message = Message("", "Empty.")

    assert message_problems(EnglishOnly)
    assert message_problems(SameText)
    assert message_problems(Empty)


def test_a_payload_off_the_house_shape_is_caught():
    assert payload_problems({"code": "x"}, "x")
    assert payload_problems(
        {"error": {"code": "y", "message": {"id": "a", "en": "b"}, "details": {}}}, "x"
    )
    assert payload_problems({"error": {"code": "x", "message": "text", "details": {}}}, "x")
