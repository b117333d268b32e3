"""The fingerprint 1:N index against brute force on seeded prints, and the FPIR threshold maths."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.fingerprint import mcc_cylinders
from models.fingerprint.identify import (
    Candidate,
    fmr_for_fpir,
    fpir_at,
    person_scores,
    threshold_for_fpir,
)
from models.fingerprint.index import FingerIndex, IndexParameters, pooled
from models.fingerprint.mcc_batch import Packed, compare_many, levels
from models.fingerprint.mcc_matching import compare
from models.fingerprint.mcc_template import MccTemplate
from models.fingerprint.minutiae import MinutiaeTemplate

# |4-bit - 8-bit| full MCC scores over the FVC sets' 45,224 within-set impostor pairs: at most
# 4.3e-3, 6.7e-4 at p99 (bench/finger_cells.py, 2026-12-07); these seeded prints stay within it.
FOUR_BIT_BOUND = 5e-3


def _finger(rng: np.random.Generator, count: int = 40) -> np.ndarray:
    """Minutiae spread over a fingertip-sized ellipse, at least 12 px apart, random directions."""
    points: list[np.ndarray] = []
    while len(points) < count:
        q = rng.uniform([40, 40], [360, 360])
        inside = ((q[0] - 200) / 150) ** 2 + ((q[1] - 200) / 170) ** 2 <= 1
        if inside and all(np.hypot(*(q - r)) >= 12 for r in points):
            points.append(q)
    xy = np.array(points)
    return np.column_stack(
        [xy, rng.uniform(0, 2 * np.pi, count), np.full(count, 60.0), np.ones(count)]
    )


def _impression(rows: np.ndarray, rng: np.random.Generator) -> MccTemplate:
    """Another impression: turned, shifted, jittered, some minutiae lost, some spurious."""
    keep = rows[rng.random(len(rows)) > 0.2].copy()
    turn = rng.uniform(-0.3, 0.3)
    c, s = math.cos(turn), math.sin(turn)
    x, y = keep[:, 0] - 200, keep[:, 1] - 200
    keep[:, 0] = 200 + c * x + s * y + rng.normal(0, 2.5, len(keep)) + rng.uniform(-20, 20)
    keep[:, 1] = 200 - s * x + c * y + rng.normal(0, 2.5, len(keep)) + rng.uniform(-20, 20)
    keep[:, 2] = np.mod(keep[:, 2] + turn + rng.normal(0, 0.08, len(keep)), 2 * np.pi)
    extra = _finger(rng, 5)
    rows_out = np.concatenate([keep, extra])
    return mcc_cylinders.build(MinutiaeTemplate(400, 400, 500, rows_out, "test"))


@pytest.fixture(scope="module")
def gallery() -> tuple[list[MccTemplate], list[MccTemplate]]:
    """40 seeded fingers enrolled once each, and a second impression of the first 12."""
    rng = np.random.default_rng(7)
    fingers = [_finger(rng) for _ in range(40)]
    enrolled = [_impression(f, rng) for f in fingers]
    probes = [_impression(f, rng) for f in fingers[:12]]
    return enrolled, probes


def test_search_finds_what_exhaustive_matching_ranks_first(gallery) -> None:
    enrolled, probes = gallery
    index = FingerIndex(IndexParameters(shortlist=5))
    index.add_many(enumerate(enrolled))
    for number, probe in enumerate(probes):
        exhaustive = sorted(
            ((k, compare(probe, t)) for k, t in enumerate(enrolled)), key=lambda h: -h[1]
        )
        hits = index.search(probe)
        assert len(hits) == 5
        assert hits[0].key == exhaustive[0][0] == number  # the mate, found and first
        # the index's score is full MCC (cell values held as bytes): within 3e-3 of float32
        assert hits[0].score == pytest.approx(exhaustive[0][1], abs=3e-3)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_large_probes_rescore_fewer_templates_within_the_pair_budget(gallery) -> None:
    enrolled, probes = gallery
    probe = probes[0]  # about 37 cylinders against templates of about 37
    pairs = [probe.count * t.count for t in enrolled]
    budget = int(np.mean(pairs) * 6.5)  # room for about 6 templates of 24
    index = FingerIndex(IndexParameters(shortlist=24, pair_budget=budget, least=3))
    index.add_many(enumerate(enrolled))
    hits = index.search(probe)
    assert 3 <= len(hits) < 24
    assert sum(probe.count * enrolled[h.key].count for h in hits) <= budget
    assert hits[0].key == 0  # the mate still leads the coarse order
    # the fewest templates whatever the budget, and a caller's own shortlist taken whole
    tight = FingerIndex(IndexParameters(shortlist=24, pair_budget=1, least=3))
    tight.add_many(enumerate(enrolled))
    assert len(tight.search(probe)) == 3
    assert len(tight.search(probe, shortlist=10)) == 10


def test_first_stage_ranks_mates_far_above_other_fingers(gallery) -> None:
    enrolled, probes = gallery
    index = FingerIndex()
    index.add_many(enumerate(enrolled))
    for number, probe in enumerate(probes):
        coarse = index.coarse_scores(probe)
        assert int(np.argmax(coarse)) == number


def test_add_remove_and_replace_keep_the_index_a_projection(gallery) -> None:
    enrolled, probes = gallery
    index = FingerIndex(IndexParameters(shortlist=3))
    index.add_many((k, t) for k, t in enumerate(enrolled[:20]))
    index.add("late", enrolled[30])
    assert len(index) == 21 and "late" in index
    index.remove(0)
    index.remove("never-added")
    assert 0 not in index and len(index) == 20
    assert all(h.key != 0 for h in index.search(probes[0]))
    index.add(5, enrolled[0])  # key 5 now holds finger 0's template
    assert index.search(probes[0])[0].key == 5
    # the same, rebuilt from scratch, gives the same coarse scores in the same key order
    fresh = FingerIndex()
    fresh.add_many(
        [(k, enrolled[k]) for k in range(1, 20) if k != 5]
        + [("late", enrolled[30]), (5, enrolled[0])]
    )
    assert np.allclose(
        sorted(index.coarse_scores(probes[0])), sorted(fresh.coarse_scores(probes[0]))
    )


@pytest.mark.parametrize(("bits", "within"), [(8, 3e-3), (4, FOUR_BIT_BOUND)])
def test_batched_rescoring_is_mcc_compare(gallery, bits: int, within: float) -> None:
    enrolled, probes = gallery
    packed = [Packed.of(t, bits) for t in enrolled]
    for probe in probes[:4]:
        batched = compare_many(probe, packed)
        one_by_one = [compare(probe, t) for t in enrolled]
        assert np.allclose(batched, one_by_one, atol=within)
        # the stored cell values alone explain the difference: expanded, compare gives the batch
        assert np.allclose(batched, [compare(probe, p.expand()) for p in packed], atol=1e-5)
    assert compare_many(probes[0], []) == []


def test_four_bit_cells_keep_scores_within_the_measured_bound_in_half_the_memory(gallery) -> None:
    enrolled, probes = gallery
    four = [Packed.of(t) for t in enrolled]
    eight = [Packed.of(t, 8) for t in enrolled]
    for probe in probes[:4]:
        gap = np.subtract(compare_many(probe, four), compare_many(probe, eight))
        assert np.abs(gap).max() <= FOUR_BIT_BOUND
    template, packed = enrolled[0], four[0]
    again = packed.expand()  # the round trip: every value to within half a level, same cells
    assert np.array_equal(again.masks, template.masks)
    half_level = np.diff(levels(4, template.params)).max() / 2
    assert np.abs(again.cylinders - template.cylinders).max() <= half_level + 1e-6
    floor = levels(4, template.params)[1]  # Psi(0): a valid cell no minutia reaches, kept exact
    assert np.all(again.cylinders[template.cylinders == floor] == floor)
    assert np.allclose(again.minutiae[:, :3], template.minutiae[:, :3], atol=1e-3)
    # 4 bits a value over the 208 cells of the disc, 1 bit of validity a cell, x y direction:
    # 662 bytes a cylinder, where bytes and a bool a cell held 1,536 + 256 + 12 (2026-12-07)
    assert packed.nbytes == template.count * (6 * 208 // 2 + 208 // 8 + 12)
    assert eight[0].nbytes == template.count * (6 * 208 + 208 // 8 + 12)
    index = FingerIndex()
    index.add_many(enumerate(enrolled))
    before = index.cylinders * (1536 + 256 + 12 + 96 * 6 + 24) + 64 * len(index)
    assert index.nbytes <= before / 2


def test_a_cylinder_valid_outside_its_disc_is_refused(gallery) -> None:
    template = gallery[0][0]
    masks = template.masks.copy()
    masks[0, :6] = True  # the corner cell (1, 1) lies outside the disc
    bad = MccTemplate(template.cylinders, masks, template.minutiae, template.params)
    with pytest.raises(ValueError, match="outside its disc"):
        Packed.of(bad)
    with pytest.raises(ValueError, match="bits"):
        Packed.of(template, 6)
    with pytest.raises(ValueError, match="different bits"):
        compare_many(gallery[1][0], [Packed.of(template), Packed.of(template, 8)])


def test_ivf_retrains_on_the_vectors_faiss_holds(gallery) -> None:
    enrolled, probes = gallery
    params = IndexParameters(exact_until=100, probe_cells=4)
    grown = FingerIndex(params)
    grown.add_many((k, enrolled[k]) for k in range(3))  # trained at about 130 cylinders
    first = grown._neighbours._trained_at
    grown.add_many((k, enrolled[k]) for k in range(3, 40))  # fourfold: retrained from FAISS
    assert 0 < first < grown._neighbours._trained_at == grown.cylinders
    at_once = FingerIndex(params)
    at_once.add_many(enumerate(enrolled))  # trained once on the same vectors, in the same order
    for probe in probes[:3]:
        assert np.array_equal(grown.coarse_scores(probe), at_once.coarse_scores(probe))


def test_ivf_first_stage_beyond_the_exact_size_finds_mates_and_forgets(gallery) -> None:
    enrolled, probes = gallery
    index = FingerIndex(IndexParameters(shortlist=3, exact_until=500, probe_cells=16))
    index.add_many(enumerate(enrolled))  # about 1,800 cylinders: trained IVF of 16 cells
    assert index.cylinders > 500 and index._neighbours._trained_at == index.cylinders
    for number, probe in enumerate(probes):
        assert index.search(probe)[0].key == number
    index.remove_many([0, 1])
    assert {h.key for h in index.search(probes[0])}.isdisjoint({0, 1})
    index.add("again", enrolled[1])  # added to the trained IVF, no retraining yet
    assert index.search(probes[1])[0].key == "again"


def test_empty_index_and_empty_probe() -> None:
    index = FingerIndex()
    empty = mcc_cylinders.build(MinutiaeTemplate(400, 400, 500, np.zeros((0, 5)), "test"))
    assert index.search(empty) == []
    rng = np.random.default_rng(1)
    index.add("a", _impression(_finger(rng), rng))
    index.add(
        "none", empty
    )  # a print without valid cylinders is indexed but never shortlisted first
    assert index.search(empty) == []
    assert index.coarse_scores(_impression(_finger(rng), rng))[1] == 0.0


def test_pooled_cylinders_are_unit_vectors(gallery) -> None:
    vectors = pooled(gallery[0][0])
    assert vectors.shape == (gallery[0][0].count, 96)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_threshold_for_fpir_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    impostor = rng.beta(2, 30, 200_000)
    for people, target in ((10, 0.01), (100, 0.03), (1000, 0.1)):
        found = threshold_for_fpir(impostor, people, target)
        assert found.supported
        fmr = (impostor >= found.threshold).mean()
        assert (
            fmr
            <= fmr_for_fpir(target, people)
            < (impostor >= np.nextafter(found.threshold, -1)).mean() + 1e-12
        )
        # searches of `people` independent impostor scores: FPIR near the target
        searches = rng.choice(impostor, (4000, people)).max(axis=1)
        assert fpir_at(found.threshold, searches) == pytest.approx(
            target, abs=4 * math.sqrt(target / 4000) + 1e-3
        )


def test_threshold_beyond_the_data_is_above_every_impostor_and_flagged() -> None:
    found = threshold_for_fpir([0.1, 0.2, 0.3], 1000, 0.01)
    assert not found.supported and found.threshold > 0.3
    with pytest.raises(ValueError):
        threshold_for_fpir([], 10, 0.01)
    with pytest.raises(ValueError):
        fmr_for_fpir(1.5, 10)


def test_person_scores_fuse_fingers_by_max_and_respect_position() -> None:
    owners = {1: ("ana", 2), 2: ("ana", 7), 3: ("budi", 2), 4: ("budi", 7)}
    scores = [(1, 0.2), (2, 0.6), (3, 0.5), (4, 0.1)]
    assert person_scores(scores, owners) == [
        Candidate("ana", 0.6, 7, 2),
        Candidate("budi", 0.5, 2, 2),
    ]
    assert person_scores(scores, owners, position=2) == [
        Candidate("budi", 0.5, 2, 1),
        Candidate("ana", 0.2, 2, 1),
    ]
