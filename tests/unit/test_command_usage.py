"""A mistyped `gerbang` command is answered in Indonesian and English with a stable code, exit 2."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys

import pytest

from console.main import build_parser, in_indonesian


@pytest.mark.parametrize(
    ("argv", "indonesian", "english"),
    [
        ([], "argumen berikut wajib diisi: perintah (serve, models,",
         "the following arguments are required: command (serve, models,"),
        (["nosuch"], "perintah 'nosuch' tidak dikenal", "argument command: invalid choice: 'nosuch'"),
        (["serve", "--port", "x"], "nilai 'x' bukan bilangan bulat yang sah", "invalid int value"),
        (["serve", "--bogus"], "argumen tidak dikenal: --bogus", "unrecognized arguments: --bogus"),
        (["gate", "run", "--source", "0", "--passage", "staff_in", "--fps", "0"],
         "argumen --fps: harus lebih dari nol, bukan 0", "must be above zero, got 0"),
        (["sync", "run", "--registry", "http://x", "--batch-size", "0"],
         "argumen --batch-size: harus antara 1 dan 1000", "must be between 1 and 1000"),
        (["audit", "verify", "--anchor", "x"],
         "harus berbentuk SEQ:HASH", "expected SEQ:HASH"),
        (["report", "--hours", "0"],  # one line, not the 744 choices twice
         "argumen --hours: harus antara 1 dan 744.", "must be between 1 and 744."),
    ],
)  # fmt: skip
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


@pytest.mark.parametrize(
    ("argv", "prog"),
    [(["doctor", "--bogus"], "gerbang doctor"), (["sync", "status", "--bogus"], "gerbang sync status"),
     (["--bogus", "doctor"], "gerbang doctor")],
)  # fmt: skip
def test_an_unknown_option_is_reported_by_the_subcommand_it_was_given_to(
    argv: list[str], prog: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: {prog} [-h]")
    assert f"Lihat: {prog} --help" in err and f"See: {prog} --help" in err
    assert "Lihat: gerbang --help" not in err and "serve" not in err  # not the top-level list


def _command_groups(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    """The path of every parser that has subcommands of its own."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.append(prefix)
            for name, child in action.choices.items():
                found += _command_groups(child, (*prefix, name))
    return found


GROUPS = _command_groups(build_parser())


def test_the_walk_finds_the_nested_groups() -> None:
    assert {(), ("models",), ("sync",), ("registry",), ("registry", "sites")} <= set(GROUPS)


@pytest.mark.parametrize("path", GROUPS, ids=lambda p: " ".join(p) or "gerbang")
def test_a_missing_subcommand_is_called_a_command_never_by_its_internal_name(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(list(path))
    err = capsys.readouterr().err
    assert "argumen berikut wajib diisi: perintah (" in err
    assert "the following arguments are required: command (" in err
    assert not re.search(r"\b(action|\w+_command)\b", err), err


def test_output_to_a_closed_pipe_ends_quietly_with_141() -> None:
    reader, writer = os.pipe()
    os.close(reader)  # as `| head -1` does once it has its line
    try:
        run = subprocess.run(
            [sys.executable, "-m", "console.main", "models", "list"],
            stdout=writer, stderr=subprocess.PIPE, text=True, check=False, timeout=120,
        )  # fmt: skip
    finally:
        os.close(writer)
    assert (run.returncode, run.stderr) == (141, "")
