"""A fresh site with an empty model folder fetches its pack at first start: the real model files,
served over HTTP from 127.0.0.1 (a local mirror stands in for the pinned addresses, which this
machine cannot reach), each checked against its sha256, with `/ready` showing the progress; and
without a route it says which file to place where."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from models.manifest import BUILTIN_PACKS, sha256_of
from tests.integration.conftest import make_site_client

PACK = "open-yunet-dlib"
gate = threading.Event()  # the mirror holds its answers until the test has seen the progress


class _Mirror(SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        gate.wait(30)
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def mirror(model_dir: Path) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Mirror, directory=str(model_dir)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    gate.set()
    server.shutdown()


def _pack_from(base_url: str, folder: Path) -> list[str]:
    """The default pack's downloadable files, re-pinned (same sha256) to addresses under base_url."""
    builtin = json.loads((BUILTIN_PACKS / "builtin.json").read_text())
    pack = next(p for p in builtin["packs"] if p["id"] == PACK)
    files = [f for f in builtin["files"] if f["name"] in pack["files"] and "conversion" not in f]
    for f in files:
        f["url"] = f"{base_url}/{f['path']}"
        f.pop("archive_member", None)
    (folder / "packs").mkdir(parents=True)
    (folder / "packs" / "mirror.json").write_text(json.dumps({"files": files, "packs": [pack]}))
    return [f["path"] for f in files]


def test_a_fresh_site_fetches_its_missing_model_files_and_becomes_ready(
    mirror: str, model_dir: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "models"
    paths = _pack_from(mirror, empty)
    gate.clear()
    for site in make_site_client(empty, tmp_path / "data"):
        waiting = site.client.get("/ready")
        assert waiting.status_code == 503
        problem = waiting.json()["problem"]
        assert problem["code"] == "models_fetching"
        assert (
            len(problem["details"]["files"]) == len(paths) and problem["details"]["files_done"] == 0
        )
        gate.set()
        site.site.model_fetch.wait(60)
        ready = site.client.get("/ready")
        assert ready.status_code == 200, ready.text
        for path in paths:  # in place, and the very bytes pinned
            assert sha256_of(empty / path) == sha256_of(model_dir / path)


def test_without_a_route_the_site_says_which_file_to_place_where(tmp_path: Path) -> None:
    empty = tmp_path / "models"
    _pack_from("http://127.0.0.1:9", empty)  # the discard port: nothing answers
    gate.set()
    for site in make_site_client(empty, tmp_path / "data"):
        site.site.model_fetch.wait(60)
        answer = site.client.get("/ready")
        assert answer.status_code == 503
        problem = answer.json()["problem"]
        assert problem["code"] == "model_not_ready"
        fix = problem["details"]["fix"]
        assert "<EDGE_MODEL_DIR>/opencv_zoo/face_detection_yunet_2026may.onnx" in fix
        assert "sha256sum" in fix and "gerbang models install" in fix
        assert not (empty / "opencv_zoo").exists() or not any((empty / "opencv_zoo").iterdir())


def test_a_site_told_never_to_fetch_reaches_out_to_nobody(tmp_path: Path) -> None:
    empty = tmp_path / "models"
    _pack_from("http://127.0.0.1:9", empty)
    for site in make_site_client(empty, tmp_path / "data", fetch_models=False):
        assert not site.site.model_fetch.running
        problem = site.client.get("/ready").json()["problem"]
        assert problem["code"] == "model_not_ready" and "fetch_failed" not in problem["details"]
