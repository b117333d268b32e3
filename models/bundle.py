"""One file that carries model packs to a site without internet, checked file by file on arrival.

A bundle is a plain tar (ONNX weights hardly compress). Its first member, `gerbang-models.json`,
names the packs and pins every other member by sha256 and size. Pinned files travel as
`model/<path>` (installed under the model directory); converted files and their sidecars as
`cache/<path>` (installed under the cache directory). Installing stages every member next to its
destination and checks it before anything is moved into place, so a damaged or altered bundle
installs nothing. Pinned files are also checked against the installer's own pack manifests,
which a rewritten bundle manifest cannot change.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from models.errors import BundleRejected
from models.manifest import ModelFile, ModelPack, sha256_of
from models.store import ModelStore

MANIFEST = "gerbang-models.json"
FORMAT = "gerbang-model-bundle/1"
ROOTS = ("model", "cache")


@dataclass(frozen=True)
class BundleEntry:
    """One member of a bundle and the file it was made from."""

    member: str  # "model/<path>" or "cache/<path>"
    source: Path
    sha256: str
    size: int


def _entries_of(store: ModelStore, file: ModelFile) -> list[BundleEntry]:
    """The members one pack file needs: the file itself, plus its sidecar if converted."""
    path = store.verified_path(file)  # refuses a missing or altered file before bundling it
    if file.conversion is None:
        return [BundleEntry(f"model/{file.path}", path, sha256_of(path), path.stat().st_size)]
    sidecar = store.sidecar_of(file)
    sidecar_member = PurePosixPath(file.path).with_suffix(".json")
    return [
        BundleEntry(f"cache/{file.path}", path, sha256_of(path), path.stat().st_size),
        BundleEntry(f"cache/{sidecar_member}", sidecar, sha256_of(sidecar), sidecar.stat().st_size),
    ]


def plan_bundle(store: ModelStore, packs: Iterable[ModelPack]) -> list[BundleEntry]:
    """Every member the packs need, once each, in a stable order."""
    entries: dict[str, BundleEntry] = {}
    for pack in packs:
        for file in pack.files:
            for entry in _entries_of(store, file):
                entries.setdefault(entry.member, entry)
    return sorted(entries.values(), key=lambda e: e.member)


def write_bundle(store: ModelStore, packs: list[ModelPack], out: Path) -> list[BundleEntry]:
    """Write the packs' files and their manifest to `out` (atomically); return what was written."""
    entries = plan_bundle(store, packs)
    manifest = {
        "format": FORMAT,
        "packs": [pack.id for pack in packs],
        "files": [{"member": e.member, "sha256": e.sha256, "size": e.size} for e in entries],
    }
    encoded = json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(out.name + ".tmp")
    with tarfile.open(temporary, "w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(encoded)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(encoded))
        for entry in entries:
            member = tarfile.TarInfo(entry.member)
            member.size = entry.size
            member.mode = 0o644
            with entry.source.open("rb") as handle:
                tar.addfile(member, handle)
    os.replace(temporary, out)
    return entries


def _safe_member(bundle: str, name: str) -> tuple[str, PurePosixPath]:
    """Split `model/a/b.onnx` into its root and relative path, refusing anything that escapes."""
    path = PurePosixPath(name)
    parts = path.parts
    if path.is_absolute() or len(parts) < 2 or parts[0] not in ROOTS or ".." in parts:
        raise BundleRejected.because(bundle, "a member's name is not allowed", member=name)
    return parts[0], PurePosixPath(*parts[1:])


def _read_manifest(bundle: str, tar: tarfile.TarFile) -> dict[str, Any]:
    first = tar.next()
    if first is None or first.name != MANIFEST or not first.isfile():
        raise BundleRejected.because(bundle, f"the first member is not {MANIFEST}")
    handle = tar.extractfile(first)
    assert handle is not None
    try:
        manifest = json.loads(handle.read())
        if manifest["format"] != FORMAT or not isinstance(manifest["files"], list):
            raise ValueError(f"unknown format {manifest.get('format')!r}")
        for item in manifest["files"]:
            _safe_member(bundle, str(item["member"]))
            int(item["size"]), str(item["sha256"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleRejected.because(bundle, f"the manifest is unreadable: {exc}") from exc
    return dict(manifest)


def _copy_hashing(source: IO[bytes], target: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with target.open("wb") as out:
        while block := source.read(1 << 20):
            digest.update(block)
            size += len(block)
            out.write(block)
    return digest.hexdigest(), size


def _pinned_digests(packs: dict[str, ModelPack], pack_ids: list[str]) -> dict[str, str]:
    """`model/<path>` -> the sha256 this installation's own manifests pin it to."""
    pins: dict[str, str] = {}
    for pack_id in pack_ids:
        for file in packs[pack_id].files if pack_id in packs else ():
            if file.conversion is None and file.sha256:
                pins[f"model/{file.path}"] = file.sha256
    return pins


@dataclass(frozen=True)
class Installed:
    """What `install_bundle` put where."""

    packs: list[str]
    paths: list[Path]


def install_bundle(bundle: Path, store: ModelStore, known_packs: dict[str, ModelPack]) -> Installed:
    """Check every member of the bundle, then move them all into the store's folders."""
    name = str(bundle)
    roots = {"model": store.model_dir, "cache": store.cache_dir}
    for folder in roots.values():
        folder.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(dir=roots["model"], prefix=".bundle-") as model_stage,
        tempfile.TemporaryDirectory(dir=roots["cache"], prefix=".bundle-") as cache_stage,
    ):
        stages = {"model": Path(model_stage), "cache": Path(cache_stage)}
        try:
            with tarfile.open(bundle, "r:") as tar:
                manifest = _read_manifest(name, tar)
                staged = _stage_members(name, tar, manifest, stages, known_packs)
        except (tarfile.TarError, EOFError) as exc:
            raise BundleRejected.because(name, f"not a readable bundle: {exc}") from exc
        except FileNotFoundError as exc:
            raise BundleRejected.missing(name) from exc
        paths = []
        for member, staged_path in staged.items():
            root, relative = _safe_member(name, member)
            target = roots[root] / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(staged_path, target)
            paths.append(target)
    return Installed([str(p) for p in manifest.get("packs", [])], paths)


def _stage_members(
    bundle: str,
    tar: tarfile.TarFile,
    manifest: dict[str, Any],
    stages: dict[str, Path],
    known_packs: dict[str, ModelPack],
) -> dict[str, Path]:
    """Write each member to its staging folder and check it; return member -> staged path."""
    expected = {str(i["member"]): (str(i["sha256"]), int(i["size"])) for i in manifest["files"]}
    pins = _pinned_digests(known_packs, [str(p) for p in manifest.get("packs", [])])
    staged: dict[str, Path] = {}
    while (info := tar.next()) is not None:  # after the manifest, which was read first
        if info.name not in expected or info.name in staged or not info.isfile():
            raise BundleRejected.because(bundle, "an unexpected member", member=info.name)
        root, _ = _safe_member(bundle, info.name)
        handle = tar.extractfile(info)
        assert handle is not None
        target = stages[root] / f"{len(staged):05d}"
        digest, size = _copy_hashing(handle, target)
        want_digest, want_size = expected[info.name]
        if (digest, size) != (want_digest, want_size):
            raise BundleRejected.because(
                bundle, "a file's digest differs", member=info.name, expected_sha256=want_digest
            )
        if info.name in pins and pins[info.name] != digest:
            raise BundleRejected.because(
                bundle, "a file differs from the pack manifest", member=info.name
            )
        staged[info.name] = target
    missing = sorted(set(expected) - set(staged))
    if missing:
        raise BundleRejected.because(bundle, "members are missing", missing=missing)
    return staged
