"""LeaderExtractor.extract keeps nbis.extract's contract: our angles, types, qualities, pixels
of the image as given (any resolution), and the same refusals; and pyfing's pre- and
post-processing (padding, thresholds, rescaling) as pure functions."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from models.fingerprint import leader, nbis
from models.fingerprint.minutiae import BIFURCATION, ENDING
from models.manifest import Conversion, ModelFile
from models.store import ModelStore

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "leader_synthetic.npz"


@pytest.fixture(scope="module")
def extractor(tmp_path_factory: pytest.TempPathFactory) -> leader.LeaderExtractor:
    store = ModelStore(tmp_path_factory.mktemp("models"), tmp_path_factory.mktemp("cache"))
    try:
        return leader.load_extractor(store, threads=1)
    except leader.FingerprintModelMissing:
        pytest.skip("pyfing 0.7.3 is not installed (pip install -e .)")


@pytest.fixture(scope="module")
def synthetic() -> np.ndarray:
    """The generated print of the fixture, mirrored out to 192 x 160 (extract refuses < 150 px)."""
    image = np.load(FIXTURE)["image"]
    return cv2.copyMakeBorder(image, 32, 32, 32, 32, cv2.BORDER_REFLECT_101)


def test_padding_reaches_a_multiple_of_32_centred_like_pyfing() -> None:
    assert leader.padding_for(374, 388) == leader.Padding(5, 5, 14, 14)
    assert leader.padding_for(300, 300) == leader.Padding(10, 10, 10, 10)
    assert leader.padding_for(129, 64) == leader.Padding(15, 16, 0, 0)
    image = np.full((40, 33), 7, np.uint8)
    image[0, 0] = 200
    tensor, pad = leader.network_input(image)
    assert tensor.shape == (1, 1, 64, 64) and tensor.dtype == np.float32
    assert tensor[0, 0, 0, 0] == 200 and tensor[0, 0, pad.top + 1, pad.left + 1] == 7


def test_minutiae_come_from_the_suppressed_map_with_pyfings_thresholds() -> None:
    maps = np.zeros((4, 10, 12), np.float32)
    maps[3, 2, 3], maps[3, 7, 9], maps[3, 5, 5] = 0.9, 0.6, 0.59
    maps[1, 2, 3], maps[1, 7, 9] = 0.0, -np.pi / 2  # LEADER: into the ridge; ours away from it
    maps[2, 2, 3], maps[2, 7, 9] = 0.5, 0.49
    rows = leader.minutiae_from_maps(maps)
    np.testing.assert_allclose(rows[:, :2], [[3, 2], [9, 7]])
    np.testing.assert_allclose(rows[:, 2], [np.pi, np.pi / 2])
    np.testing.assert_allclose(rows[:, 3], [90, 60], atol=1e-4)
    assert list(rows[:, 4]) == [ENDING, BIFURCATION]


def test_extract_gives_our_conventions(
    extractor: leader.LeaderExtractor, synthetic: np.ndarray
) -> None:
    template = extractor.extract(synthetic, 500)
    rows = template.minutiae
    assert template.extractor == leader.EXTRACTOR == "leader (pyfing 0.7.3)"
    assert (template.width, template.height, template.resolution_ppi) == (160, 192, 500)
    assert template.count >= leader.MIN_MINUTIAE
    assert np.all((rows[:, 2] >= 0) & (rows[:, 2] < 2 * np.pi))
    assert np.all((rows[:, 3] >= 60) & (rows[:, 3] <= 100))
    assert set(np.unique(rows[:, 4])) <= {ENDING, BIFURCATION}
    assert np.all((rows[:, 0] < 160) & (rows[:, 1] < 192))


def test_another_resolution_is_rescaled_and_positions_come_back_in_its_pixels(
    extractor: leader.LeaderExtractor, synthetic: np.ndarray
) -> None:
    at_500 = extractor.extract(synthetic, 500)
    big = cv2.resize(synthetic, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    at_1000 = extractor.extract(big, 1000)
    assert (at_1000.width, at_1000.height, at_1000.resolution_ppi) == (320, 384, 1000)
    np.testing.assert_array_equal(at_1000.minutiae[:, :2] % 1, 0)  # whole pixels, as pyfing
    # The same ridges, so minutiae at (about) twice the positions.
    found = [np.hypot(*(at_1000.minutiae[:, :2] - 2 * xy).T).min() for xy in at_500.minutiae[:, :2]]
    assert np.median(found) <= 4


@pytest.mark.parametrize(
    ("image", "ppi"),
    [
        (np.zeros((300, 300), np.uint8), 500),  # no ridges
        (np.zeros((100, 300), np.uint8), 500),  # too small
        (np.zeros((300, 300), np.float32), 500),  # not 8-bit grey
    ],
)
def test_images_without_a_print_are_refused(
    extractor: leader.LeaderExtractor, image: np.ndarray, ppi: int
) -> None:
    with pytest.raises(nbis.FingerprintImageInvalid):
        extractor.extract(image, ppi)


def test_missing_pyfing_weights_give_a_clear_error(tmp_path: Path) -> None:
    file = ModelFile(
        role="finger_extractor", name="leader_x", path="converted/leader_x.onnx", sha256=None,
        size=None, licence="MIT", kind="leader",
        conversion=Conversion("leader", "no_such_package_here", "models/x.h5", "0" * 64),
    )  # fmt: skip
    with pytest.raises(leader.FingerprintModelMissing) as caught:
        leader.ready_path(ModelStore(tmp_path / "m", tmp_path / "c"), file)
    assert caught.value.code == "fingerprint_model_missing" and caught.value.status == 503
    assert "pyfing" in caught.value.message.en and "pyfing" in caught.value.message.id
    assert "no_such_package_here" in caught.value.details["reason"]
