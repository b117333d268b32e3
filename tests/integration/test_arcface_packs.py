"""An ArcFace-class pack end to end with the real commands, as an operator runs them: `gerbang
models fetch` (from a zip served on 127.0.0.1, digest checked), `models verify`, `calibrate`,
`eval`, then a site enrolled on one pack `reembed`s onto the other. The recognisers are small
generated ONNX graphs of the ArcFace input kind (the real packs cannot be downloaded here); the
detector (YuNet) and liveness (MiniFASNet) are the real ones. An unpinned file is refused before anything is downloaded."""

from __future__ import annotations

import csv
import functools
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import dense_recogniser

pytestmark = [pytest.mark.model, pytest.mark.slow]

PEOPLE = ["facerec-obama", "deepface-img26", "deepface-img13", "facerec-rose_leslie"]


def gerbang(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console.main", *args],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A zip of two generated recognisers on a local HTTP server; their sha256 by member."""
    root = tmp_path_factory.mktemp("www")
    digests = {}
    with zipfile.ZipFile(root / "arcface-test.zip", "w") as archive:
        for seed, member in enumerate(("rec_a.onnx", "rec_b.onnx")):
            path = dense_recogniser(root / member, size=112, dim=32, seed=seed)
            archive.write(path, member)
            digests[member] = hashlib.sha256(path.read_bytes()).hexdigest()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/arcface-test.zip", digests
    finally:
        server.shutdown()
        server.server_close()


def _manifest(url: str, digests: dict[str, str]) -> dict[str, object]:
    def file(name: str, member: str, sha: str | None) -> dict[str, object]:
        entry: dict[str, object] = {
            "name": name, "role": "recogniser", "kind": "arcface112", "path": f"test/{member}",
            "sha256": sha, "size": None, "licence": "generated for the test", "url": url,
            "archive_member": member,
        }  # fmt: skip
        if sha is None:
            entry["unpinned"] = "no digest published"
        return entry

    def pack(pack_id: str, recogniser: str) -> dict[str, object]:
        return {"id": pack_id, "description": "test", "licence_summary": "test",
                "embedding_dim": 32,
                "files": ["yunet_2026may", recogniser, "minifasnet_v2", "minifasnet_v1se"]}  # fmt: skip

    return {
        "files": [
            file("test_rec_a", "rec_a.onnx", digests["rec_a.onnx"]),
            file("test_rec_b", "rec_b.onnx", digests["rec_b.onnx"]),
            file("test_rec_unpinned", "rec_b.onnx", None),
        ],
        "packs": [
            pack("test-arc-a", "test_rec_a"),
            pack("test-arc-b", "test_rec_b"),
            pack("test-unpinned", "test_rec_unpinned"),
        ],
    }


def _photos(dev_faces: Path, root: Path) -> Path:
    """A small folder-per-identity set from the dev photos."""
    for person in PEOPLE:
        (root / person).mkdir(parents=True)
        for photo in sorted((dev_faces / person).glob("*.jpg"))[:4]:
            shutil.copy(photo, root / person / photo.name)
    return root


def _export(photos: Path, path: Path) -> Path:
    """A prison-database export of three inmates (gerbang import's CSV)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(
            ["row_id", "role", "full_name", "birth_date", "sex", "registration_number", "photos"]
        )
        for number, person in enumerate(PEOPLE[:3], 1):
            files = ";".join(f"{person}/{p.name}" for p in sorted((photos / person).glob("*"))[:2])
            out.writerow([f"r{number}", "inmate", f"Orang {number}", f"1980-01-0{number}", "M",
                          f"B.I-{number}/2024", files])  # fmt: skip
    return path


def test_fetch_verify_calibrate_eval_and_reembed_onto_an_arcface_pack(
    served: tuple[str, dict[str, str]], model_dir: Path, dev_faces: Path, tmp_path: Path
) -> None:
    url, digests = served
    models = tmp_path / "models"
    (models / "opencv_zoo").mkdir(parents=True)
    yunet = "opencv_zoo/face_detection_yunet_2026may.onnx"
    (models / yunet).symlink_to(model_dir / yunet)
    (models / "antispoof").symlink_to(model_dir / "antispoof")  # the real detector, liveness
    (models / "packs").mkdir()
    (models / "packs" / "test.json").write_text(json.dumps(_manifest(url, digests)))
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_")}
    env |= {"EDGE_MODEL_DIR": str(models), "EDGE_DATA_DIR": str(data), "EDGE_PACK": "test-arc-a",
            "EDGE_MATCH__OPEN_SET_FALLBACK": "fmr-points"}  # fmt: skip

    refused = gerbang(env, "models", "fetch", "--pack", "test-unpinned")
    assert refused.returncode == 1 and "not pinned by sha256" in refused.stdout, refused.stdout
    assert not (models / "test" / "rec_b.onnx").exists()  # nothing was written
    for pack in ("test-arc-a", "test-arc-b"):
        fetched = gerbang(env, "models", "fetch", "--pack", pack)
        assert fetched.returncode == 0, fetched.stdout + fetched.stderr
        verified = gerbang(env, "models", "verify", "--pack", pack)
        assert verified.returncode == 0, verified.stdout + verified.stderr
    # a tampered copy no longer verifies
    tampered = models / "test" / "rec_a.onnx"
    original = tampered.read_bytes()
    tampered.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    assert gerbang(env, "models", "verify", "--pack", "test-arc-a").returncode == 1
    tampered.write_bytes(original)

    photos = _photos(dev_faces, tmp_path / "photos")
    for pack in ("test-arc-a", "test-arc-b"):
        calibrated = gerbang(env, "calibrate", str(photos), "--pack", pack, "--workers", "1")
        assert calibrated.returncode == 0, calibrated.stdout + calibrated.stderr
        assert (data / "calibrations" / f"{pack}.json").is_file()
    evaluated = gerbang(
        env,
        "eval",
        str(photos),
        "--pack",
        "test-arc-b",
        "--workers",
        "1",
        "--plot",
        str(tmp_path / "det.png"),
    )
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr

    export = _export(photos, tmp_path / "export.csv")
    imported = gerbang(env, "import", str(export), "--photos", str(photos), "--officer", "t")
    assert imported.returncode == 0, imported.stdout + imported.stderr
    moved = gerbang(env, "reembed", "--pack", "test-arc-b", "--officer", "t")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert "the site now uses test-arc-b" in moved.stdout
    again = gerbang(env, "reembed", "--pack", "test-arc-b", "--officer", "t")
    assert again.returncode == 0 and "0 embedded" in again.stdout, again.stdout
