"""The attack synthesis of bench/presentation_attacks.py is reproducible from its seed and keeps
the picture a picture (three 8-bit channels, the face's region still textured)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.presentation_attacks import ATTACKS


def _portrait() -> np.ndarray:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, size=(160, 120, 3), dtype=np.uint8)
    image[40:120, 30:90] = (90, 140, 200)  # a skin-coloured oval stand-in
    return image


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_an_attack_is_reproducible_from_its_seed_and_differs_from_another_seed(name: str) -> None:
    make = ATTACKS[name]
    one = make(_portrait(), np.random.default_rng([3, 0]))
    again = make(_portrait(), np.random.default_rng([3, 0]))
    other = make(_portrait(), np.random.default_rng([3, 1]))
    assert one.dtype == np.uint8 and one.ndim == 3 and one.shape[2] == 3
    assert np.array_equal(one, again) and not np.array_equal(one, other)


def test_a_bordered_print_sits_in_a_room_and_a_cutout_fills_the_frame() -> None:
    image = _portrait()
    framed = ATTACKS["print"](image, np.random.default_rng(0))
    cutout = ATTACKS["print-cutout"](image, np.random.default_rng(0))
    assert framed.shape[0] > 1.4 * image.shape[0]  # sheet, margin and wall around the photo
    assert cutout.shape[:2] == image.shape[:2]
