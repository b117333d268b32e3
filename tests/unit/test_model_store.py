"""Pack manifests, digest checks, converted-file sidecars and download-and-verify."""

from __future__ import annotations

import hashlib
import io
import json
import urllib.error
import zipfile
from pathlib import Path

import pytest

from models.errors import DigestMismatch, ModelLoadError, ModelNotReady
from models.manifest import Conversion, ModelFile, ModelPack, load_packs
from models.obtain import FetchError, converters, ensure_converted, fetch
from models.store import CONVERTER_VERSIONS, ModelStore


def _file(content: bytes, **changes: object) -> ModelFile:
    fields: dict[str, object] = {
        "role": "detector",
        "name": "det",
        "path": "sub/det.onnx",
        "sha256": hashlib.sha256(content).hexdigest(),
        "size": len(content),
        "licence": "MIT",
        "kind": "yunet",
        "url": "https://example.invalid/det.onnx",
    }
    fields.update(changes)
    return ModelFile(**fields)  # type: ignore[arg-type]


def test_builtin_packs_each_have_one_detector_one_recogniser_and_pinned_files() -> None:
    packs = load_packs()
    assert "open-yunet-dlib" in packs
    for pack in packs.values():
        assert pack.file_for("detector")
        assert pack.file_for("recogniser")
        # pinned, converted, or saying why not (and then never fetched nor loaded)
        assert all(f.sha256 or f.conversion or f.unpinned for f in pack.files)
    unpinned = {f.name for p in packs.values() for f in p.files if f.unpinned}
    assert unpinned == {"scrfd_10g", "w600k_r50", "scrfd_10g_bnkps", "glintr100"}
    assert packs["open-yunet-sface"].file_for("recogniser").sha256  # SFace is pinned


def test_a_pack_naming_an_unknown_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "packs").mkdir()
    (tmp_path / "packs" / "site.json").write_text(
        json.dumps(
            {
                "packs": [
                    {
                        "id": "x",
                        "description": "",
                        "licence_summary": "",
                        "embedding_dim": 4,
                        "files": ["nope"],
                    }
                ]
            }
        )
    )
    with pytest.raises(ModelLoadError) as caught:
        load_packs(tmp_path)
    assert "nope" in caught.value.details["reason"]


def test_a_file_whose_digest_differs_is_refused_naming_both_digests(tmp_path: Path) -> None:
    file = _file(b"the real weights")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "det.onnx").write_bytes(b"tampered weights")
    store = ModelStore(tmp_path, tmp_path / "cache")
    with pytest.raises(DigestMismatch) as caught:
        store.verified_path(file)
    assert caught.value.details["expected_sha256"] == file.sha256
    assert caught.value.details["actual_sha256"] == hashlib.sha256(b"tampered weights").hexdigest()
    assert store.status(file).state == "digest_mismatch"


def test_a_missing_file_says_how_to_obtain_it(tmp_path: Path) -> None:
    store = ModelStore(tmp_path, tmp_path / "cache")
    with pytest.raises(ModelNotReady) as caught:
        store.verified_path(_file(b"x"))
    fix = caught.value.details["fix"]
    assert "gerbang models fetch" in fix
    assert "EDGE_MODEL_DIR" in fix and str(tmp_path.resolve()) in fix  # where models go


def _converted(tmp_path: Path) -> tuple[ModelStore, ModelFile]:
    file = _file(
        b"", sha256=None, conversion=Conversion("dlib_resnet", "pkg", "res.dat", "ab" * 32)
    )
    store = ModelStore(tmp_path, tmp_path / "cache")
    store.path_of(file).parent.mkdir(parents=True)
    store.path_of(file).write_bytes(b"converted onnx")
    store.write_sidecar(file, store.path_of(file), CONVERTER_VERSIONS["dlib_resnet"])
    return store, file


def _rewrite_sidecar(store: ModelStore, file: ModelFile, **changes: object) -> None:
    """Edit the sidecar as an older release (or another converter) would have written it."""
    record = json.loads(store.sidecar_of(file).read_text())
    record.update(changes)
    kept = {key: value for key, value in record.items() if value is not None}
    store.sidecar_of(file).write_text(json.dumps(kept))


def test_a_converted_file_is_verified_by_its_sidecar(tmp_path: Path) -> None:
    store, file = _converted(tmp_path)
    assert store.status(file).state == "verified"
    store.path_of(file).write_bytes(b"edited after conversion")
    assert store.status(file).state == "digest_mismatch"


def test_a_conversion_from_another_source_is_refused(tmp_path: Path) -> None:
    store, file = _converted(tmp_path)
    _rewrite_sidecar(store, file, source_sha256="cd" * 32)
    with pytest.raises(DigestMismatch):
        store.verified_path(file)


