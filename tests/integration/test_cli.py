"""`gerbang` subcommands end to end on a small real photo set."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from console.main import main
from models.calibration import Calibration

pytestmark = pytest.mark.model

IDENTITIES = ("facerec-obama", "deepface-img8", "facerec-kit_harington", "deepface-img26")


@pytest.fixture(scope="module")
def small_set(dev_faces: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four identities from the dev set, plus one file that is not an image."""
    root = tmp_path_factory.mktemp("photos")
    for identity in IDENTITIES:
        shutil.copytree(dev_faces / identity, root / identity)
    (root / IDENTITIES[0] / "notes.jpg").write_bytes(b"this is not a photo")
    return root


@pytest.fixture(autouse=True)
def environment(
    monkeypatch: pytest.MonkeyPatch, model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    monkeypatch.setenv("EDGE_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("EDGE_DATA_DIR", str(tmp_path_factory.getbasetemp() / "cli-data"))


def test_embed_writes_the_archive_format_with_nan_rows_for_failures(
    small_set: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.npz"
    assert main(["embed", str(small_set), "--out", str(out), "--workers", "2"]) == 0
    archive = np.load(out)
    paths = list(archive["paths"])
    assert f"{IDENTITIES[0]}/1.jpg" in paths  # relative to the folder given
    bad = paths.index(f"{IDENTITIES[0]}/notes.jpg")
    assert np.isnan(archive["embeddings"][bad]).all()
    assert archive["error"][bad] == "image_invalid"
    good = np.delete(archive["embeddings"], bad, axis=0)
    assert np.allclose(np.linalg.norm(good, axis=1), 1.0, atol=1e-5)
    assert str(archive["pack_id"]) == "open-yunet-dlib"
    assert {"quality", "det_score"} <= set(archive.files)


def test_embed_from_a_list_keeps_paths_exactly_as_listed(small_set: Path, tmp_path: Path) -> None:
    listed = [str(small_set / IDENTITIES[1] / "1.jpg"), str(small_set / IDENTITIES[1] / "2.jpg")]
    (tmp_path / "list.txt").write_text("\n".join(listed) + "\n")
    out = tmp_path / "list.npz"
    assert (
        main(["embed", "--list", str(tmp_path / "list.txt"), "--out", str(out), "--workers", "1"])
        == 0
    )
    assert list(np.load(out)["paths"]) == listed


def test_calibrate_writes_a_loadable_calibration_and_eval_plots(
    small_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cal.json"
    assert main(["calibrate", str(small_set), "--out", str(out), "--workers", "1"]) == 0
    calibration = Calibration.load(out)
    assert calibration.n_identities == len(IDENTITIES)
    assert not calibration.point_for(1e-3).supported  # a few hundred pairs cannot support 1e-3
    assert (
        main(["eval", str(small_set), "--plot", str(tmp_path / "det.png"), "--workers", "1"]) == 0
    )
    printed = capsys.readouterr().out
    assert "FNMR@1e-03" in printed and "not supported" in printed
    assert (tmp_path / "det.png").stat().st_size > 1000


def test_models_verify_fails_on_an_unknown_or_incomplete_pack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["models", "verify", "--pack", "no-such-pack"]) == 2
    monkeypatch.setenv("EDGE_MODEL_DIR", str(tmp_path / "empty"))
    assert main(["models", "verify"]) == 1
