"""`--help` works for every command and subcommand: a walk of the whole parser tree."""

from __future__ import annotations

import argparse

import pytest

from console.main import build_parser, main


def _command_paths(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    """Every path of subcommand names from the root, the root included."""
    paths = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                paths += _command_paths(child, (*prefix, name))
    return paths


PATHS = _command_paths(build_parser())


def test_the_walk_finds_the_documented_commands() -> None:
    for documented in (("gallery", "check"), ("gallery", "rebuild"), ("reembed",), ("serve",),
                       ("registry", "serve"), ("gate", "run"), ("operators", "add")):  # fmt: skip
        assert documented in PATHS
    assert len(PATHS) > 30


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "gerbang")
def test_help_prints_and_exits_zero(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main([*path, "--help"])
    assert done.value.code == 0
    printed = capsys.readouterr().out
    assert printed.startswith("usage: gerbang") and len(printed) > 40
