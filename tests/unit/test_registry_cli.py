"""Every `gerbang registry ...` command the README shows exists and prints its help."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from console.main import build_parser, main

README = Path(__file__).resolve().parents[2] / "README.md"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next(
        (a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {}
    )


def _command_path(words: list[str]) -> tuple[str, ...]:
    """The leading words that name (sub)commands, following the parser tree."""
    parser, path = build_parser(), []
    for word in words:
        children = _subcommands(parser)
        if word not in children:
            break
        parser = children[word]
        path.append(word)
    return tuple(path)


DOCUMENTED = sorted(
    {
        _command_path(line.split()[1:])
        for line in (
            m.group(0) for m in re.finditer(r"gerbang registry[^\n`]*", README.read_text())
        )
    }
)


def test_the_readme_shows_the_registry_commands() -> None:
    for expected in (("registry", "serve"), ("registry", "sites", "add"),
                     ("registry", "sites", "set-key"), ("registry", "sites", "revoke-key"),
                     ("registry", "accounts", "add"), ("registry", "report"),
                     ("registry", "audit", "verify")):  # fmt: skip
        assert expected in DOCUMENTED


@pytest.mark.parametrize("path", DOCUMENTED, ids=" ".join)
def test_each_documented_registry_command_prints_its_help(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main([*path, "--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: gerbang {' '.join(path)}")


def test_no_readme_line_names_a_registry_command_that_does_not_exist() -> None:
    known = set(_subcommands(_subcommands(build_parser())["registry"]))
    for match in re.finditer(r"gerbang registry (\S+)", README.read_text()):
        word = match.group(1).strip("`")
        assert word in known or word.startswith("..."), match.group(0)
