"""Calibration maths checked against brute force on seeded synthetic scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.calibration import Calibration, build_calibration
from models.calibration_report import format_report, plot_det
from models.error_rates import (
    det_curve,
    eer,
    fmr_at,
    fmr_supported,
    fnmr_at,
    pair_scores,
    threshold_at_fmr,
)

TARGETS = (0.5, 0.1, 0.05, 1e-2, 0.0133, 1e-3, 0.0)


def gaussian_scores(seed: int, n_genuine: int, n_impostor: int) -> tuple[np.ndarray, np.ndarray]:
    """Genuine ~ N(0.5, 0.1), impostor ~ N(0.1, 0.1): overlapping like a real face matcher."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.5, 0.1, n_genuine), rng.normal(0.1, 0.1, n_impostor)


def brute_force_threshold(impostor: np.ndarray, target: float) -> float:
    """Lowest candidate (each score and the next float above it) with FMR <= target."""
    candidates = sorted({*impostor, *np.nextafter(impostor, np.inf)})
    for threshold in candidates:
        if np.mean(impostor >= threshold) <= target:
            return float(threshold)
    raise AssertionError("no candidate met the target")


def unit_rows(seed: int, n: int, dim: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(n, dim)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def small_calibration(n_impostor: int = 4_000) -> Calibration:
    genuine, impostor = gaussian_scores(7, 500, n_impostor)
    return build_calibration("arcface-test", "synthetic", genuine, impostor, 50, 300, 2)


def test_pair_scores_match_a_double_loop_and_skip_rows_that_failed_to_acquire() -> None:
    embeddings = unit_rows(1, 12, 8)
    embeddings[[3, 8]] = np.nan
    labels = ["a", "a", "b", "b", "c", "a", "c", "b", "c", "d", "d", "a"]
    expected: dict[bool, list[float]] = {True: [], False: []}
    for i in range(12):
        for j in range(i + 1, 12):
            if not (np.isnan(embeddings[i]).any() or np.isnan(embeddings[j]).any()):
                score = float(np.dot(embeddings[i].astype(np.float64), embeddings[j]))
                expected[labels[i] == labels[j]].append(score)
    genuine, impostor = pair_scores(embeddings, labels)
    assert genuine.dtype == impostor.dtype == np.float64
    np.testing.assert_allclose(genuine, expected[True], atol=1e-12)
    np.testing.assert_allclose(impostor, expected[False], atol=1e-12)
    assert genuine.size + impostor.size == 10 * 9 // 2


def test_pair_scores_refuse_embeddings_that_are_not_l2_normalised() -> None:
    with pytest.raises(ValueError, match="L2-normalised"):
        pair_scores(unit_rows(2, 4, 8) * 3.0, ["a", "a", "b", "b"])


def test_a_score_equal_to_the_threshold_counts_as_a_match() -> None:
    assert fmr_at(0.4, [0.4, 0.3, 0.1, 0.5]) == 0.5
    assert fnmr_at(0.4, [0.4, 0.3, 0.1, 0.5]) == 0.5


@pytest.mark.parametrize("target", TARGETS)
def test_threshold_at_fmr_is_the_lowest_candidate_meeting_the_target(target: float) -> None:
    _, impostor = gaussian_scores(3, 10, 2_000)
    assert threshold_at_fmr(impostor, target) == brute_force_threshold(impostor, target)


@pytest.mark.parametrize("target", TARGETS)
def test_threshold_at_fmr_never_exceeds_the_target_fmr(target: float) -> None:
    _, impostor = gaussian_scores(4, 10, 3_001)
    threshold = threshold_at_fmr(impostor, target)
    assert fmr_at(threshold, impostor) <= target
    # One float step lower already lets in too many impostors: the threshold is the lowest.
    assert fmr_at(np.nextafter(threshold, -np.inf), impostor) > target


def test_threshold_at_fmr_rejects_a_whole_block_of_tied_impostor_scores() -> None:
    # 90 low scores, then 10 tied at 0.7: FMR 5 % cannot be met at 0.7 (that accepts 10 %),
    # so the threshold must step just above the tie and the achieved FMR drops to 0.
    impostor = np.concatenate([np.linspace(0.0, 0.5, 90), np.full(10, 0.7)])
    threshold = threshold_at_fmr(impostor, 0.05)
    assert threshold == np.nextafter(0.7, 1.0)
    assert fmr_at(threshold, impostor) == 0.0
    assert threshold == brute_force_threshold(impostor, 0.05)
    # At exactly 10 % the tie is allowed in and the threshold drops to just above 0.5.
    assert threshold_at_fmr(impostor, 0.10) == np.nextafter(0.5, 1.0)


def brute_force_eer(genuine: np.ndarray, impostor: np.ndarray) -> tuple[float, float]:
    """Scan every distinct score, find the first where FNMR >= FMR, interpolate linearly."""
    candidates = sorted({*genuine, *impostor})
    candidates.append(float(np.nextafter(candidates[-1], np.inf)))
    previous = None
    for threshold in candidates:
        fmr, fnmr = np.mean(impostor >= threshold), np.mean(genuine < threshold)
        if fnmr >= fmr and previous is not None:
            p_threshold, p_fmr, p_fnmr = previous
            alpha = (p_fmr - p_fnmr) / ((p_fmr - p_fnmr) - (fmr - fnmr))
            return p_fmr + alpha * (fmr - p_fmr), p_threshold + alpha * (threshold - p_threshold)
        previous = (threshold, fmr, fnmr)
    raise AssertionError("FNMR never reached FMR")


def test_eer_matches_a_brute_force_scan() -> None:
    genuine, impostor = gaussian_scores(5, 300, 1_500)
    rate, threshold = eer(genuine, impostor)
    expected_rate, expected_threshold = brute_force_eer(genuine, impostor)
    assert rate == pytest.approx(expected_rate, abs=1e-12)
    assert threshold == pytest.approx(expected_threshold, abs=1e-12)
    assert abs(fmr_at(threshold, impostor) - fnmr_at(threshold, genuine)) <= 2 / 300


def test_eer_is_near_the_analytic_value_for_symmetric_gaussians() -> None:
    # Means 0.5 and 0.1, sd 0.1: the curves cross at 0.3, two sd from each mean.
    rate, threshold = eer(*gaussian_scores(6, 20_000, 20_000))
    assert rate == pytest.approx(0.02275, abs=0.004)
    assert threshold == pytest.approx(0.3, abs=0.01)


def test_det_curve_runs_from_accepting_everyone_to_rejecting_everyone() -> None:
    fmr, fnmr, thresholds = det_curve(*gaussian_scores(8, 200, 800))
    assert (fmr[0], fnmr[0], fmr[-1], fnmr[-1]) == (1.0, 0.0, 0.0, 1.0)
    assert np.all(np.diff(thresholds) > 0)
    assert np.all(np.diff(fmr) <= 0) and np.all(np.diff(fnmr) >= 0)


def test_fmr_is_supported_only_with_thirty_expected_false_matches() -> None:
    assert fmr_supported(3_000, 1e-2) and not fmr_supported(2_999, 1e-2)
    assert fmr_supported(30_000, 1e-3) and not fmr_supported(29_999, 1e-3)
    assert fmr_supported(300_000, 1e-4) and not fmr_supported(299_999, 1e-4)


def test_unsupported_point_keeps_its_empirical_threshold_but_is_flagged() -> None:
    cal = small_calibration(n_impostor=4_000)
    assert cal.point_for(1e-2).supported
    assert not cal.point_for(1e-3).supported
    assert cal.threshold_for(1e-3) == cal.point_for(1e-3).threshold
    assert cal.threshold_for(1e-4) >= cal.threshold_for(1e-3) >= cal.threshold_for(1e-2)


def test_threshold_for_refuses_a_target_that_was_not_calibrated() -> None:
    with pytest.raises(ValueError, match=r"no calibrated point for FMR 0\.005"):
        small_calibration().threshold_for(5e-3)


def test_calibration_round_trips_through_json_exactly(tmp_path: Path) -> None:
    cal = small_calibration()
    path = tmp_path / "arcface.json"
    cal.save(path)
    assert Calibration.load(path) == cal
    assert list(tmp_path.iterdir()) == [path]  # the temp file was renamed, not left behind
    text = path.read_text()
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n"


def test_load_refuses_a_file_with_a_missing_key(tmp_path: Path) -> None:
    path = tmp_path / "cal.json"
    small_calibration().save(path)
    data = json.loads(path.read_text())
    del data["eer_threshold"]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="missing keys: eer_threshold"):
        Calibration.load(path)


