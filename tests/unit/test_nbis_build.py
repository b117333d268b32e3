"""The service builds NBIS on first start when it can, and says what to do when it cannot."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edge.nbis_build import NbisBuild


@pytest.fixture(autouse=True)
def no_library_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GERBANG_NBIS_LIB", raising=False)


def _script(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "build_nbis.sh"
    script.write_text(f"set -eu\n{body}\n")
    return script


def test_without_a_compiler_it_names_the_fix_and_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    build = NbisBuild(tmp_path / "lib.so", _script(tmp_path, "exit 0"), tmp_path / "nbis")
    build.start()
    assert build.problem is not None and build.problem.code == "fingerprint_extractor_missing"
    assert "cc" in build.problem.details["reason"]
    assert (
        "gcc" in build.problem.details["fix"]
        and str(tmp_path / "nbis") in build.problem.details["fix"]
    )


def test_a_failed_build_is_reported_with_the_end_of_its_log(tmp_path: Path) -> None:
    marker = tmp_path / "go"
    script = _script(
        tmp_path, f"while [ ! -e {marker} ]; do sleep 0.05; done\necho 'no network' >&2\nexit 1"
    )
    build = NbisBuild(tmp_path / "lib.so", script, tmp_path / "nbis")
    build.start()
    assert build.problem is not None and build.problem.code == "fingerprint_extractor_building"
    marker.touch()
    build.wait(30)
    assert build.problem.code == "fingerprint_extractor_missing"
    assert "no network" in build.problem.details["reason"]
    assert "internet" in build.problem.details["fix"]


def test_a_successful_build_makes_fingerprints_available(
    tmp_path: Path, nbis_library: Path
) -> None:
    library = tmp_path / "nbis" / "lib" / "libafis_lfs.so"
    script = _script(tmp_path, f'mkdir -p {library.parent}\ncp {nbis_library} {library}\necho "$1"')
    build = NbisBuild(library, script, tmp_path / "nbis")
    build.start()
    build.wait(30)
    assert build.problem is None
    assert (tmp_path / "nbis" / ".build.lock").exists() and os.access(library, os.R_OK)
