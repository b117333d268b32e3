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
    # per template until calibrated: 15 templates searched
    assert setting.people == 15 and setting.kind == "national_duplicate"
    assert policy.open_set is not None
    tail = policy.open_set.current.tail
    assert policy.threshold == pytest.approx(tail.threshold_at_fmr(fmr_for_fpir(1e-3, 15)))
    small = policy.threshold
    gallery.add(_people(30, 1_000, seed=2))
    setting = policy.setting()
    assert setting is not None and setting.source == "site" and setting.people == 35
    assert policy.open_set.current.people == 35  # calibrated on itself, per capture
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
    open_set.wait(10)
    assert open_set.current.source == "site" and open_set.current.people == 12
    merged = _people(1, 500, seed=4)
    gallery.add([e._replace(status="merged") for e in merged] + _people(3, 600, seed=5))
    open_set.wait(10)
    assert open_set.current.people == 15  # the merged record is not an impostor of its survivor
