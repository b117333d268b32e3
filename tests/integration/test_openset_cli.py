"""`gerbang eval --open-set` end to end on a small real photo set, and its embeddings cache."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from console.main import main

pytestmark = pytest.mark.model

IDENTITIES = (
    "facerec-obama",
    "deepface-img8",
    "facerec-kit_harington",
    "deepface-img26",
    "deepface-img13",
    "deepface-img16",
)


@pytest.fixture(scope="module")
def small_set(dev_faces: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("openset-photos")
    for identity in IDENTITIES:
        shutil.copytree(dev_faces / identity, root / identity)
    return root


@pytest.fixture(autouse=True)
def environment(
    monkeypatch: pytest.MonkeyPatch, model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    monkeypatch.setenv("EDGE_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("EDGE_DATA_DIR", str(tmp_path_factory.getbasetemp() / "cli-data"))


def test_open_set_reports_measured_and_modelled_rows_and_reuses_its_cache(
    small_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache, report, plot = tmp_path / "cache.npz", tmp_path / "r.json", tmp_path / "det.png"
    args = ["eval", str(small_set), "--open-set", "--gallery-sizes", "2,200", "--captures", "1",
            "--embeddings", str(cache), "--out", str(report), "--plot", str(plot),
            "--workers", "1", "--by-source", "--repeats", "2"]  # fmt: skip
    assert main(args) == 0
    assert cache.is_file() and plot.stat().st_size > 0
    rows = json.loads(report.read_text())["rows"]
    measured = [r for r in rows if r["population"] == "all" and r["gallery_people"] == 2]
    modelled = [r for r in rows if r["population"] == "all" and r["gallery_people"] == 200]
    assert measured and not measured[0]["modelled"] and measured[0]["rank"]["1"] >= 0
    assert modelled and modelled[0]["modelled"] and modelled[0]["how"].startswith("modelled")
    # per source; facerec has two people, too few for an open-set gallery, and is left out
    assert {r["population"] for r in rows} == {"all", "deepface"}
    first = capsys.readouterr().out
    assert "Modelled rows are not measurements" in first

    written = cache.stat().st_mtime_ns
    with np.load(cache) as archive:
        assert str(archive["pack_id"]) == "open-yunet-dlib" and len(archive["paths"]) > 12
    assert main([*args[:-2], "--repeats", "1"]) == 0
    assert "embedding again" not in capsys.readouterr().out
    assert cache.stat().st_mtime_ns == written  # read, not embedded and written again


def test_open_set_refuses_bad_sizes_with_a_house_error(
    small_set: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", str(small_set), "--open-set", "--gallery-sizes", "ten"]) == 2
    assert "openset_argument_invalid" in capsys.readouterr().err
    two_packs = ["--pack", "open-yunet-dlib", "--pack", "scrfd-dlib"]
    assert main(["eval", str(small_set), "--open-set", *two_packs]) == 2
    assert "one --pack at a time" in capsys.readouterr().err
