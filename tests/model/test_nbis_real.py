"""The built NBIS library on real FVC2002 prints and on synthetic ridges with a known answer."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from models.calibration import Calibration
from models.fingerprint import evaluation, nbis
from models.fingerprint.minutiae import BIFURCATION, ENDING, MinutiaeTemplate

pytestmark = [pytest.mark.model, pytest.mark.usefixtures("nbis_library")]

SHIPPED = Path(nbis.__file__).resolve().parents[1] / "calibrations" / "finger-nbis.json"
FINGERS = ("101", "102", "103", "104", "105")


@pytest.fixture(scope="module")
def db1(fingerprints: Path) -> Path:
    return fingerprints / "fvc2002-db1_b"


def _template(folder: Path, name: str) -> MinutiaeTemplate:
    return nbis.extract(nbis.read_image((folder / f"{name}.tif").read_bytes()), 500)


def _ridges(fill: int, centres: range, size: int = 300) -> np.ndarray:
    """Horizontal dark ridges (centres at y = 5, 15, ...), each row of `centres` painted with
    `fill` between x = 140 and 160: light cuts ridges into two endings, dark bridges a valley
    with two bifurcations. The left feature at x = 140, the right one at x = 160."""
    y = np.arange(size, dtype=np.float64)[:, None]
    image = np.repeat(128 + 100 * np.cos(2 * np.pi * y / 10.0), size, axis=1)
    for centre in centres:
        image[centre - 3 : centre + 4, 140:161] = fill
    return np.clip(image, 0, 255).astype(np.uint8)


def _angles_near(template: MinutiaeTemplate, x: float, y: float) -> list[tuple[float, int]]:
    """(angle, type) of the minutiae within 8 px of (x, y)."""
    rows = template.minutiae
    near = rows[np.hypot(rows[:, 0] - x, rows[:, 1] - y) < 8]
    return [(float(angle), int(kind)) for angle, kind in near[:, [2, 4]]]


def _assert_features(image: np.ndarray, centres: range, kind: int, turns: int) -> None:
    """Each left feature points to +x and each right one to -x, both turned by rot90 `turns`."""
    size = image.shape[0]
    template = nbis.extract(np.ascontiguousarray(np.rot90(image, turns)), 500)
    for centre in centres:
        for x, angle in ((140, 0.0), (160, np.pi)):
            # np.rot90 turns the picture anticlockwise: (x, y) -> (y, size - 1 - x).
            px, py = (centre, size - 1 - x) if turns else (x, centre)
            expected = (angle + turns * np.pi / 2) % (2 * np.pi)
            found = _angles_near(template, px, py)
            assert len(found) == 1, (centre, x, found)
            ((got, got_kind),) = found
            gap = (got - expected + np.pi) % (2 * np.pi) - np.pi
            assert abs(gap) < 0.2 and got_kind == kind, (centre, x, got, expected, got_kind)


@pytest.mark.parametrize("db", ["fvc2002-db1_b", "fvc2002-db3_b"])
def test_real_prints_give_a_plausible_number_of_minutiae(fingerprints: Path, db: str) -> None:
    for finger in FINGERS:
        template = _template(fingerprints / db, f"{finger}_1")
        assert 20 <= template.count <= 100, (db, finger, template.count)
        assert template.resolution_ppi == 500
        assert set(np.unique(template.minutiae[:, 4])) <= {ENDING, BIFURCATION}


def test_the_same_finger_scores_higher_than_other_fingers(db1: Path) -> None:
    first = {f: _template(db1, f"{f}_1") for f in FINGERS}
    second = {f: _template(db1, f"{f}_2") for f in FINGERS}
    for finger in FINGERS:
        genuine = nbis.bozorth3(first[finger], second[finger])
        impostors = [nbis.bozorth3(first[finger], second[o]) for o in FINGERS if o != finger]
        assert genuine > max(impostors), (finger, genuine, impostors)


def test_bozorth3_is_symmetric_because_the_wrapper_takes_both_directions(db1: Path) -> None:
    a, b = _template(db1, "103_1"), _template(db1, "103_4")
    assert nbis.bozorth3(a, b) == nbis.bozorth3(b, a)


@pytest.mark.parametrize("turns", [0, 1], ids=["as_drawn", "turned_anticlockwise"])
def test_a_ridge_ending_points_away_from_its_ridge(turns: int) -> None:
    centres = range(35, 270, 20)  # ridge centres
    _assert_features(_ridges(228, centres), centres, ENDING, turns)


@pytest.mark.parametrize("turns", [0, 1], ids=["as_drawn", "turned_anticlockwise"])
def test_a_bifurcation_points_along_its_stem(turns: int) -> None:
    centres = range(40, 270, 20)  # valley centres
    _assert_features(_ridges(28, centres), centres, BIFURCATION, turns)


def test_a_1000_ppi_scan_is_resampled_and_keeps_its_own_pixels(db1: Path) -> None:
    image = nbis.read_image((db1 / "104_1.tif").read_bytes())
    fine = cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    template = nbis.extract(fine, 1000)
    assert (template.width, template.height, template.resolution_ppi) == (776, 748, 1000)
    assert template.minutiae[:, 0].max() > 388  # coordinates are in the 1000 ppi image
    assert nbis.bozorth3(template, _template(db1, "104_1")) > 100


@pytest.mark.parametrize(
    "image",
    [
        np.random.default_rng(0).integers(0, 256, (374, 388), dtype=np.uint8),
        np.full((374, 388), 200, dtype=np.uint8),
    ],
    ids=["noise", "flat"],
)
def test_images_without_a_print_are_refused(image: np.ndarray) -> None:
    with pytest.raises(nbis.FingerprintImageInvalid) as caught:
        nbis.extract(image, 500)
    assert caught.value.code == "fingerprint_image_invalid"


def test_a_truncated_tiff_is_refused(db1: Path) -> None:
    data = (db1 / "101_1.tif").read_bytes()
    with pytest.raises(nbis.FingerprintImageInvalid) as caught:
        nbis.read_image(data[: len(data) // 3])
    assert caught.value.details["reason"] == "unreadable"


def test_the_fvc_protocol_has_280_genuine_and_45_impostor_pairs(db1: Path) -> None:
    items = evaluation.scan_folder(db1)
    assert len(evaluation.genuine_pairs(items)) == 280
    assert len(evaluation.impostor_pairs(items, "fvc")) == 45
    assert len(evaluation.impostor_pairs(items, "all")) == 2880


def test_the_eer_on_db1_b_is_near_the_measured_4_5_percent(db1: Path) -> None:
    report = evaluation.evaluate_folder(db1, 500, "all")
    assert not report.failures
    assert report.eer < 0.08


def test_the_shipped_calibration_is_for_bozorth3_scores() -> None:
    calibration = Calibration.load(SHIPPED)
    assert calibration.score_kind == "bozorth3"
    assert calibration.recogniser_id == "finger-nbis"
    assert calibration.n_images == 160
    assert calibration.point_for(1e-2).threshold > calibration.eer_threshold
