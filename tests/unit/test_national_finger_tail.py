"""The registry's finger tail fitted on the national fingers as its index holds them
(registry/national_finger_tail.py): the fallback below the minimum, a sample of whole people within
the budget, people merged or in an undecided case left out, presumptive mates trimmed, refits
only once the records moved, and a start's fit holding no transaction and no write lock."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from models.fingerprint import mcc
from models.fingerprint.gallery import FingerGallery
from models.fingerprint.tail import (
    IMPOSTORS_PER_PROBE,
    FingerTail,
    FingerTailState,
    population_scores,
    sample_people,
)
from registry.national_finger_tail import NationalFingerTail
from registry.national_fingers import FingerPolicy
from registry.service import RegistryService
from registry.settings import RegistrySettings
from registry.vault import RegistryKeySettings
from tests.unit.test_finger_index import _finger
from tests.unit.test_finger_population import SHIPPED, _impression

POLICY = FingerPolicy.load(1e-3, extractor="leader")  # the rule a national search decides by


def _gallery(people: int, seed: int = 4, copy_of: int | None = None) -> FingerGallery:
    """`people` people with two fingers of two records each, keyed as the registry keys them;
    with `copy_of`, one more person whose fingers are that person's (enrolled twice)."""
    rng, gallery, key = np.random.default_rng(seed), FingerGallery(), 0
    fingers = {(k, position): _finger(rng) for k in range(people) for position in (2, 7)}
    if copy_of is not None:
        fingers |= {(people, position): fingers[(copy_of, position)] for position in (2, 7)}
    for (k, position), rows in fingers.items():
        for _ in range(2):
            key += 1
            template = mcc.with_cylinders(_impression(rows, rng)).cylinders
            gallery.add([(key, (f"p{k}", position), template)])
    return gallery


def _tails(gallery: FingerGallery, left_out: set[str], **kwargs: int) -> NationalFingerTail:
    """The tail as NationalFingers builds it: `left_out` read as each fit starts, the cut read
    off the tail serving now for a search over the records held."""

    def serving(templates: int) -> float:
        return POLICY.threshold(templates, tails.state().tail)[0]

    tails = NationalFingerTail(gallery, SHIPPED, lambda: set(left_out), serving, **kwargs)
    return tails


def test_a_fit_samples_whole_people_and_leaves_out_the_merged_and_the_undecided() -> None:
    left_out = {"p0", "p1", "p2"}  # p0 merged into another; p1 and p2 in an undecided case
    tails = _tails(_gallery(8), left_out, min_people=3, max_comparisons=200)
    state = tails.refresh_now()
    assert state.source == "national" and state.people == 5
    assert isinstance(state.tail, FingerTail) and "national: 5 people" in state.tail.dataset
    sample = sample_people(tails.population(), tails.max_comparisons // IMPOSTORS_PER_PROBE)
    # 200 comparisons at 20 a probe: 10 probe fingers, whole people of two fingers each
    assert len(sample) == 10 and {person for person, _ in sample} == {"p3", "p4", "p5", "p6", "p7"}
    # each of the 10 probes against every other sampled person's 8 records (200 // 10 = 20 allowed)
    assert state.tail.tail.n == 10 * 4 * 2 * 2
    left_out -= {"p1", "p2"}  # the case decided "not the same": both are impostors again
    assert tails.refresh_now().people == 7


def test_a_fit_trims_comparisons_a_search_would_take_for_a_duplicate() -> None:
    # p8 is p0 enrolled again, in no case yet (not searched yet): their fingers match
    gallery = _gallery(8, copy_of=0)
    tails = _tails(gallery, set(), min_people=3, max_comparisons=1_000)
    cut = POLICY.threshold(len(gallery), SHIPPED)[0]
    sample = sample_people(tails.population(), tails.max_comparisons // IMPOSTORS_PER_PROBE)
    assert {person for person, _ in sample} == {f"p{k}" for k in range(9)}
    scores, _ = population_scores(sample, 1_000, any_position=True)
    mates = sum(score >= cut for score in scores)
    assert mates >= 8  # both of p0's probes and p8's against their mate's two records, at least
    state = tails.refresh_now()
    assert state.source == "national" and state.tail is not None
    assert state.tail.tail.n == len(scores) - mates == 18 * 8 * 2 * 2 - mates
    assert max(state.tail.tail.top) < cut
    assert f"; {mates} at or above the serving threshold {cut:.4f} left out" in state.tail.dataset


def test_the_shipped_tail_serves_below_the_minimum_and_refits_wait_for_a_move() -> None:
    gallery = _gallery(4)
    tails = _tails(gallery, set(), min_people=5, refresh_changes=8)
    assert tails.state().source == "shipped" and tails.state().people == 0
    tails.fit()  # the start's, in this thread
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
    no_tail = NationalFingerTail(_gallery(2), None, set, lambda _: 1.0, min_people=5)
    assert no_tail.refresh_now().source == "operating-points"


def test_the_minimum_of_people_is_bounded_on_both_sides() -> None:
    assert RegistrySettings(finger_min_people=100_000).finger_min_people == 100_000
    for unsafe in (1, 100_001):
        with pytest.raises(ValidationError, match="finger_min_people"):
            RegistrySettings(finger_min_people=unsafe)


def _writable(database: Path) -> bool:
    """Whether another connection could begin a write now (nobody holds SQLite's write lock)."""
    raw = sqlite3.connect(database, timeout=0, isolation_level=None)
    try:
        raw.execute("BEGIN IMMEDIATE")
        raw.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        raw.close()


def test_a_start_fits_the_tail_holding_no_transaction_and_leaving_writes_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "registry.db"
    settings = RegistrySettings(
        database_url=f"sqlite:///{database}", key=RegistryKeySettings(dev_dir=tmp_path / "keys")
    )
    service = RegistryService(settings)
    fingers = service.gallery.fingers
    assert fingers is not None
    seen: list[tuple[bool, bool]] = []
    fit = fingers.tails.refresh_now

    def write() -> None:  # what a site's push does around its commit
        with service.follower.writing():
            pass

    def fit_watched() -> FingerTailState:
        pushed = threading.Thread(target=write, daemon=True)
        pushed.start()
        pushed.join(30)  # a lock-free write ends at once; a loaded machine may be slow to run it
        seen.append((_writable(database), not pushed.is_alive()))
        return fit()

    monkeypatch.setattr(fingers.tails, "refresh_now", fit_watched)
    service.start()
    fingers.tails.wait(30)
    assert seen == [(True, True)]  # one fit, at start: the database and the write lock free
