"""Getting a pack's files onto the machine: download-and-verify, or convert from a PyPI package.

Nothing is ever written to its final name before its digest checks out, so an interrupted
download or a wrong file never looks like a good model.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from models.errors import DigestMismatch
from models.manifest import ModelFile, ModelPack, sha256_of
from models.store import ModelStore

DOWNLOAD_TIMEOUT_S = 60


class FetchError(Exception):
    """A file could not be downloaded; the message says what to place where instead, `reason`
    only why (to report once when several files are left)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def converters() -> dict[str, tuple[Callable[[Path, Path], None], int]]:
    """Each converter by name: its function and its version (recorded in the sidecar)."""
    # Imported late: only `convert` needs them, and they import onnx and h5py.
    from models import dlib_resnet
    from models.fingerprint import leader_graph

    return {
        "dlib_resnet": (dlib_resnet.convert_dlib_resnet, dlib_resnet.CONVERTER_VERSION),
        "leader": (leader_graph.convert_leader, leader_graph.CONVERTER_VERSION),
    }


def package_resource(package: str, resource: str) -> Path:
    """Where an installed package keeps a file, found without importing the package (pyfing's
    __init__ imports keras, which a site does not have)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the Python package {package} is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / resource


def convert(store: ModelStore, file: ModelFile) -> Path:
    """Convert a packaged source file to ONNX in the cache, verify the source, pin the result."""
    assert file.conversion is not None
    spec = file.conversion
    source = package_resource(spec.package, spec.resource)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: the Python package {spec.package} lacks this file")
    actual = sha256_of(source)
    if actual != spec.source_sha256:
        raise DigestMismatch.for_file_digests(str(source), spec.source_sha256, actual)
    target = store.path_of(file)
    target.parent.mkdir(parents=True, exist_ok=True)
    converter, version = converters()[spec.converter]
    converter(source, target)  # atomically: a stale file stays whole until replaced
    store.write_sidecar(file, target, version)
    store.verified_path(file)
    return target


def fetch(store: ModelStore, file: ModelFile, opener: Callable[..., Any] | None = None) -> Path:
    """Download a file (or a zip holding it), verify its sha256, then move it into place.
    A file without a pinned sha256 is refused before anything is downloaded."""
    if file.unpinned or (file.url and not file.sha256):
        reason = "not pinned by sha256, so never trusted"
        raise FetchError(f"{reason}; {file.obtainable}", reason)
    if not file.url or not file.sha256:
        reason = "no download address is known"
        raise FetchError(f"{reason}; {file.obtainable}", reason)
    target = store.path_of(file)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        download = Path(scratch) / "download"
        _download(file, download, opener or urllib.request.urlopen)
        candidate = _extract(download, file.archive_member, Path(scratch))
        actual = sha256_of(candidate)
        if actual != file.sha256:
            raise DigestMismatch.for_file_digests(file.url, file.sha256, actual)
        os.replace(candidate, target)
    return target


def _download(file: ModelFile, destination: Path, opener: Callable[..., Any]) -> None:
    try:
        with (
            opener(file.url, timeout=DOWNLOAD_TIMEOUT_S) as response,
            destination.open("wb") as out,
        ):
            shutil.copyfileobj(response, out, 1 << 20)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise FetchError(offline_instructions(file, exc), str(exc)) from exc


def _extract(download: Path, member: str | None, scratch: Path) -> Path:
    if member is None:
        return download
    with zipfile.ZipFile(download) as archive:
        names = [n for n in archive.namelist() if n == member or n.endswith("/" + member)]
        if not names:
            reason = f"the archive has no member {member}"
            raise FetchError(reason, reason)
        extracted = archive.extract(names[0], scratch / "unzipped")
    return Path(extracted)


def offline_instructions(file: ModelFile, reason: object) -> str:
    """Exactly which file to place where, for a machine with no route to the download."""
    return f"could not download {file.url}: {str(reason).rstrip('.')}. {placement(file)}"


def placement(file: ModelFile) -> str:
    """One sentence: the file's address, its sha256 and where it goes, to place it by hand."""
    if not file.url or not file.sha256:
        return f"{file.name}: {file.obtainable}."
    inside = f" (the file {file.archive_member} inside that zip)" if file.archive_member else ""
    return (
        f"On a machine with internet, download {file.url}{inside}, check `sha256sum` prints"
        f" {file.sha256}, and place it at <EDGE_MODEL_DIR>/{file.path}."
    )


def ensure_converted(store: ModelStore, pack: ModelPack) -> list[Path]:
    """Convert the pack's converted files that are missing (first start on a fresh machine) or
    stale (made by another version of their converter)."""
    return [
        convert(store, f)
        for f in pack.files
        if f.conversion is not None and store.status(f).state == "missing"
    ]
