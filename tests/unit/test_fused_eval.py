"""The fused open-set protocol's search plan and the bound it reports (edge/fused_eval.py)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from edge.fused_eval import _mated, _strangers
from models.error_rates import binomial_upper
from models.fingerprint.openset_eval import PROBES


def test_no_miss_in_n_bounds_the_rate_by_one_minus_alpha_to_the_one_over_n() -> None:
    for n in (47, 340):
        assert binomial_upper(0, n, 0.95) == pytest.approx(1 - 0.05 ** (1 / n), rel=1e-9)


def test_the_upper_bound_matches_the_beta_quantile() -> None:
    # Clopper-Pearson: the 95% quantile of Beta(k + 1, n - k); values from scipy.stats.beta.ppf
    assert binomial_upper(1, 47, 0.95) == pytest.approx(0.0970010, abs=1e-6)
    assert binomial_upper(3, 340, 0.95) == pytest.approx(0.0226459, abs=1e-6)
    assert binomial_upper(5, 5, 0.95) == 1.0


def _fingers(*names: str, missing: tuple[int, ...] = ()) -> dict[str, dict[int, object]]:
    return {n: {i: f"{n}#{i}" for i in (1, 2, 3, *PROBES) if i not in missing} for n in names}


def test_an_enrolled_person_is_searched_once_with_each_probe_print() -> None:
    fingers = _fingers("a", "b", missing=(8,))
    photos = [Path(f"{k}.jpg") for k in range(4)]
    searches = _mated(photos, ("a", "b"), fingers, "person-0")  # type: ignore[arg-type]
    prints = [s.prints[0][1] for s in searches]
    assert sorted(prints) == sorted(f"{f}#{i}" for f in "ab" for i in PROBES if i != 8)
    assert {position for s in searches for position, _ in s.prints} == {2, 7}
    assert Counter(s.photo for s in searches) == dict.fromkeys(photos, 2)  # in turn
    assert all(s.mate == "person-0" for s in searches)
    assert [s.finger for s in searches][:2] == ["a #4", "b #4"]  # named in the list of misses
    assert _mated([], ("a", "b"), fingers, "person-0") == []  # type: ignore[arg-type]


def test_strangers_sharing_a_finger_pair_take_its_probe_impressions_in_turn() -> None:
    fingers = _fingers("c", "d")
    photos = [Path("1.jpg"), Path("2.jpg")]
    searches = [
        s
        for turn in range(5)
        for s in _strangers(photos, ("c", "d"), fingers, turn)  # type: ignore[arg-type]
    ]
    assert all(s.mate is None for s in searches)
    seen = [s.prints[0][1] for s in searches]
    assert sorted(seen) == sorted(f"{f}#{i}" for f in "cd" for i in PROBES)
