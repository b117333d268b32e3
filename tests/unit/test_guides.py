"""The guides in docs/: every image they show exists, is small, and is written by a browser test
(tests/e2e/guide_shots.save_for_guide), so the screenshots follow the pages; no image is left
unreferenced; every `gerbang ...` command they give is a real command, and every backup or
restore they show names its key (without one it is refused); the README links them."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from console.main import build_parser

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"
GUIDES = ("operator-guide.id.md", "admin-guide.md", "admin-guide.id.md")
IMAGE = re.compile(r"!\[[^\]]*\]\((img/[^)]+)\)")
MAX_BYTES = 150_000


def _shots_taken_by_tests() -> set[str]:
    """Names passed to save_for_guide anywhere in the browser tests."""
    calls = re.compile(r'save_for_guide\(\s*\w+\s*,\s*"([^"]+)"')
    return {
        name for path in (ROOT / "tests" / "e2e").glob("test_*.py")
        for name in calls.findall(path.read_text(encoding="utf-8"))
    }  # fmt: skip


def _referenced() -> dict[str, list[str]]:
    return {g: IMAGE.findall((DOCS / g).read_text(encoding="utf-8")) for g in GUIDES}


def test_every_image_a_guide_shows_exists_is_small_and_is_taken_by_a_browser_test() -> None:
    taken = _shots_taken_by_tests()
    images = _referenced()
    assert len(images["operator-guide.id.md"]) >= 8
    for guide, paths in images.items():
        for relative in paths:
            path = DOCS / relative
            assert path.is_file(), f"{guide}: {relative} is missing (run the browser tests)"
            assert path.stat().st_size < MAX_BYTES, f"{relative}: {path.stat().st_size} bytes"
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", relative
            assert path.stem in taken, f"{relative} is not written by any save_for_guide call"


def test_no_image_in_docs_img_is_left_unreferenced() -> None:
    shown = {p for paths in _referenced().values() for p in paths}
    assert {f"img/{p.name}" for p in (DOCS / "img").glob("*.png")} <= shown


def _command_paths(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> set[tuple[str, ...]]:
    paths = {prefix}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                paths |= _command_paths(child, (*prefix, name))
    return paths


@pytest.mark.parametrize("guide", GUIDES)
def test_every_gerbang_command_in_a_guide_exists(guide: str) -> None:
    known = _command_paths(build_parser())
    text = (DOCS / guide).read_text(encoding="utf-8")
    # In the guides' code (blocks without their comments, and `inline` spans): in Indonesian
    # prose "gerbang" is also the word for gate.
    blocks = re.findall(r"```\w*\n(.*?)```", text, flags=re.S)
    code = [line.split(" #")[0] for block in blocks for line in block.splitlines()]
    code += re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    commands = [
        m for line in code for m in re.findall(r"(?:^|[\s/])gerbang((?: [a-z][a-z-]+)+)", line)
    ]
    assert commands, guide
    for words in commands:
        parts = tuple(words.split())
        # the longest prefix that is a command must be a leaf's path or lead to a real option
        longest = max((parts[:n] for n in range(len(parts) + 1) if parts[:n] in known), key=len)
        assert longest, (guide, words)
        leaf = not any(len(p) > len(longest) and p[: len(longest)] == longest for p in known)
        assert leaf, f"{guide}: 'gerbang{words}' stops at a command group"


# How a backup command names its key (or, for `backup`, says it means to write none).
KEY_OPTIONS = ("--key-file", "EDGE_BACKUP__KEY_FILE=", "--passphrase-stdin", "--ask-passphrase",
               "--insecure-plain")  # fmt: skip


@pytest.mark.parametrize("document", [*(f"docs/{g}" for g in GUIDES), "README.md"])
def test_every_backup_or_restore_a_document_shows_names_its_key(document: str) -> None:
    text = (ROOT / document).read_text(encoding="utf-8")
    blocks = re.findall(r"```\w*\n(.*?)```", text, flags=re.S)
    shown = [
        line
        for block in blocks
        for line in block.splitlines()
        if re.search(r"gerbang (?:registry )?(?:backup|restore|recover) ", line.split(" #")[0])
    ]
    for line in shown:
        assert any(option in line for option in KEY_OPTIONS), (
            f"{document}: {line.strip()!r} names no key (it would be refused)"
        )


def test_the_readme_links_every_guide() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for guide in GUIDES:
        assert f"(docs/{guide})" in readme, guide
        assert (DOCS / guide).is_file()