def test_load_refuses_thresholds_that_fall_as_the_target_fmr_falls(tmp_path: Path) -> None:
    path = tmp_path / "cal.json"
    small_calibration().save(path)
    data = json.loads(path.read_text())
    points = data["operating_points"]
    points[0]["threshold"], points[1]["threshold"] = points[1]["threshold"], points[0]["threshold"]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="thresholds must not fall"):
        Calibration.load(path)


def test_load_refuses_a_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "cal.json"
    path.write_text('{"recogniser_id": ')
    with pytest.raises(ValueError, match="invalid calibration file"):
        Calibration.load(path)


def test_report_shows_eer_and_says_which_targets_are_not_supported() -> None:
    report = format_report(small_calibration(n_impostor=4_000))
    assert "EER" in report
    assert "1e-02" in report and "1e-03" in report and "1e-04" in report
    assert "(not supported: 4,000 impostor pairs < 30/FMR = 30,000)" in report
    assert "(not supported: 4,000 impostor pairs < 30/FMR = 300,000)" in report
    row_1e2 = next(line for line in report.splitlines() if line.lstrip().startswith("1e-02"))
    assert "not supported" not in row_1e2


def test_plot_det_writes_a_non_empty_png(tmp_path: Path) -> None:
    fmr_a, fnmr_a, _ = det_curve(*gaussian_scores(9, 500, 5_000))
    fmr_b, fnmr_b, _ = det_curve(*gaussian_scores(10, 500, 5_000))
    path = tmp_path / "det.png"
    plot_det({"pack-a": (fmr_a, fnmr_a), "pack-b": (fmr_b, fnmr_b)}, path, "DET on synthetic")
    assert path.stat().st_size > 1_000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_saved_file_is_readable_by_everyone_like_other_package_data(tmp_path: Path) -> None:
    path = tmp_path / "cal.json"
    small_calibration().save(path)
    assert path.stat().st_mode & 0o777 == 0o644
