"""A fresh site with an empty model folder fetches its pack at first start: the real model files,
served over HTTP from 127.0.0.1 (a local mirror stands in for the pinned addresses, which this
machine cannot reach), each checked against its sha256, with `/ready` showing the progress; and
without a route it says that the fetch failed and which file to place where, each file once
(in `/ready` and in `gerbang gate run`)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from models.manifest import BUILTIN_PACKS, load_packs, sha256_of
from tests.integration.conftest import make_site_client
from tests.integration.test_admin_commands import gerbang

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
    paths = _pack_from("http://127.0.0.1:9", empty)  # the discard port: nothing answers
    gate.set()
    for site in make_site_client(empty, tmp_path / "data"):
        site.site.model_fetch.wait(60)
        answer = site.client.get("/ready")
        assert answer.status_code == 503
        problem = answer.json()["problem"]
        assert problem["code"] == "models_fetch_failed"  # failed, not "being downloaded"
        assert problem["message"]["id"] and problem["message"]["en"]
        assert not (empty / "opencv_zoo").exists() or not any((empty / "opencv_zoo").iterdir())
        _each_file_once(problem["details"], paths)


def _each_file_once(details: dict[str, Any], paths: list[str]) -> None:
    """The fix names every missing file with its own address, sha256 and place, each once, the
    download error once, and leads with what to do in Indonesian and English."""
    fix, files = details["fix"], details["files"]
    assert [f["place_at"] for f in files] == [f"<EDGE_MODEL_DIR>/{p}" for p in paths]
    assert fix.startswith("Arahkan EDGE_MODEL_DIR") and "/ Point EDGE_MODEL_DIR" in fix
    assert "gerbang models install BERKAS" in fix and "gerbang models install FILE" in fix
    for file in files:
        assert fix.count(f"place it at {file['place_at']}.") == 1, (file["name"], fix)
        assert fix.count(f"prints {file['sha256']},") == 1, (file["name"], fix)
    for file in files[1:]:  # the first one's address is also in the one download error
        assert fix.count(file["url"]) == 1, (file["name"], fix)
    assert fix.count("could not download") + fix.count("Could not download") == 1, fix
    assert details["fetch_failed"]["file"] == files[0]["name"]
    assert ".." not in fix and "sha256sum" in fix


def test_gate_run_without_a_route_says_the_fetch_failed_and_what_to_do(tmp_path: Path) -> None:
    empty = tmp_path / "models"
    paths = _pack_from("http://127.0.0.1:9", empty)
    (tmp_path / "frames").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_")}
    env |= {"EDGE_MODEL_DIR": str(empty), "EDGE_DATA_DIR": str(tmp_path / "data")}
    run = gerbang(env, "gate", "run", "main", "--source", str(tmp_path / "frames"),
                  "--passage", "visitor_exit")  # fmt: skip
    assert run.returncode == 2, run.stdout + run.stderr
    assert "error [models_fetch_failed]: Berkas model tidak dapat diunduh" in run.stderr
    assert "models_fetching" not in run.stderr and "sedang diunduh" not in run.stderr
    for path in paths:
        assert f"place it at <EDGE_MODEL_DIR>/{path}." in run.stderr


def test_a_site_told_never_to_fetch_reaches_out_to_nobody(tmp_path: Path) -> None:
    empty = tmp_path / "models"
    _pack_from("http://127.0.0.1:9", empty)
    for site in make_site_client(empty, tmp_path / "data", fetch_models=False):
        assert not site.site.model_fetch.running
        problem = site.client.get("/ready").json()["problem"]
        assert problem["code"] == "model_not_ready" and "fetch_failed" not in problem["details"]


def test_a_fresh_site_offline_lists_each_missing_builtin_file_once(tmp_path: Path) -> None:
    """The built-in pack's real addresses, which this machine cannot reach (no route to the
    model hubs): the tryout that found the first file's error nested in every other file's."""
    pack = load_packs(tmp_path / "models")[PACK]
    wanted = [f.path for f in pack.files if f.conversion is None]
    for site in make_site_client(tmp_path / "models", tmp_path / "data"):
        site.site.model_fetch.wait(120)
        problem = site.client.get("/ready").json()["problem"]
        assert problem["code"] == "models_fetch_failed", problem
        _each_file_once(problem["details"], wanted)
