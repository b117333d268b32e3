"""The registry's finger tail fitted on the national fingers as its index holds them
(registry/national_finger_tail.py), without a database: the fallback below the minimum, a sample
of whole people within the budget, merged people left out, refits only once the records moved."""

from __future__ import annotations

import numpy as np

from models.fingerprint import mcc
from models.fingerprint.gallery import FingerGallery
from models.fingerprint.tail import FingerTail
from registry.national_finger_tail import NationalFingerTail
from tests.unit.test_finger_index import _finger
from tests.unit.test_finger_population import SHIPPED, _impression


def _gallery(people: int, seed: int = 4) -> FingerGallery:
    """`people` people with two fingers of two records each, keyed as the registry keys them."""
    rng, gallery, key = np.random.default_rng(seed), FingerGallery(), 0
    for k in range(people):
        for position in (2, 7):
            rows = _finger(rng)
            for _ in range(2):
                key += 1
                template = mcc.with_cylinders(_impression(rows, rng)).cylinders
                gallery.add([(key, (f"p{k}", position), template)])
    return gallery


def test_a_fit_samples_whole_people_within_its_budget_and_leaves_merged_people_out() -> None:
    tails = NationalFingerTail(_gallery(8), SHIPPED, min_people=3, max_comparisons=200)
    tails.statuses({"p0": "merged", "p1": "released"})
    state = tails.refresh_now()
    assert state.source == "national" and state.people == 7  # p0 merged: not an impostor
    assert isinstance(state.tail, FingerTail) and "national: 7 people" in state.tail.dataset
    sample = tails.sample(tails.population())
    # 200 comparisons at 20 a probe: 10 probe fingers, whole people of two fingers each
    assert len(sample) == 10 and len({person for person, _ in sample}) == 5
    assert "p0" not in {person for person, _ in sample}
    # each of the 10 probes against every other sampled person's 8 records (200 // 10 = 20 allowed)
    assert state.tail.tail.n == 10 * 4 * 2 * 2
    tails.statuses({"p0": "active"})  # a merge undone: p0 counts again
    assert tails.refresh_now().people == 8


def test_the_shipped_tail_serves_below_the_minimum_and_refits_wait_for_a_move() -> None:
    gallery = _gallery(4)
    tails = NationalFingerTail(gallery, SHIPPED, min_people=5, refresh_changes=8)
    assert tails.state().source == "shipped" and tails.state().people == 0
    tails.changed()  # the first time (start-up): fitted in this thread
    assert (tails.state().tail, tails.state().source, tails.state().people) == (
        SHIPPED,
        "shipped",
        4,
    )
    gallery.add([(100, ("p9", 2), _gallery(1, seed=9).held()[0][2].expand())])
    tails.changed()  # 1 record of 16: not enough of a move
    tails.wait(30)
    assert tails.state().people == 4
    more = _gallery(2, seed=10).held()
    gallery.add(
        [(200 + n, (f"q{owner[0]}", owner[1]), p.expand()) for n, (_, owner, p) in enumerate(more)]
    )
    tails.changed()  # 8 more: fitted again, in the background
    tails.wait(30)
    state = tails.state()
    assert state.source == "national" and state.people == 7
    no_tail = NationalFingerTail(_gallery(2), None, min_people=5)
    assert no_tail.refresh_now().source == "operating-points"
