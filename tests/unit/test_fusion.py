"""Score fusion on seeded synthetic scores: calibrated LLRs, fused thresholds, fallback, files."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.calibration import OperatingPoint, build_calibration
from models.error_rates import fmr_at
from models.fusion import FusionModel, ScoreModel
from models.fusion_fit import FINGER_BOZORTH3, Comparisons, MatcherSpec, fit_fusion
from models.likelihood_ratio import fit_llr, llr_bounds

TARGETS = (1e-2, 1e-3)
COSINE = MatcherSpec("test-face", "cosine", "identity")


def gaussian_comparisons(seed: int, n_genuine: int = 600, n_impostor: int = 20_000) -> Comparisons:
    """Face ~ N(0.5 | 0.1, 0.1), finger ~ BOZORTH3-like counts, independent given the truth."""
    rng = np.random.default_rng(seed)
    genuine = np.zeros(n_genuine + n_impostor, dtype=bool)
    genuine[:n_genuine] = True
    face = np.where(genuine, rng.normal(0.5, 0.1, genuine.size), rng.normal(0.1, 0.1, genuine.size))
    finger = np.where(
        genuine, rng.lognormal(3.5, 0.8, genuine.size), rng.lognormal(1.8, 0.5, genuine.size)
    )
    return Comparisons(face, np.round(finger), genuine)


@pytest.fixture(scope="module")
def model() -> FusionModel:
    return fit_fusion(
        gaussian_comparisons(1), "fusion-test", "synthetic", (COSINE, FINGER_BOZORTH3), TARGETS
    )


def test_llr_of_equal_variance_gaussians_is_the_true_line_whatever_the_class_ratio() -> None:
    """N(0.5, 0.1) vs N(0.1, 0.1): LLR = 40 s - 12, zero at 0.3; 1:40 classes must not shift it."""
    rng = np.random.default_rng(2)
    slope, intercept = fit_llr(
        rng.normal(0.5, 0.1, 2_000), rng.normal(0.1, 0.1, 80_000), "identity"
    )
    assert slope == pytest.approx(40.0, rel=0.08)
    assert -intercept / slope == pytest.approx(0.3, abs=0.01)  # posterior log-odds: 0.39


def test_llr_never_falls_as_the_score_rises(model: FusionModel) -> None:
    for part, grid in ((model.face, np.linspace(-1, 1, 2001)), (model.finger, np.arange(0, 400.0))):
        llr = part.llr(grid)
        assert np.all(np.diff(llr) >= 0)
        assert llr[0] == part.llr_floor and llr[-1] == part.llr_ceiling


def test_no_score_claims_more_evidence_than_the_data_holds() -> None:
    """Bounds stay within what one counter-example would allow: +-log(n + 1)."""
    data = gaussian_comparisons(3, n_genuine=300, n_impostor=3_000)
    for scores in (data.face, data.finger):
        floor, ceiling = llr_bounds(*data.split(scores))
        assert -math.log(301) <= floor < 0 < ceiling <= math.log(3_001)


def test_a_failed_genuine_comparison_costs_what_the_data_says_not_what_the_line_says() -> None:
    """One genuine in ten scores like an impostor (non-overlapping impressions): the floor is
    near log(0.1), far above where the fitted line would put the lowest scores."""
    rng = np.random.default_rng(4)
    impostor = rng.lognormal(1.8, 0.5, 20_000)
    genuine = np.concatenate([rng.lognormal(3.5, 0.5, 900), rng.lognormal(1.8, 0.5, 100)])
    slope, intercept = fit_llr(genuine, impostor, "log1p")
    floor, _ = llr_bounds(genuine, impostor)
    assert floor == pytest.approx(math.log(0.1), abs=0.5)
    assert slope * math.log1p(impostor.min()) + intercept < floor - 2


def test_fused_threshold_meets_the_target_fmr_on_the_fitting_data(model: FusionModel) -> None:
    data = gaussian_comparisons(1)
    _, impostor = data.split(model.fused_scores(data.face, data.finger))
    for point in model.operating_points:
        assert fmr_at(point.threshold, impostor) <= point.target_fmr
        assert fmr_at(np.nextafter(point.threshold, -np.inf), impostor) > point.target_fmr
    # 20,000 impostor pairs support 1e-2 (needs 3,000) but not 1e-3 (needs 30,000).
    assert [p.supported for p in model.operating_points] == [True, False]


def test_fusion_rejects_fewer_genuine_pairs_than_either_matcher_alone(model: FusionModel) -> None:
    for fused in model.operating_points:
        alone = [_point(part, fused.target_fmr).fnmr for part in (model.face, model.finger)]
        assert fused.fnmr < min(alone)


def _point(part: ScoreModel, target: float) -> OperatingPoint:
    return next(p for p in part.operating_points if p.target_fmr == target)


@pytest.mark.parametrize("target", TARGETS)
def test_a_missing_finger_leaves_the_face_to_decide_at_its_own_threshold(
    model: FusionModel, target: float
) -> None:
    threshold = model.face.threshold_for(target)
    just_above = float(np.nextafter(threshold, np.inf))
    for face, expected in (
        (threshold, True),
        (just_above, True),
        (np.nextafter(threshold, -1), False),
    ):
        decision = model.decide(float(face), None, target)
        assert decision.match is expected
        assert decision.used == ("face",) and decision.reason == "finger_missing"
        assert decision.threshold == float(model.face.llr(threshold))
    # Not a low finger score: the worst finger would have pulled this face below the fused bar.
    assert not model.decide(just_above, 0.0, target).match


@pytest.mark.parametrize("target", TARGETS)
def test_a_missing_face_leaves_the_finger_to_decide_at_its_own_threshold(
    model: FusionModel, target: float
) -> None:
    threshold = model.finger.threshold_for(target)
    assert model.decide(None, threshold, target).match
    below = model.decide(None, float(np.nextafter(threshold, -np.inf)), target)
    assert not below.match and below.used == ("finger",) and below.reason == "face_missing"


def test_both_present_are_fused_at_the_fused_threshold(model: FusionModel) -> None:
    decision = model.decide(0.3, 20.0, 1e-3)
    assert decision.used == ("face", "finger") and decision.reason == "fused"
    assert decision.fused_score == pytest.approx(
        float(model.face.llr(0.3) + model.finger.llr(20.0))
    )
    assert decision.threshold == model.threshold_for(1e-3)
    assert decision.match is (decision.fused_score >= decision.threshold)


def test_no_score_or_a_nan_score_is_refused_not_guessed(model: FusionModel) -> None:
    with pytest.raises(ValueError, match="nothing to decide"):
        model.decide(None, None, 1e-3)
    with pytest.raises(ValueError, match="pass None"):
        model.decide(float("nan"), 20.0, 1e-3)
    with pytest.raises(ValueError, match=r"no threshold for FMR 0\.05"):
        model.decide(0.3, 20.0, 0.05)


def test_own_calibration_thresholds_are_kept_for_deciding_alone() -> None:
    data = gaussian_comparisons(5)
    rng = np.random.default_rng(6)
    own = build_calibration(
        "test-face", "a bigger face set", rng.normal(0.5, 0.1, 3_000), rng.normal(0.1, 0.1, 40_000),
        100, 2_000, 0, TARGETS,
    )  # fmt: skip
    model = fit_fusion(data, "t", "synthetic", (COSINE, FINGER_BOZORTH3), TARGETS, {"face": own})
    assert model.face.operating_points == own.operating_points
    assert (
        model.face.threshold_impostors == 40_000
        and "a bigger face set" in model.face.thresholds_from
    )
    assert model.finger.thresholds_from == "fitted with the LLR map"
    with pytest.raises(ValueError, match="calibration scores are 'cosine'"):
        fit_fusion(data, "t", "s", (COSINE, FINGER_BOZORTH3), TARGETS, {"finger": own})


def test_json_round_trip_keeps_every_number_exactly(model: FusionModel, tmp_path: Path) -> None:
    path = tmp_path / "fusion.json"
    model.save(path)
    again = FusionModel.load(path)
    assert again == model
    assert again.decide(0.31, 17.0, 1e-3) == model.decide(0.31, 17.0, 1e-3)
    assert path.stat().st_mode & 0o777 == 0o644


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = path
        for key in parents:
            data = data[key]
        data[last] = value

    return edit


def _drop(path: tuple[str, ...]) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = path
        for key in parents:
            data = data[key]
        del data[last]

    return edit


def _swap(data: dict[str, Any]) -> None:
    data["face"], data["finger"] = data["finger"], data["face"]


MALFORMED = {
    "missing key": (_drop(("finger", "slope")), "missing keys: slope"),
    "unknown key": (_set(("face", "weight"), 1.0), "unknown keys: weight"),
    "string number": (_set(("face", "intercept"), "-3.0"), "'intercept' must be a JSON float"),
    "bool number": (_set(("n_impostor",), True), "'n_impostor' must be a JSON int"),
    "falling LLR": (_set(("face", "slope"), -2.0), "slope must be positive"),
    "floor above 0": (_set(("finger", "llr_floor"), 0.5), "floor < 0 < ceiling"),
    "unknown transform": (_set(("finger", "transform"), "sqrt"), "unknown modality"),
    "swapped modalities": (_swap, "swapped or mislabelled"),
    "future version": (_set(("format_version",), 2), "format_version 2"),
    "bad rule-of-30 flag": (
        _set(("operating_points", 1, "supported"), True),
        "disagrees with the rule of 30",
    ),
    "points not a list": (_set(("operating_points",), {}), "must be a JSON list"),
}


@pytest.mark.parametrize("edit, message", MALFORMED.values(), ids=MALFORMED.keys())
def test_load_refuses_a_malformed_file_and_says_why(
    model: FusionModel, tmp_path: Path, edit: Callable[[dict[str, Any]], None], message: str
) -> None:
    path = tmp_path / "fusion.json"
    model.save(path)
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="invalid fusion model file") as caught:
        FusionModel.load(path)
    assert message in str(caught.value)


def test_load_refuses_text_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "fusion.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="invalid fusion model file"):
        FusionModel.load(path)
