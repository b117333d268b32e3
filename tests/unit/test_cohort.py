"""Cohort S-norm (models/cohort.py) against a loop, and in the service's 1:N path: the gallery
ranks by it exactly, the site's calibration and its decisions share one cohort, erased people
leave the cohort."""

from __future__ import annotations

import numpy as np
import pytest

from enrollment.matching import decide_search
from enrollment.service import MatchThresholds
from gallery_sync.gallery import GalleryEntry, GalleryIndex
from gallery_sync.openset import OpenSetThresholds
from models.cohort import CohortNorm, fisher_z, terms_without
from models.openset import (
    OpenSetCalibration,
    PointsTail,
    gallery_scores,
    identity_template,
    unit_rows,
)

DIM = 24


def people(count: int, captures: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """Unit captures around each person's centre; a shared 'hub' direction makes some people
    look like many others (what S-norm corrects)."""
    rng = np.random.default_rng(seed)
    hub = rng.normal(size=DIM)
    rows, labels = [], []
    for p in range(count):
        centre = rng.normal(size=DIM) + (2.0 * hub if p % 5 == 0 else 0.0)
        for _ in range(captures):
            rows.append(centre + rng.normal(scale=0.45, size=DIM))
            labels.append(f"p{p:03d}")
    return unit_rows(np.asarray(rows)), labels


def inmates(vectors: np.ndarray, labels: list[str]) -> GalleryIndex:
    """A gallery of these captures, everyone an active inmate."""
    gallery = GalleryIndex(DIM)
    gallery.add(
        [GalleryEntry(i + 1, lab, "inmate", "active", v) for i, (lab, v) in
         enumerate(zip(labels, vectors, strict=True))]
    )  # fmt: skip
    return gallery


def loop_snorm(probe: np.ndarray, cand: str, raw: float, cohort: CohortNorm, k: int) -> float:
    """The definition, one pair at a time."""
    z = fisher_z(cohort.vectors @ probe)
    others = [z[i] for i, m in enumerate(cohort.members) if m != cand]
    probe_term = float(np.mean(sorted(others, reverse=True)[:k]))
    row = cohort.members.index(cand) if cand in cohort.members else -1
    vector = cohort.vectors[row] if row >= 0 else None
    assert vector is not None
    own = fisher_z(cohort.vectors @ vector)
    own_term = float(np.mean(sorted(np.delete(own, row), reverse=True)[:k]))
    return float(fisher_z(raw) - 0.5 * (probe_term + own_term))


def test_normalise_matches_the_definition() -> None:
    vectors, labels = people(30, 3, seed=1)
    names = sorted(set(labels))
    means = np.stack([identity_template(vectors[[lab == n for lab in labels]]) for n in names])
    cohort = CohortNorm(means, tuple(names), k=5)
    probes = unit_rows(np.random.default_rng(2).normal(size=(4, DIM)) + means[:4])
    members = cohort.member_index(names)
    got = cohort.normalise(probes, probes @ means.T, members, cohort.own_terms(means, members))
    for i, probe in enumerate(probes):
        for j, name in enumerate(names):
            want = loop_snorm(probe, name, float(probe @ means[j]), cohort, 5)
            assert got[i, j] == pytest.approx(want, abs=1e-6)


def test_gallery_ranks_everyone_by_snorm_not_a_cosine_shortlist() -> None:
    vectors, labels = people(40, 3, seed=3)
    gallery = inmates(vectors, labels)
    names = sorted(set(labels))
    means = np.stack([gallery.identity_vector(n) for n in names])
    cohort = CohortNorm(means, tuple(names), k=5)
    rng = np.random.default_rng(4)
    reordered = 0
    for probe in unit_rows(rng.normal(size=(25, DIM)) + 0.8 * means[rng.integers(0, 40, 25)]):
        found = gallery.search(probe, k=3, roles=("inmate",), cohort=cohort)[0]
        raw = means @ probe
        brute = {
            n: loop_snorm(probe, n, float(r), cohort, 5) for n, r in zip(names, raw, strict=True)
        }
        best = sorted(brute, key=lambda n: (-brute[n], n))[:3]
        assert [c.identity_id for c in found] == best
        assert [c.score for c in found] == pytest.approx([brute[n] for n in best], abs=1e-6)
        assert found[0].raw_score == pytest.approx(float(raw[names.index(best[0])]), abs=1e-6)
        reordered += names[int(np.argmax(raw))] != best[0]
    assert reordered > 0  # the test can tell a cosine shortlist from the exact ranking


def test_calibration_and_decisions_share_one_cohort_and_meet_the_target() -> None:
    vectors, labels = people(160, 4, seed=5)
    enrolled = [i for i, lab in enumerate(labels) if int(lab[1:]) < 120]
    gallery = GalleryIndex(DIM)
    gallery.add([GalleryEntry(i + 1, labels[i], "inmate", "active", vectors[i]) for i in enrolled])
    fallback = OpenSetCalibration(PointsTail(((1e-2, 0.9), (1e-3, 0.95))), (), "fmr-points", "t", 0)
    open_set = OpenSetThresholds(fallback, min_people=100, cohort_size=80, cohort_k=5)
    open_set.follow(gallery)
    current = open_set.current
    assert current.source == "site" and current.scale == "s-norm"
    assert current.cohort is not None and len(current.cohort) == 80
    thresholds = MatchThresholds(0.0, 1e-3, 0.0, 1e-3, open_set)
    outsiders = [i for i, lab in enumerate(labels) if int(lab[1:]) >= 120]
    alarms = 0
    for row in outsiders:
        found, threshold, setting = decide_search(
            gallery, vectors[row], ("inmate",), ("active",), None, 1, thresholds, "gate_inmate"
        )
        assert setting is not None and setting.cohort is current.cohort
        assert setting.evidence()["scale"] == "s-norm (cohort 80)"
        alarms += found[0].score >= threshold
    # 160 searches by people not enrolled at a 1% target: a handful at most
    assert alarms <= 5
    # the same scores the calibration's scale came from: a direct S-norm of the search
    scores = gallery_scores(vectors[enrolled], [labels[i] for i in enrolled], cohort=current.cohort)
    assert scores.impostor_top.ceiling > 1.0


def test_an_erased_cohort_member_leaves_the_cohort_at_once() -> None:
    vectors, labels = people(110, 3, seed=6)
    gallery = inmates(vectors, labels)
    fallback = OpenSetCalibration(PointsTail(((1e-2, 0.9), (1e-3, 0.95))), (), "fmr-points", "t", 0)
    open_set = OpenSetThresholds(fallback, min_people=100, cohort_size=50, refresh_changes=1000)
    open_set.follow(gallery)
    cohort = open_set.current.cohort
    assert cohort is not None
    gone, tail = cohort.members[0], open_set.current.tail
    gallery.remove_identity(gone)
    after = open_set.current.cohort
    assert after is not None and gone not in after.members and len(after) == 49
    assert open_set.current.tail is tail  # same thresholds until the next calibration


def test_raw_cosine_while_the_site_runs_on_its_fallback() -> None:
    vectors, labels = people(20, 3, seed=7)
    gallery = inmates(vectors, labels)
    fallback = OpenSetCalibration(PointsTail(((1e-2, 0.9), (1e-3, 0.95))), (), "fmr-points", "t", 0)
    open_set = OpenSetThresholds(fallback, min_people=100, cohort_size=50)
    open_set.follow(gallery)
    found, _, setting = decide_search(
        gallery, vectors[0], ("inmate",), ("active",), None, 1,
        MatchThresholds(0.0, 1e-3, 0.0, 1e-3, open_set), "gate_inmate",
    )  # fmt: skip
    assert setting is not None and setting.cohort is None
    assert found[0].score == pytest.approx(float(vectors[0] @ gallery.identity_vector("p000")))


def test_calibration_terms_leave_the_probes_person_out_of_the_candidates_term() -> None:
    vectors, labels = people(25, 3, seed=8)
    names = sorted(set(labels))
    means = np.stack([identity_template(vectors[[lab == n for lab in labels]]) for n in names])
    cohort = CohortNorm(means, tuple(names), k=4)
    members = cohort.member_index(names)
    left_out = np.asarray([0, 3, -1])
    got = terms_without(cohort, means, members, left_out)
    for i, out in enumerate(left_out):
        for j in range(len(names)):
            z = fisher_z(means @ means[j])
            keep = [z[m] for m in range(len(names)) if m not in (j, out)]
            assert got[i, j] == pytest.approx(np.mean(sorted(keep, reverse=True)[:4]), abs=1e-6)
    # nobody left out: the candidate's own term
    assert got[2] == pytest.approx(cohort.own_terms(means, members), abs=1e-9)


def test_a_fused_search_scores_each_person_on_the_face_thresholds_scale() -> None:
    """The fused search (and search-batch) score a named person as the face search does: S-norm
    under a cohort, with the cosine kept for the veto; no cohort, the cosine twice."""
    vectors, labels = people(40, 3, seed=5)
    gallery = inmates(vectors, labels)
    names = sorted(set(labels))
    means = np.stack([gallery.identity_vector(n) for n in names])
    cohort = CohortNorm(means, tuple(names), k=5)
    probe = unit_rows(means[7:8] + 0.3)[0]
    found = gallery.search(probe, k=40, roles=("inmate",), cohort=cohort)[0]
    for candidate in found[:5]:
        scored = gallery.identity_score(probe, candidate.identity_id, cohort)
        assert scored is not None
        assert scored[0] == pytest.approx(candidate.score, abs=1e-6)
        assert scored[1] == pytest.approx(
            float(gallery.identity_vector(candidate.identity_id) @ probe), abs=1e-6
        )
        assert abs(scored[0] - scored[1]) > 0.05  # the scales differ: mixing them is the bug
    assert gallery.identity_score(probe, names[0]) == pytest.approx((float(means[0] @ probe),) * 2)
    assert gallery.identity_score(probe, "nobody", cohort) is None
