"""`gerbang finger eval --open-set` on seeded prints: both people sizes, every target FPIR, the
strangers never enrolled, chimeric two-finger people scored as one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.fingerprint import mcc
from models.fingerprint.minutiae import MinutiaeTemplate
from models.fingerprint.openset_eval import TARGET_FPIRS, evaluate_open_set, format_open_set
from tests.unit.test_finger_index import _finger


def _moved(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Another impression's minutiae: turned, shifted, jittered, a fifth lost."""
    keep = rows[rng.random(len(rows)) > 0.2].copy()
    turn = rng.uniform(-0.3, 0.3)
    c, s = math.cos(turn), math.sin(turn)
    x, y = keep[:, 0] - 200, keep[:, 1] - 200
    keep[:, 0] = 200 + c * x + s * y + rng.normal(0, 2.5, len(keep)) + rng.uniform(-15, 15)
    keep[:, 1] = 200 - s * x + c * y + rng.normal(0, 2.5, len(keep)) + rng.uniform(-15, 15)
    keep[:, 2] = np.mod(keep[:, 2] + turn + rng.normal(0, 0.08, len(keep)), 2 * np.pi)
    return keep


@pytest.fixture(scope="module")
def fingers() -> dict[str, dict[int, mcc.MinutiaeWithCylinders]]:
    """12 seeded fingers of 8 impressions each, named like FVC folders' fingers."""
    rng = np.random.default_rng(11)
    out = {}
    for number in range(12):
        rows = _finger(rng)
        out[f"set/{101 + number}"] = {
            impression: mcc.with_cylinders(MinutiaeTemplate(400, 400, 500, _moved(rows, rng), "t"))
            for impression in range(1, 9)
        }
    return out


def test_open_set_rows_cover_both_people_sizes_and_every_target(fingers) -> None:
    rows = evaluate_open_set(fingers)
    for per_person, people in ((1, 6), (2, 3)):  # half of 12 (or 6 pairs) enrolled, half strangers
        mine = [r for r in rows if r.fingers_per_person == per_person]
        assert max(r.people for r in mine) == people and min(r.people for r in mine) == 2
        assert {r.target_fpir for r in mine} == set(TARGET_FPIRS)
        for row in mine:
            assert row.mated_searches == 5 * row.people  # impressions 4-8 of each enrolled person
            assert row.non_mated_searches == 5 * people  # the strangers' searches, every size
            # distinct seeded fingers: every mate found above the threshold, no stranger matched
            assert row.fnir == 0.0
            assert row.fpir_measured <= row.target_fpir + 1 / row.non_mated_searches
    table = format_open_set(rows, len(fingers))
    assert table.count("\n| 2 |") == len([r for r in rows if r.fingers_per_person == 2])
