"""The MCC impostor tail shipped as finger-mcc.openset.json: it loads, its 1:N thresholds rise
with the gallery and clear every impostor it was fitted on, and the finger service and the fused
search read it."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from edge import wiring
from edge.settings import Settings
from enrollment.fingers import FingerService
from enrollment.fused_search import decide_person
from models.calibration import SHIPPED_CALIBRATIONS, Calibration
from models.fingerprint.identify import fmr_for_fpir
from models.fingerprint.tail import (
    FILE_NAME,
    FingerTail,
    TailScoreModel,
    load_tail,
    with_finger_tail,
)
from models.fusion import FusionModel

SETS = ("fvc2002-db1_b", "fvc2002-db3_b", "FVC2000_DB1_B", "FVC2000_DB2_B", "FVC2000_DB3_B",
        "FVC2004_DB1_B", "FVC2004_DB2_B", "FVC2004_DB3_B")  # fmt: skip


@pytest.fixture(scope="module")
def shipped() -> FingerTail:
    return FingerTail.load(SHIPPED_CALIBRATIONS / f"{FILE_NAME}.json")


def _service(tail: FingerTail | None) -> FingerService:
    """Thresholds only: no database is touched."""
    points = Calibration.load(SHIPPED_CALIBRATIONS / "finger-mcc.json")
    return FingerService(None, None, lambda: points, tail=lambda: tail)  # type: ignore[arg-type]


def test_the_shipped_tail_loads_and_covers_all_eight_fvc_sets(shipped: FingerTail) -> None:
    assert all(name in shipped.dataset for name in SETS)
    assert shipped.fingers == 80 and shipped.tail.n >= 40_000  # 10 fingers x 8 sets, 8 x 72 each
    assert len(shipped.genuine) >= 4_000 and shipped.tail.k == 50


def test_the_threshold_rises_with_the_gallery_size(shipped: FingerTail) -> None:
    sizes = (1, 10, 100, 1_000, 10_000, 100_000, 1_000_000)
    thresholds = [shipped.threshold_at_fmr(fmr_for_fpir(0.01, n)) for n in sizes]
    assert all(a < b for a, b in itertools.pairwise(thresholds)), thresholds
    assert thresholds[-1] < 1.0  # a million templates still get a threshold of their own


def test_fpir_one_percent_over_10000_templates_clears_every_fitted_impostor(
    shipped: FingerTail,
) -> None:
    threshold = shipped.threshold_at_fmr(fmr_for_fpir(0.01, 10_000))
    assert threshold > shipped.tail.top[0]  # the highest of all the impostor scores fitted
    assert not shipped.counted(fmr_for_fpir(0.01, 10_000))  # beyond the data: extrapolated


def test_fmr_falls_with_the_score_from_the_body_into_the_fitted_tail(shipped: FingerTail) -> None:
    scores = [i / 1000 for i in range(0, 101)]
    fmrs = [shipped.fmr_at(s) for s in scores]
    assert fmrs[0] == 1.0  # below every impostor: all of them are at or above it
    assert all(a >= b for a, b in itertools.pairwise(fmrs))
    low = shipped.tail.top[-1] - 1e-3  # just below the kept scores: the body, not kept/n
    assert shipped.fmr_at(low) > len(shipped.tail.top) / shipped.tail.n


def test_fpir_threshold_reads_the_tail_at_any_gallery_size(shipped: FingerTail) -> None:
    with_tail, without = _service(shipped), _service(None)
    for templates in (100, 10_000):
        per = fmr_for_fpir(0.01, templates)
        threshold, point, strict = with_tail.fpir_threshold(0.01, templates)
        assert (threshold, point, strict) == (shipped.threshold_at_fmr(per), per, True)
    old, point, strict = without.fpir_threshold(0.01, 10_000)  # the operating points run out
    assert not strict and point == 1e-4 and old < with_tail.fpir_threshold(0.01, 10_000)[0]


def test_one_to_one_takes_the_tail_at_the_fmr_per_comparison(shipped: FingerTail) -> None:
    threshold, point = _service(shipped).threshold(1e-3, 3)
    assert point == pytest.approx(1e-3 / 3)
    assert threshold == shipped.threshold_at_fmr(1e-3 / 3)


def test_the_fused_search_reads_the_finger_tail(shipped: FingerTail) -> None:
    model = FusionModel.load(SHIPPED_CALIBRATIONS / "fusion-open-yunet-dlib-mcc.json")
    routed = with_finger_tail(model, shipped)
    assert isinstance(routed.finger, TailScoreModel) and with_finger_tail(model, None) is model
    assert routed.finger.llr(0.05) == model.finger.llr(0.05)  # the 1:1 map and veto are kept
    person_fmr = fmr_for_fpir(0.003, 1_000)
    face = (0.2, 0.5, lambda s: 0.5)  # an unremarkable face: the finger carries the decision
    evidence = decide_person(routed, "p", face, (0.04, 6), person_fmr)
    assert evidence.finger_threshold == shipped.threshold_at_fmr(person_fmr / 6)
    assert routed.finger.fmr_at(0.04) == shipped.fmr_at(0.04)
    old = decide_person(model, "p", face, (0.04, 6), person_fmr)
    assert evidence.fused_score is not None and old.fused_score is not None
    assert evidence.fused_score != old.fused_score


def test_a_sites_own_tail_wins_over_the_shipped_one(shipped: FingerTail, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, match={"finger_extractor": "nbis"})  # FILE_NAME's
    assert wiring.finger_tail(settings) == shipped
    own = FingerTail(shipped.tail, (), (), "this site's prints", 3)
    (tmp_path / "calibrations").mkdir()
    own.save(tmp_path / "calibrations" / f"{FILE_NAME}.json")
    assert wiring.finger_tail(settings).dataset == "this site's prints"  # type: ignore[union-attr]


def test_a_missing_or_damaged_file_is_told_apart(tmp_path: Path) -> None:
    assert load_tail(tmp_path / "none.json") is None
    (tmp_path / "bad.json").write_text('{"format_version": 1}', encoding="utf-8")
    with pytest.raises(ValueError, match="invalid finger tail file"):
        load_tail(tmp_path / "bad.json")
