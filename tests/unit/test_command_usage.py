"""A mistyped `gerbang` command is answered in Indonesian and English with a stable code, exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from console.main import build_parser, in_indonesian


@pytest.mark.parametrize(
    ("argv", "indonesian", "english"),
    [
        ([], "argumen berikut wajib diisi: command", "the following arguments are required"),
        (["nosuch"], "pilihan 'nosuch' tidak dikenal", "invalid choice: 'nosuch'"),
        (["serve", "--port", "x"], "nilai 'x' bukan bilangan bulat yang sah", "invalid int value"),
        (["serve", "--bogus"], "argumen tidak dikenal: --bogus", "unrecognized arguments: --bogus"),
    ],
)
def test_usage_errors_say_it_in_both_languages(
    argv: list[str], indonesian: str, english: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "error [usage_invalid]: " in err and indonesian in err and english in err


def test_a_subcommand_names_its_own_help() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "console.main", "models", "bogus"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 2
    assert (
        "Lihat: gerbang models --help" in run.stderr and "See: gerbang models --help" in run.stderr
    )
    assert "Traceback" not in run.stderr


def test_an_uncommon_message_is_still_said_in_indonesian() -> None:
    assert in_indonesian("argument -x: not allowed with argument -y") == (
        "perintah tidak dapat dibaca (argument -x: not allowed with argument -y)"
    )
