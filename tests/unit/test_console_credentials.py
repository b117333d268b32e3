"""Signing in and typing a new secret at the console: without a terminal, a house error saying
what to set, never a prompt reading an empty input into a traceback."""

from __future__ import annotations

import io

import pytest

from kernel.credentials import (
    CredentialsMissing,
    NoTerminal,
    ask_twice,
    console_credentials,
)


@pytest.fixture(autouse=True)
def no_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Standard input is not a terminal (cron, `</dev/null`, a pipe)."""
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    monkeypatch.delenv("GERBANG_USERNAME", raising=False)
    monkeypatch.delenv("GERBANG_PASSWORD", raising=False)


def test_credentials_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GERBANG_USERNAME", "admin")
    monkeypatch.setenv("GERBANG_PASSWORD", "admin password 1")
    assert console_credentials() == ("admin", "admin password 1")


def test_without_them_and_without_a_terminal_it_names_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GERBANG_USERNAME", "admin")
    with pytest.raises(CredentialsMissing) as missing:
        console_credentials()
    assert missing.value.details == {"missing": "GERBANG_PASSWORD"}
    assert "GERBANG_PASSWORD" in missing.value.message.id
    assert "GERBANG_PASSWORD" in missing.value.message.en


def test_a_new_secret_is_not_asked_for_without_a_terminal() -> None:
    with pytest.raises(NoTerminal) as refused:
        ask_twice("Password")
    assert refused.value.code == "console_no_terminal"
    assert refused.value.details == {"asked": "Password"}


def test_a_new_secret_is_asked_for_in_both_languages(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("getpass.getpass", lambda prompt: asked.append(prompt) or "s3cret words 1")
    assert ask_twice("Password") == "s3cret words 1"
    assert asked == ["Kata sandi / Password: ", "Ulangi / Again: "]
