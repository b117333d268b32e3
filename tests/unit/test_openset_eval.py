"""Open-set maths against brute force on seeded data (models/openset_eval, models/openset_protocol)."""

from __future__ import annotations

import numpy as np
import pytest

from models import openset_eval as ose
from models import openset_protocol as osp


def _people(rng: np.random.Generator, people: int, photos: int, dim: int = 16, spread: float = 0.6):
    centres = ose.unit(rng.normal(size=(people, dim)))
    rows, owner = [], []
    for p in range(people):
        for _ in range(photos):
            rows.append(centres[p] + spread * rng.normal(size=dim) / np.sqrt(dim))
            owner.append(p)
    return ose.unit(np.array(rows)), np.array(owner)


def test_person_scores_take_the_best_capture_and_mean_templates_are_unit() -> None:
    rng = np.random.default_rng(1)
    captures = [ose.unit(rng.normal(size=(k, 8))) for k in (1, 3, 2)]
    probes = ose.unit(rng.normal(size=(5, 8)))
    best = ose.person_scores(probes, ose.build_gallery(captures, "max"))
    for i in range(5):
        for p, block in enumerate(captures):
            assert best[i, p] == pytest.approx(max(float(probes[i] @ v) for v in block))
    mean = ose.build_gallery(captures, "mean", [np.ones(len(b)) for b in captures])
    assert np.allclose(np.linalg.norm(mean.vectors, axis=1), 1.0)
    assert np.allclose(mean.vectors[0], captures[0][0])  # one capture: its own vector
    one_heavy = ose.build_gallery(captures[1:2], "mean", [np.array([0.0, 1.0, 0.0])])
    assert np.allclose(one_heavy.vectors[0], captures[1][1])


def _brute_searches(scores: np.ndarray, mate: np.ndarray):
    own, other, rank, top = [], [], [], []
    for i, row in enumerate(scores):
        if mate[i] >= 0:
            s = row[mate[i]]
            rest = [row[j] for j in range(len(row)) if j != mate[i]]
            own.append(s)
            other.append(max(rest))
            rank.append(1 + sum(r > s for r in rest))
        else:
            top.append(max(row))
    return own, other, rank, top


def test_searches_rates_and_det_match_brute_force() -> None:
    rng = np.random.default_rng(7)
    scores = rng.uniform(size=(300, 40))
    mate = np.where(rng.uniform(size=300) < 0.5, rng.integers(0, 40, size=300), -1)
    scores[np.flatnonzero(mate >= 0), mate[mate >= 0]] += 0.4  # mates score higher, mostly
    found = ose.searches(scores, mate)
    own, other, rank, top = _brute_searches(scores, mate)
    assert np.allclose(found.mate_score, own) and np.allclose(found.best_other, other)
    assert list(found.mate_rank) == rank and np.allclose(found.nonmated_top, top)
    for target in (0.1, 0.03, 0.01):
        t = ose.threshold_at_fpir(found.nonmated_top, target)
        fpir = np.mean(np.array(top) >= t)
        assert fpir <= target
        # the lowest such threshold: the next score down would exceed the target
        below = max(s for s in top if s < t)
        assert np.mean(np.array(top) >= below) > target
        brute_fnir = np.mean([not (s >= t and s >= o) for s, o in zip(own, other, strict=True)])
        assert ose.fnir_at(found, t) == pytest.approx(brute_fnir)
    for r in (1, 5, 10):
        assert ose.rank_rate(found, r) == pytest.approx(np.mean(np.array(rank) <= r))
    fpir, fnir = ose.det(found)
    hits = np.array([s if s >= o else -np.inf for s, o in zip(own, other, strict=True)])
    for k in rng.integers(0, len(fpir), size=20):
        thresholds = np.unique(np.r_[hits[np.isfinite(hits)], top])
        t = thresholds[k]
        assert fpir[k] == pytest.approx(np.mean(np.array(top) >= t))
        assert fnir[k] == pytest.approx(np.mean(~(hits >= t)))


