"""Fingers searched as people (models/fingerprint/gallery.py), shared by the sites and the registry:
a person's own templates are left out of their search, people are max-fused, the gallery stays a
projection, and the threshold is the calibration's point for the target FPIR over the templates."""

from __future__ import annotations

import numpy as np
import pytest

from models.calibration import SHIPPED_CALIBRATIONS, Calibration
from models.fingerprint.gallery import FingerGallery, fpir_threshold
from models.fingerprint.mcc_batch import Packed
from models.fingerprint.mcc_matching import compare
from tests.unit.test_finger_index import _finger, _impression


@pytest.fixture(scope="module")
def people() -> dict[str, object]:
    """Ana and Bob enrolled the same finger (Ana twice), Cici another; a new impression of it."""
    rng = np.random.default_rng(11)
    shared, other = _finger(rng), _finger(rng)
    items = [(1, ("ana", 2), _impression(shared, rng)), (2, ("ana", 2), _impression(shared, rng)),
             (3, ("bob", 7), _impression(shared, rng)), (4, ("cici", 2), _impression(other, rng))]  # fmt: skip
    return {"items": items, "probe": _impression(shared, rng)}


def test_a_search_leaves_out_its_own_person_and_fuses_the_others_by_their_best_finger(
    people: dict[str, object],
) -> None:
    gallery = FingerGallery()
    gallery.add(people["items"])  # type: ignore[arg-type]
    found, searched = gallery.search_among(people["probe"], lambda person: person != "ana")  # type: ignore[arg-type]
    assert sorted(searched) == [3, 4] and {str(c.person) for c in found} == {"bob", "cici"}
    assert found[0].person == "bob" and found[0].position == 7
    expected = compare(people["probe"], people["items"][2][2])  # type: ignore[index, arg-type]
    # MCC's own score (from byte cylinders: within 3e-3), never the first stage's coarse one
    assert found[0].score == pytest.approx(expected, abs=3e-3)
    everyone, _ = gallery.search_among(people["probe"], lambda person: True)  # type: ignore[arg-type]
    assert [c.templates for c in everyone if c.person == "ana"] == [2]


def test_removing_a_person_and_replacing_keep_the_gallery_a_projection(
    people: dict[str, object],
) -> None:
    gallery = FingerGallery()
    gallery.add(people["items"])  # type: ignore[arg-type]
    assert (len(gallery), gallery.people()) == (4, 3)
    assert gallery.remove_person("ana") == 2 and 1 not in gallery and len(gallery.index) == 2
    found, _ = gallery.search_among(people["probe"], lambda person: True)  # type: ignore[arg-type]
    assert "ana" not in {c.person for c in found}
    gallery.replace(people["items"][:1])  # type: ignore[index]
    assert (len(gallery), gallery.people(), len(gallery.index)) == (1, 1, 1)


def test_the_threshold_is_the_loosest_point_meeting_the_target_and_says_when_none_does() -> None:
    calibration = Calibration.load(SHIPPED_CALIBRATIONS / "finger-mcc.json")
    points = {p.target_fmr: p.threshold for p in calibration.operating_points}
    assert fpir_threshold(calibration, 1e-2, 1) == (points[1e-2], 1e-2, True)
    assert fpir_threshold(calibration, 1e-2, 5) == (points[1e-3], 1e-3, True)  # 2e-3 each
    assert fpir_threshold(calibration, 1e-3, 0) == (points[1e-3], 1e-3, True)  # as over 1
    # 0.1% over 1,000 templates needs 1e-6 a comparison: the strictest point, and it says so
    assert fpir_threshold(calibration, 1e-3, 1000) == (points[1e-4], 1e-4, False)


def test_a_held_template_comes_back_as_the_index_re_scores_with_it(
    people: dict[str, object],
) -> None:
    gallery = FingerGallery()
    gallery.add(people["items"])  # type: ignore[arg-type]
    original = people["items"][2][2]  # type: ignore[index]
    held = gallery.template(3)
    assert held is not None and held.count == original.count
    assert np.array_equal(held.masks, original.masks)
    # exactly what the index re-scores with: the packed cylinders (mcc_batch.Packed), unpacked
    assert np.array_equal(held.cylinders, Packed.of(original).expand().cylinders)
    assert np.array_equal(held.minutiae[:, :3], original.minutiae[:, :3].astype(np.float32))
    probe = people["probe"]
    assert compare(probe, held) == pytest.approx(compare(probe, original), abs=5e-3)  # type: ignore[arg-type]
    assert gallery.template(99) is None
    gallery.remove_person("bob")
    assert gallery.template(3) is None
