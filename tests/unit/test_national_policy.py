"""The registry's duplicate threshold follows a target FPIR for the national gallery's size."""

from __future__ import annotations

import numpy as np
import pytest

from gallery_sync.gallery import GalleryEntry, GalleryIndex
from models.openset import fmr_for_fpir
from registry.national import MatchPolicy


def _people(count: int, start: int, seed: int) -> list[GalleryEntry]:
    rng = np.random.default_rng(seed)
    entries = []
    for person in range(count):
        centre = rng.normal(size=128)
        for capture in range(3):
            vector = centre + rng.normal(size=128) * 0.4
            vector /= np.linalg.norm(vector)
            tid = start + 3 * person + capture
            entries.append(GalleryEntry(tid, f"p{start + person}", "inmate", "active", vector))
    return entries


def test_the_threshold_follows_the_gallery_from_fmr_points_to_its_own_calibration() -> None:
    policy = MatchPolicy.for_pack("open-yunet-dlib", 1e-3, None, target_fpir=1e-3, min_people=20)
    gallery = GalleryIndex(policy.dimension)
    policy.follow(gallery)
    gallery.add(_people(5, 1, seed=1))
    setting = policy.setting()
    assert setting is not None and setting.source == "fmr-points"
    # one identity per person, from the start: 5 people searched (not their 15 templates)
    assert setting.people == 5 and setting.kind == "national_duplicate"
    assert policy.open_set is not None
    tail = policy.open_set.current.tail
    assert policy.threshold == pytest.approx(tail.threshold_at_fmr(fmr_for_fpir(1e-3, 5)))
    small = policy.threshold
    gallery.add(_people(30, 1_000, seed=2))
    setting = policy.setting()
    assert setting is not None and setting.source == "site" and setting.people == 35
    assert policy.open_set.current.people == 35  # calibrated on itself, by identity
    cost = policy.cost()
    assert cost is not None and cost["kind"] == "national_duplicate" and cost["people"] == 35
    assert small != policy.threshold


def test_without_a_target_the_per_comparison_threshold_stays() -> None:
    policy = MatchPolicy.for_pack("open-yunet-dlib", 1e-3, None)
    policy.follow(GalleryIndex(policy.dimension))
    assert policy.setting() is None and policy.cost() is None
    assert policy.threshold == policy.fmr_threshold


def test_a_large_gallery_recalibrates_in_the_background_and_leaves_merged_people_out() -> None:
    from gallery_sync.openset import OpenSetThresholds
    from models.openset import OpenSetCalibration, PointsTail

    fallback = OpenSetCalibration(PointsTail(((1e-2, 0.5), (1e-4, 0.7))), (), "fmr-points", "t", 0)
    open_set = OpenSetThresholds(fallback, min_people=10, sync_limit=0)  # always in a thread
    gallery = GalleryIndex(128)
    open_set.follow(gallery)
    entries = _people(12, 1, seed=3)
    gallery.add(entries)
    open_set.wait(60)
    assert open_set.current.source == "site" and open_set.current.people == 12
    merged = _people(1, 500, seed=4)
    gallery.add([e._replace(status="merged") for e in merged] + _people(3, 600, seed=5))
    open_set.wait(60)
    assert open_set.current.people == 15  # the merged record is not an impostor of its survivor


def test_the_national_search_scores_people_as_identities() -> None:
    from registry.national_index import NationalIndexConfig
    from registry.national_search import NationalSearch

    gallery = GalleryIndex(128)
    entries = _people(6, 1, seed=7)
    search = NationalSearch(gallery, NationalIndexConfig(exact_limit=1_000))
    search.add(entries)
    probe = entries[0].vector * 0.5 + entries[4].vector * 0.5
    probe /= np.linalg.norm(probe)
    found = search.search(probe, 3)[0]
    for candidate in found:
        mean = gallery.identity_vector(candidate.identity_id)
        assert mean is not None and candidate.score == pytest.approx(float(mean @ probe), abs=1e-5)
        best = max(
            float(e.vector @ probe) for e in entries if e.identity_id == candidate.identity_id
        )
        assert candidate.capture_score == pytest.approx(best, abs=1e-5)
    assert found[0].score != found[0].capture_score  # a mean, not the best capture
