"""Bundles of small stand-in files: what an altered bundle looks like and that each is refused."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from models.bundle import MANIFEST, install_bundle, write_bundle
from models.errors import BundleRejected
from models.manifest import ModelFile, ModelPack
from models.store import ModelStore

CONTENT = b"not really onnx, but pinned all the same"


def _pack() -> ModelPack:
    file = ModelFile(
        role="detector",
        name="det",
        path="zoo/det.onnx",
        sha256=hashlib.sha256(CONTENT).hexdigest(),
        size=len(CONTENT),
        licence="MIT",
        kind="yunet",
    )
    return ModelPack("tiny", "a test pack", "MIT", (file,), embedding_dim=128)


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    (tmp_path / "src" / "zoo").mkdir(parents=True)
    (tmp_path / "src" / "zoo" / "det.onnx").write_bytes(CONTENT)
    out = tmp_path / "b.tar"
    write_bundle(ModelStore(tmp_path / "src", tmp_path / "src-cache"), [_pack()], out)
    return out


def _rewrite(bundle: Path, out: Path, members: dict[str, bytes]) -> Path:
    """A bundle with the given members (name -> bytes), the manifest first if given."""
    with tarfile.open(out, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out


def _manifest(members: dict[str, bytes]) -> bytes:
    files = [
        {"member": n, "sha256": hashlib.sha256(d).hexdigest(), "size": len(d)}
        for n, d in members.items()
    ]
    return json.dumps(
        {"format": "gerbang-model-bundle/1", "packs": ["tiny"], "files": files}
    ).encode()


def _install(bundle: Path, tmp_path: Path) -> Path:
    target = tmp_path / "site"
    install_bundle(bundle, ModelStore(target, tmp_path / "cache"), {"tiny": _pack()})
    return target


def test_round_trip_installs_the_pinned_file(bundle: Path, tmp_path: Path) -> None:
    assert (_install(bundle, tmp_path) / "zoo" / "det.onnx").read_bytes() == CONTENT


def test_a_consistently_rewritten_manifest_is_refused_by_the_pack_pin(tmp_path: Path) -> None:
    evil = {"model/zoo/det.onnx": b"a different model"}
    forged = _rewrite(tmp_path, tmp_path / "f.tar", {MANIFEST: _manifest(evil), **evil})
    with pytest.raises(BundleRejected) as caught:
        _install(forged, tmp_path)
    assert caught.value.details["reason"] == "a file differs from the pack manifest"
    assert not (tmp_path / "site" / "zoo" / "det.onnx").exists()


@pytest.mark.parametrize(
    "members",
    [
        {"model/../../escape.txt": b"x"},
        {"/etc/passwd": b"x"},
        {"elsewhere/file": b"x"},
    ],
)
def test_members_outside_the_two_roots_are_refused(
    tmp_path: Path, members: dict[str, bytes]
) -> None:
    forged = _rewrite(tmp_path, tmp_path / "f.tar", {MANIFEST: _manifest(members), **members})
    with pytest.raises(BundleRejected):
        _install(forged, tmp_path)
    assert not (tmp_path / "escape.txt").exists()


def test_a_missing_member_or_an_extra_one_is_refused(tmp_path: Path) -> None:
    listed = {"model/zoo/det.onnx": CONTENT}
    missing = _rewrite(tmp_path, tmp_path / "m.tar", {MANIFEST: _manifest(listed)})
    with pytest.raises(BundleRejected):
        _install(missing, tmp_path)
    extra = _rewrite(
        tmp_path, tmp_path / "e.tar", {MANIFEST: _manifest(listed), **listed, "model/x": b"x"}
    )
    with pytest.raises(BundleRejected):
        _install(extra, tmp_path)


def test_a_file_that_is_not_a_bundle_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"\x00" * 10 + b"hello" * 300)
    with pytest.raises(BundleRejected):
        _install(junk, tmp_path)
    with pytest.raises(BundleRejected):
        _install(tmp_path / "absent.tar", tmp_path)