def test_cohort_normalisation_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    scores = rng.uniform(size=(20, 12))
    own = rng.uniform(size=(12, 12))
    k = 3
    probe = ose.cohort_normalise(scores, k)
    sym = ose.cohort_normalise(scores, k, own, "sym")
    z = np.arctanh
    for i in range(20):
        for g in range(12):
            others = sorted((z(scores[i, j]) for j in range(12) if j != g), reverse=True)[:k]
            mates = sorted((z(own[g, j]) for j in range(12) if j != g), reverse=True)[:k]
            assert probe[i, g] == pytest.approx(z(scores[i, g]) - np.mean(others))
            expected = z(scores[i, g]) - (np.mean(others) + np.mean(mates)) / 2
            assert sym[i, g] == pytest.approx(expected)


def test_modelled_curve_matches_resampling_the_impostors() -> None:
    """The empirical model is what drawing N impostors with replacement gives, in expectation."""
    rng = np.random.default_rng(11)
    nonmated = rng.normal(0.5, 0.1, size=(30, 30))
    mated = rng.normal(0.5, 0.1, size=(20, 30))
    mates = rng.normal(0.8, 0.1, size=20)
    n = 200
    curve = ose.modelled_curve(
        nonmated, mates, mated, n, "empirical", grid=np.array([0.6, 0.7, 0.75])
    )
    draws = 1500
    for c, t in enumerate(curve.thresholds):
        hits = [
            np.mean(row[rng.integers(0, 30, size=(draws, n))].max(axis=1) >= t) for row in nonmated
        ]
        assert curve.fpir[c] == pytest.approx(np.mean(hits), abs=0.03)
        found = [
            (s >= t) * np.mean(row[rng.integers(0, 30, size=(draws, n - 1))].max(axis=1) < s)
            for s, row in zip(mates, mated, strict=True)
        ]
        assert curve.fnir[c] == pytest.approx(1 - np.mean(found), abs=0.03)


def test_normal_tail_model_matches_sampling_from_the_normal() -> None:
    rng = np.random.default_rng(5)
    mu, sd = np.arctanh(0.5), 0.15
    nonmated = np.tanh(rng.normal(mu, sd, size=(20, 5000)))
    t = 0.8
    n = 100
    curve = ose.modelled_curve(
        nonmated, np.array([0.9]), nonmated[:1], n, "normal", grid=np.array([t])
    )
    best = np.tanh(rng.normal(mu, sd, size=(20000, n))).max(axis=1)
    assert curve.fpir[0] == pytest.approx(np.mean(best >= t), rel=0.1)


def test_measured_protocol_keeps_enrolment_photos_out_and_separates_people() -> None:
    rng = np.random.default_rng(2)
    emb, owner = _people(rng, people=40, photos=5)
    photos = osp.photos_from(emb.astype(np.float32), [f"p{o:02d}" for o in owner])
    assert osp.largest_measured_gallery(photos, 3) == 30
    found = osp.measured(photos, osp.Variant(), gallery_size=20, captures=3, repeats=2, seed=0)
    assert len(found.mate_score) == 2 * 20 * 2  # 2 trials x 20 people x (5 - 3) photos
    assert len(found.nonmated_top) == 2 * 20 * 5
    with pytest.raises(ValueError):
        osp.measured(photos, osp.Variant(), gallery_size=31, captures=3, repeats=1, seed=0)
    # well-separated people: the mate comes first almost always
    assert ose.rank_rate(found, 1) > 0.9


def test_modelled_curve_at_a_measured_size_agrees_with_the_measurement() -> None:
    rng = np.random.default_rng(4)
    emb, owner = _people(rng, people=120, photos=5, spread=1.2)
    photos = osp.photos_from(emb.astype(np.float32), [f"p{o:03d}" for o in owner])
    found = osp.measured(photos, osp.Variant(), gallery_size=60, captures=3, repeats=6, seed=1)
    curve = osp.modelled(photos, osp.Variant(), 60, captures=3, seed=1, tail="empirical")
    t = ose.threshold_at_fpir(found.nonmated_top, 0.1)
    assert curve.fnir_at(t) == pytest.approx(ose.fnir_at(found, t), abs=0.08)
