"""MCC against a loop transcription of the paper's formulas, and the matcher's invariances."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from models.fingerprint import mcc, mcc_cylinders, mcc_matching, mcc_template
from models.fingerprint.minutiae import BIFURCATION, ENDING, MinutiaeTemplate

P = mcc_template.PAPER


def _template(rows: np.ndarray, ppi: int = 500, size: int = 400) -> MinutiaeTemplate:
    return MinutiaeTemplate(size, size, ppi, np.asarray(rows, dtype=np.float64), "test")


def _rows(xy: np.ndarray, angles: np.ndarray) -> np.ndarray:
    kinds = np.where(np.arange(len(xy)) % 2 == 0, ENDING, BIFURCATION)
    return np.column_stack([xy, np.mod(angles, 2 * np.pi), np.full(len(xy), 60.0), kinds])


def _print_like(seed: int, count: int = 40) -> np.ndarray:
    """Minutiae spread over a fingertip-sized ellipse, at least 12 px apart, random directions."""
    rng = np.random.default_rng(seed)
    points: list[np.ndarray] = []
    while len(points) < count:
        q = rng.uniform([40, 40], [360, 360])
        inside = ((q[0] - 200) / 150) ** 2 + ((q[1] - 200) / 170) ** 2 <= 1
        if inside and all(np.hypot(*(q - r)) >= 12 for r in points):
            points.append(q)
    return _rows(np.array(points), rng.uniform(0, 2 * np.pi, count))


def _moved(rows: np.ndarray, turn: float, shift: tuple[float, float]) -> np.ndarray:
    """The same print turned by `turn` (anticlockwise as seen) about (200, 200), then shifted."""
    cos, sin = math.cos(turn), math.sin(turn)
    x, y = rows[:, 0] - 200, rows[:, 1] - 200
    out = rows.copy()
    # y points down, so anticlockwise as seen is x' = x cos + y sin, y' = -x sin + y cos.
    out[:, 0] = 200 + cos * x + sin * y + shift[0]
    out[:, 1] = 200 - sin * x + cos * y + shift[1]
    out[:, 2] = np.mod(rows[:, 2] + turn, 2 * np.pi)
    return out


def _nudged(rows: np.ndarray, dx: float, dy: float, turn: float) -> np.ndarray:
    """Every minutia shifted by (dx, dy) and turned by `turn`, without moving the others."""
    out = rows.copy()
    out[:, 0] += dx
    out[:, 1] += dy
    out[:, 2] = np.mod(out[:, 2] + turn, 2 * np.pi)
    return out


# --- A direct transcription of the paper, one cell at a time --------------------------------


def _d_phi(a: float, b: float) -> float:
    diff = a - b
    if diff < -math.pi:
        return diff + 2 * math.pi
    if diff >= math.pi:
        return diff - 2 * math.pi
    return diff


def _segment_distance(q: tuple[float, float], a: np.ndarray, b: np.ndarray) -> float:
    ab, aq = b - a, np.asarray(q) - a
    length2 = float(ab @ ab)
    t = 0.0 if length2 == 0 else min(1.0, max(0.0, float(aq @ ab) / length2))
    return float(np.hypot(*(aq - t * ab)))


def _in_triangle(q: tuple[float, float], a: np.ndarray, b: np.ndarray, c: np.ndarray) -> bool:
    def side(u: np.ndarray, v: np.ndarray) -> float:
        return float((v[0] - u[0]) * (q[1] - u[1]) - (v[1] - u[1]) * (q[0] - u[0]))

    s = (side(a, b), side(b, c), side(c, a))
    return all(v >= 0 for v in s) or all(v <= 0 for v in s)


def _in_enlarged_hull(q: tuple[float, float], xy: np.ndarray) -> bool:
    """Brute force: inside some triangle of minutiae (Caratheodory), or near some segment."""
    if any(_in_triangle(q, *xy[list(t)]) for t in itertools.combinations(range(len(xy)), 3)):
        return True
    pairs = itertools.combinations_with_replacement(range(len(xy)), 2)
    return min(_segment_distance(q, xy[i], xy[j]) for i, j in pairs) <= P.omega


def _cylinder(rows: np.ndarray, m: int) -> tuple[list[float], list[bool]]:
    """C_m(i, j, k) for i, j, k = 1.. in that nesting, and each cell's validity."""
    xm, ym, tm = rows[m, :3]
    values: list[float] = []
    valid: list[bool] = []
    for i in range(1, P.ns + 1):
        for j in range(1, P.ns + 1):
            a, b = (i - (P.ns + 1) / 2) * P.delta_s, (j - (P.ns + 1) / 2) * P.delta_s
            px = xm + math.cos(tm) * a + math.sin(tm) * b
            py = ym - math.sin(tm) * a + math.cos(tm) * b
            ok = math.hypot(px - xm, py - ym) <= P.radius and _in_enlarged_hull(
                (px, py), rows[:, :2]
            )
            for k in range(1, P.nd + 1):
                d_phi_k = -math.pi + (k - 0.5) * P.delta_d
                total = 0.0
                for t in range(len(rows)):
                    d = math.hypot(rows[t, 0] - px, rows[t, 1] - py)
                    if t == m or d > 3 * P.sigma_s:
                        continue
                    c_s = math.exp(-(d**2) / (2 * P.sigma_s**2)) / (
                        P.sigma_s * math.sqrt(2 * math.pi)
                    )
                    alpha = _d_phi(d_phi_k, _d_phi(tm, rows[t, 2]))
                    scale = math.sqrt(2) * P.sigma_d
                    c_d = 0.5 * (
                        math.erf((alpha + P.delta_d / 2) / scale)
                        - math.erf((alpha - P.delta_d / 2) / scale)
                    )
                    total += c_s * c_d
                values.append(1 / (1 + math.exp(-P.tau_psi * (total - P.mu_psi))) if ok else 0.0)
                valid.append(ok)
    return values, valid


