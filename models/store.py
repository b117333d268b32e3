"""Where a pack's files live on disk, and whether each is present and verified.

Pinned files live under the model directory (which may be read-only, e.g. a shared mount).
Converted files live under the cache directory next to a sidecar JSON that records the
digest of the source they came from and of the ONNX file written; loading checks both, so a
cached conversion that was edited, truncated or made from another source is refused. The
sidecar also names the converter and its version: a file made by another converter version
(or by a release before converters had one) is stale, reported missing and converted again.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from models.errors import DigestMismatch, ModelNotReady
from models.manifest import ModelFile, ModelPack, sha256_of, verify_file

FileState = Literal["verified", "missing", "digest_mismatch"]

# Each converter's CONVERTER_VERSION (models/dlib_resnet.py, models/fingerprint/leader_graph.py;
# a test holds them equal), repeated here so that checking the cache never imports onnx or h5py.
CONVERTER_VERSIONS: dict[str, int] = {"dlib_resnet": 1, "leader": 1}


@dataclass(frozen=True)
class FileStatus:
    """What `gerbang models verify` reports for one file."""

    file: ModelFile
    path: Path
    state: FileState
    detail: str = ""


@dataclass(frozen=True)
class ModelStore:
    """The two folders model files come from."""

    model_dir: Path
    cache_dir: Path

    def path_of(self, file: ModelFile) -> Path:
        """Where this file is expected on this machine."""
        base = self.cache_dir if file.conversion else self.model_dir
        return base / file.path

    def sidecar_of(self, file: ModelFile) -> Path:
        """The JSON next to a converted file that pins it."""
        return self.path_of(file).with_suffix(".json")

    def verified_path(self, file: ModelFile) -> Path:
        """The file's path after checking its digest, or the error that explains what to do."""
        path = self.path_of(file)
        if not path.is_file() and file.conversion is None:
            raise ModelNotReady.missing(file.role, str(path), self.where_to_put(file))
        if not path.is_file():
            raise ModelNotReady.missing(file.role, str(path), file.obtainable)
        if file.conversion is None:
            verify_file(path, file.sha256 or "")
            return path
        expected = self._converted_digest(file)
        verify_file(path, expected)
        return path

    def where_to_put(self, file: ModelFile) -> str:
        """How to fix a missing pinned file: the folder it is looked for in, and how to fill it."""
        folder = self.model_dir.resolve()
        return (
            f"the model directory is {folder} (EDGE_MODEL_DIR): set EDGE_MODEL_DIR to the folder"
            f" that holds {file.path}, or {file.obtainable}"
        )

    def _converted_digest(self, file: ModelFile) -> str:
        assert file.conversion is not None
        sidecar = self.sidecar_of(file)
        try:
            record = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelNotReady.missing(file.role, str(sidecar), file.obtainable) from exc
        if not isinstance(record, dict):  # a sidecar someone overwrote: convert again
            raise ModelNotReady.missing(file.role, str(sidecar), file.obtainable)
        stale = _why_stale(record, file.conversion.converter)
        if stale:
            raise ModelNotReady.missing(file.role, str(sidecar), stale)
        if record.get("source_sha256") != file.conversion.source_sha256:
            raise DigestMismatch.for_file_digests(
                str(sidecar), file.conversion.source_sha256, str(record.get("source_sha256"))
            )
        return str(record["onnx_sha256"])

    def status(self, file: ModelFile) -> FileStatus:
        """Present and verified, missing, or wrong: never raises."""
        path = self.path_of(file)
        try:
            self.verified_path(file)
        except ModelNotReady as exc:
            return FileStatus(file, path, "missing", str(exc.details.get("fix", "")))
        except DigestMismatch as exc:
            return FileStatus(file, path, "digest_mismatch", json.dumps(exc.details))
        return FileStatus(file, path, "verified")

    def pack_status(self, pack: ModelPack) -> list[FileStatus]:
        """Status of every file of a pack."""
        return [self.status(f) for f in pack.files]

    def write_sidecar(self, file: ModelFile, onnx_path: Path, converter_version: int) -> None:
        """Pin a freshly converted file by writing its sidecar (atomically)."""
        assert file.conversion is not None
        record = {
            "converter": file.conversion.converter,
            "converter_version": converter_version,
            "source_sha256": file.conversion.source_sha256,
            "onnx_sha256": sha256_of(onnx_path),
        }
        sidecar = self.sidecar_of(file)
        temporary = sidecar.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(record, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(temporary, sidecar)


def _why_stale(record: dict[str, Any], converter: str) -> str:
    """Why a sidecar's conversion is not the one this release makes ("" if it is).
    A sidecar without a version comes from before converters had one: version 0."""
    current = CONVERTER_VERSIONS.get(converter)
    made_by, version = record.get("converter"), record.get("converter_version", 0)
    if current is not None and (made_by, version) == (converter, current):
        return ""
    return (
        f"converted by converter {made_by} v{version}, this release converts with"
        f" {converter} v{current}: run `gerbang models convert`"
    )
