"""`gerbang finger eval --fused` end to end on a small slice of the real photos and prints: both
folds pooled, each fold's own rows, and every fused miss listed (edge/fused_eval.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edge.fused_eval import TARGET_FPIRS, evaluate_fused, format_fused
from tests.conftest import SHARED, _require

pytestmark = [pytest.mark.slow, pytest.mark.model]


@pytest.fixture
def faces(tmp_path: Path) -> Path:
    """The first 14 open-set identities with 4+ photos (links, never copies)."""
    source = _require(SHARED / "data" / "faces" / "openset", "open-set face photos")
    folder = tmp_path / "faces"
    folder.mkdir()
    chosen = [d for d in sorted(source.iterdir()) if d.is_dir() and len(list(d.glob("*.jpg"))) > 3]
    for identity in chosen[:14]:
        (folder / identity.name).symlink_to(identity, target_is_directory=True)
    return folder


def test_two_folds_pool_their_searches_and_list_the_misses(
    faces: Path, fingerprints: Path, nbis_library: Path, model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("EDGE_MODEL_DIR", str(model_dir))
    rows = evaluate_fused(faces, [fingerprints / "fvc2002-db1_b"], 500, workers=1)
    pooled, folds = rows[: len(TARGET_FPIRS)], rows[len(TARGET_FPIRS) :]
    assert [r.fold for r in pooled] == [None] * len(TARGET_FPIRS)
    assert sorted({r.fold for r in folds}) == [1, 2] and len(folds) == 2 * len(TARGET_FPIRS)
    # 10 fingers: 5 two-finger people, 2 enrolled in fold 1 and 3 in fold 2, each searched with
    # each of its 10 probe prints; every other face identity is a stranger with 1 or 2 photos
    # (those beyond its first 3)
    assert pooled[0].people == 5 and pooled[0].mated == 50
    strangers = (14 - 2) + (14 - 3)
    assert strangers <= pooled[0].non_mated <= 2 * strangers
    for target in TARGET_FPIRS:
        by_target = [r for r in folds if r.target_fpir == target]
        whole = next(r for r in pooled if r.target_fpir == target)
        assert sum(r.mated for r in by_target) == whole.mated
        assert whole.fused_misses == round(whole.fnir["fused"] * whole.mated)
        assert len(whole.misses) == whole.fused_misses
        assert whole.fnir_bound >= whole.fnir["fused"]
    text = format_fused(rows)
    assert "5 chimeric people enrolled over 2 folds" in text
    assert len(re.findall(r"^\| fold [12]: ", text, re.M)) == 2 * len(TARGET_FPIRS)
    single = evaluate_fused(faces, [fingerprints / "fvc2002-db1_b"], 500, workers=1, folds=1)
    assert [r.fold for r in single] == [None] * len(TARGET_FPIRS) and single[0].people == 2