def _cylinder_is_valid(rows: np.ndarray, m: int, valid: list[bool]) -> bool:
    disc = sum(
        1
        for i, j in itertools.product(range(1, P.ns + 1), repeat=2)
        if math.hypot(i - (P.ns + 1) / 2, j - (P.ns + 1) / 2) * P.delta_s <= P.radius
    )
    neighbours = sum(
        1
        for t in range(len(rows))
        if t != m and math.hypot(*(rows[t, :2] - rows[m, :2])) <= P.radius + 3 * P.sigma_s
    )
    return sum(valid) / P.nd >= P.min_vc * disc and neighbours >= P.min_m


# A hand-made set: a cluster with close pairs (cells near both), one minutia at the hull's
# edge (part of its disc beyond omega) and one far away with no neighbour (min_M fails).
TINY = _rows(
    np.array(
        [[150, 150], [170, 160], [160, 190], [200, 140], [210, 200], [140, 220], [185, 175],
         [230, 170], [120, 175], [200, 240], [260, 120], [480, 480]],
        dtype=np.float64,
    ),
    np.radians([0, 30, 95, 180, 200, 270, 315, 45, 120, 355, 10, 60]),
)  # fmt: skip


def test_cylinders_match_a_cell_by_cell_transcription_of_the_paper() -> None:
    built = mcc_cylinders.build(_template(TINY, size=500))
    expected_values, expected_masks, kept = [], [], []
    for m in range(len(TINY)):
        values, valid = _cylinder(TINY, m)
        if _cylinder_is_valid(TINY, m, valid):
            expected_values.append(values)
            expected_masks.append(valid)
            kept.append(m)

    assert 0 < len(kept) < len(TINY)  # the set exercises both kinds of invalid cylinder
    assert 11 not in kept  # the lone minutia has no neighbour
    np.testing.assert_array_equal(built.minutiae, TINY[kept])
    np.testing.assert_array_equal(built.masks, np.array(expected_masks))
    np.testing.assert_allclose(built.cylinders, np.array(expected_values), atol=1e-6)
    assert built.cylinders.dtype == np.float32
    assert built.cylinders.shape == (len(kept), 16 * 16 * 6)


def test_some_cells_are_clipped_by_the_enlarged_hull() -> None:
    built = mcc_cylinders.build(_template(TINY, size=500))
    valid_per_cylinder = built.masks.sum(axis=1) / P.nd
    assert valid_per_cylinder.max() == P.disc_cells() == 208
    assert valid_per_cylinder.min() < 208


def test_local_similarity_matches_its_definition() -> None:
    a = mcc_cylinders.build(_template(_print_like(1)))
    b = mcc_cylinders.build(_template(_nudged(_moved(_print_like(1), 0.2, (5, -3)), 2, 1, 0.05)))
    gamma = mcc_matching.local_similarities(a, b)
    for i, j in itertools.product(range(a.count), range(b.count)):
        common = a.masks[i] & b.masks[j]
        ca, cb = np.where(common, a.cylinders[i], 0.0), np.where(common, b.cylinders[j], 0.0)
        norms = np.linalg.norm(ca) + np.linalg.norm(cb)
        matchable = (
            abs(_d_phi(a.minutiae[i, 2], b.minutiae[j, 2])) <= P.delta_theta
            and common.sum() >= P.min_me * 208 * P.nd
            and norms > 0
        )
        expected = 1 - np.linalg.norm(ca - cb) / norms if matchable else 0.0
        assert gamma[i, j] == pytest.approx(expected, abs=1e-6)


def test_a_template_compared_with_itself_scores_about_one() -> None:
    template = mcc_cylinders.build(_template(_print_like(2)))
    # Not exactly 1: rho of two perfectly consistent pairs is Z(0, 5, -8/5) Z(0, pi/12, -30)^2
    # = 0.9989, so each of the 5 relaxation steps keeps (1 + 0.9989) / 2 of lambda.
    assert mcc_matching.compare(template, template) == pytest.approx(0.99945**5, abs=2e-4)