def test_a_conversion_by_another_converter_version_is_stale_and_says_so(tmp_path: Path) -> None:
    store, file = _converted(tmp_path)
    current = CONVERTER_VERSIONS["dlib_resnet"]
    _rewrite_sidecar(store, file, converter_version=current + 1)
    status = store.status(file)
    assert status.state == "missing"  # so ensure_converted makes it again
    assert status.detail == (
        f"converted by converter dlib_resnet v{current + 1}, this release converts with"
        f" dlib_resnet v{current}: run `gerbang models convert`"
    )
    with pytest.raises(ModelNotReady):
        store.verified_path(file)


def test_a_sidecar_without_a_converter_version_is_stale(tmp_path: Path) -> None:
    store, file = _converted(tmp_path)
    _rewrite_sidecar(store, file, converter_version=None)  # as written before versions
    status = store.status(file)
    assert status.state == "missing" and "dlib_resnet v0, this release" in status.detail


def test_a_conversion_by_another_converter_is_stale(tmp_path: Path) -> None:
    store, file = _converted(tmp_path)
    _rewrite_sidecar(store, file, converter="leader")
    assert store.status(file).state == "missing"
    assert "converted by converter leader v" in store.status(file).detail


def test_a_sidecar_that_is_not_a_record_is_missing_not_a_crash(tmp_path: Path) -> None:
    store, file = _converted(tmp_path)
    store.sidecar_of(file).write_text("[1, 2]")
    assert store.status(file).state == "missing"


def test_each_converter_states_the_version_the_store_expects() -> None:
    assert {name: version for name, (_, version) in converters().items()} == CONVERTER_VERSIONS


def test_a_stale_conversion_is_converted_again_and_replaced_whole(tmp_path: Path) -> None:
    file = load_packs()["open-yunet-dlib"].file_for("recogniser")
    assert file.conversion is not None and file.conversion.converter == "dlib_resnet"
    store = ModelStore(tmp_path / "models", tmp_path / "cache")
    pack = ModelPack("one", "", "", (file,), 128)
    assert ensure_converted(store, pack) == [store.path_of(file)]
    fresh = store.path_of(file).read_bytes()
    assert store.status(file).state == "verified" and ensure_converted(store, pack) == []

    store.path_of(file).write_bytes(b"made by the old converter")
    store.write_sidecar(file, store.path_of(file), 0)
    with store.path_of(file).open("rb") as loading:  # a reader that opened the stale file
        assert ensure_converted(store, pack) == [store.path_of(file)]
        assert loading.read() == b"made by the old converter"  # replaced, not rewritten in place
    assert store.path_of(file).read_bytes() == fresh
    assert store.status(file).state == "verified"
    recorded = json.loads(store.sidecar_of(file).read_text())
    assert recorded["converter_version"] == CONVERTER_VERSIONS["dlib_resnet"]
    assert sorted(p.name for p in store.path_of(file).parent.iterdir()) == [
        "dlib_resnet_v1.json",
        "dlib_resnet_v1.onnx",
    ]  # no temporary file left behind


class _Response(io.BytesIO):
    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()


def test_fetch_places_a_verified_download(tmp_path: Path) -> None:
    file = _file(b"weights")
    store = ModelStore(tmp_path, tmp_path / "cache")
    path = fetch(store, file, opener=lambda url, timeout: _Response(b"weights"))
    assert path.read_bytes() == b"weights"
    assert store.status(file).state == "verified"


def test_fetch_extracts_a_zip_member(tmp_path: Path) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("buffalo_sc/det.onnx", b"weights")
        zf.writestr("buffalo_sc/other.onnx", b"other")
    file = _file(b"weights", archive_member="det.onnx")
    path = fetch(
        ModelStore(tmp_path, tmp_path),
        file,
        opener=lambda u, timeout: _Response(archive.getvalue()),
    )
    assert path.read_bytes() == b"weights"


def test_fetch_refuses_a_wrong_download_and_leaves_nothing_behind(tmp_path: Path) -> None:
    file = _file(b"weights")
    store = ModelStore(tmp_path, tmp_path / "cache")
    with pytest.raises(DigestMismatch):
        fetch(store, file, opener=lambda url, timeout: _Response(b"a captive portal page"))
    assert not store.path_of(file).exists()
    assert list(store.path_of(file).parent.iterdir()) == []


def test_fetch_offline_says_which_file_to_place_where(tmp_path: Path) -> None:
    def offline(url: str, timeout: float) -> _Response:
        raise urllib.error.URLError("no route to host")

    file = _file(b"weights")
    with pytest.raises(FetchError) as caught:
        fetch(ModelStore(tmp_path, tmp_path), file, opener=offline)
    assert file.sha256 in str(caught.value)
    assert "sub/det.onnx" in str(caught.value)