def test_turning_and_moving_the_print_leaves_the_score_unchanged() -> None:
    rows = _print_like(3)
    a = mcc_cylinders.build(_template(rows))
    for turn, shift in [(math.radians(30), (40.0, -25.0)), (math.radians(-85), (-10.0, 60.0))]:
        b = mcc_cylinders.build(_template(_moved(rows, turn, shift), size=600))
        np.testing.assert_array_equal(b.masks, a.masks)
        np.testing.assert_allclose(b.cylinders, a.cylinders, atol=1e-5)
        assert mcc_matching.compare(a, b) == pytest.approx(mcc_matching.compare(a, a), abs=1e-6)


def test_a_print_turned_by_more_than_delta_theta_does_not_match() -> None:
    # Cylinders whose minutiae differ in direction by more than delta_theta (pi/2) are never
    # compared: scanners do not turn a finger that far, and impostor pairs are cut.
    rows = _print_like(3)
    a = mcc_cylinders.build(_template(rows))
    b = mcc_cylinders.build(_template(_moved(rows, math.radians(100), (0.0, 0.0))))
    assert mcc_matching.compare(a, b) < 0.05


def test_a_noisy_moved_copy_still_scores_far_above_another_finger() -> None:
    rng = np.random.default_rng(4)
    rows = _print_like(4)
    noisy = _moved(rows, math.radians(20), (15.0, 10.0))
    noisy[:, :2] += rng.normal(0, 3, (len(rows), 2))
    noisy[:, 2] = np.mod(noisy[:, 2] + rng.normal(0, math.radians(8), len(rows)), 2 * np.pi)
    noisy = noisy[rng.permutation(len(rows))[:32]]  # minutiae missed, order changed
    a, b = mcc_cylinders.build(_template(rows)), mcc_cylinders.build(_template(noisy, size=600))
    other = mcc_cylinders.build(_template(_print_like(5)))
    # Measured: about 0.2 against about 0.014 for unrelated sets (scores of real genuine
    # FVC pairs are of the same order: MCC scores are not probabilities).
    assert mcc_matching.compare(a, b) > 0.1
    assert mcc_matching.compare(a, other) < 0.05
    assert mcc_matching.compare(a, b) > 5 * mcc_matching.compare(a, other)


def test_scores_are_symmetric() -> None:
    rows = _print_like(6)
    a = mcc_cylinders.build(_template(rows))
    b = mcc_cylinders.build(_template(_nudged(_moved(rows, 0.3, (9.0, 4.0))[3:], 1.5, -2.0, 0.1)))
    c = mcc_cylinders.build(_template(_print_like(7)))
    for x, y in [(a, b), (a, c), (b, c)]:
        assert mcc_matching.compare(x, y) == pytest.approx(mcc_matching.compare(y, x), abs=1e-6)
        assert 0.0 <= mcc_matching.compare(x, y) <= 1.0


def test_templates_are_rescaled_to_500_ppi_before_building() -> None:
    rows = _print_like(8)
    at_1000 = rows.copy()
    at_1000[:, :2] *= 2
    a = mcc_cylinders.build(_template(rows))
    b = mcc_cylinders.build(_template(at_1000, ppi=1000, size=800))
    np.testing.assert_allclose(b.cylinders, a.cylinders, atol=1e-6)
    np.testing.assert_array_equal(b.masks, a.masks)


def test_empty_and_tiny_templates_score_zero_or_low() -> None:
    empty = mcc_cylinders.build(_template(np.zeros((0, 5))))
    full = mcc_cylinders.build(_template(_print_like(9)))
    assert empty.count == 0
    assert mcc_matching.compare(empty, full) == 0.0
    three = mcc_cylinders.build(_template(_print_like(9)[:3]))
    # n_P stays >= min_nP = 4, so a few perfectly matching pairs cannot reach 1.
    assert mcc_matching.compare(three, three) <= 3 / 4 + 1e-9


def test_n_p_follows_the_papers_sigmoid() -> None:
    assert mcc_matching.pairs_to_use(5, 50, P) == 4
    assert mcc_matching.pairs_to_use(20, 40, P) == 8
    assert mcc_matching.pairs_to_use(60, 80, P) == 12


def test_templates_with_other_parameters_are_refused() -> None:
    a = mcc_cylinders.build(_template(_print_like(10)))
    b = mcc_cylinders.build(
        _template(_print_like(10)), mcc_template.MccParameters(delta_theta=2 * math.pi / 3)
    )
    with pytest.raises(ValueError, match="different parameters"):
        mcc_matching.compare(a, b)


def test_minutiae_templates_carry_their_cylinders_for_evaluation() -> None:
    rows = _print_like(11)
    carried = mcc.with_cylinders(_template(rows))
    assert isinstance(carried, MinutiaeTemplate)
    assert carried.cylinders.count == mcc_cylinders.build(_template(rows)).count
    plain = _template(_moved(rows, 0.5, (3.0, 3.0)))
    assert mcc.compare_minutiae(carried, plain) == pytest.approx(
        mcc_matching.compare(mcc_cylinders.build(_template(rows)), mcc_cylinders.build(plain))
    )
