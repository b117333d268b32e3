"""NBIS conventions without the library: LFS <-> ours <-> NIST xyt, the C struct layout, decoding."""

from __future__ import annotations

import ctypes
import io
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kernel.errors import Unavailable
from models.fingerprint import nbis
from models.fingerprint.minutiae import BIFURCATION, ENDING, OTHER, MinutiaeTemplate

ALL_DIRECTIONS = np.arange(32)


def _nist_lfs2nist_xyt(x: int, y: int, direction: int, height: int) -> tuple[int, int, int]:
    """NBIS xytreps.c lfs2nist_minutia_XYT, transcribed (sround = round half away from zero)."""
    t = (270 - math.floor(direction * (180 / 16) + 0.5)) % 360
    return x, height - y, t


def _lfs_records(count: int, seed: int = 0) -> np.ndarray:
    """Plausible MINDTCT output: integer pixels, any direction unit, reliability, both types."""
    rng = np.random.default_rng(seed)
    records = np.zeros(count, dtype=nbis._MINUTIA_DTYPE)
    records["x"] = rng.integers(0, 388, count)
    records["y"] = rng.integers(0, 374, count)
    records["direction"] = rng.integers(0, 32, count)
    records["reliability"] = rng.uniform(0.01, 0.99, count)
    records["type"] = rng.integers(0, 2, count)
    return records


def test_every_lfs_direction_survives_a_round_trip_through_our_angle() -> None:
    angles = nbis.lfs_direction_to_angle(ALL_DIRECTIONS)
    assert np.all((angles >= 0) & (angles < 2 * np.pi))
    np.testing.assert_array_equal(nbis.angle_to_lfs_direction(angles), ALL_DIRECTIONS)


@pytest.mark.parametrize(
    ("direction", "angle"),
    [(24, 0.0), (16, np.pi / 2), (8, np.pi), (0, 3 * np.pi / 2)],
    ids=["right", "up", "left", "down"],
)
def test_lfs_direction_units_count_clockwise_from_pointing_down(
    direction: int, angle: float
) -> None:
    assert nbis.lfs_direction_to_angle(direction) == pytest.approx(angle)


def test_our_angle_is_nist_xyt_theta_in_radians() -> None:
    ours = np.degrees(nbis.lfs_direction_to_angle(ALL_DIRECTIONS))
    nist = [_nist_lfs2nist_xyt(0, 0, int(d), 0)[2] for d in ALL_DIRECTIONS]
    # NIST rounds to whole degrees; ours keeps the exact 11.25-degree steps.
    gap = (ours - np.array(nist) + 180) % 360 - 180
    assert np.abs(gap).max() <= 0.5 + 1e-9


def test_angles_between_units_snap_to_the_nearest_one_and_wrap_at_two_pi() -> None:
    step = np.radians(11.25)
    assert nbis.angle_to_lfs_direction(0.4 * step) == 24
    assert nbis.angle_to_lfs_direction(-0.4 * step) == 24
    assert nbis.angle_to_lfs_direction(2 * np.pi - 0.4 * step) == 24
    assert nbis.angle_to_lfs_direction(step * 0.6) == 23  # anticlockwise = fewer LFS units


def test_lfs_records_round_trip_through_our_rows() -> None:
    records = _lfs_records(60)
    rows = nbis.rows_from_lfs(records)
    assert rows.shape == (60, 5)
    back = nbis.lfs_from_rows(rows)
    for name in ("x", "y", "direction", "type"):
        np.testing.assert_array_equal(back[name], records[name])
    np.testing.assert_allclose(back["reliability"], records["reliability"], rtol=1e-12)


def test_rows_carry_quality_0_to_100_and_our_type_codes() -> None:
    records = _lfs_records(2)
    records["type"] = [1, 0]
    records["reliability"] = [0.25, 0.99]
    rows = nbis.rows_from_lfs(records)
    assert rows[:, 4].tolist() == [ENDING, BIFURCATION]
    assert rows[:, 3].tolist() == pytest.approx([25.0, 99.0])


def test_other_minutiae_go_to_nbis_as_ridge_endings() -> None:
    rows = np.array([[10.0, 20.0, 0.0, 50.0, OTHER]])
    assert nbis.lfs_from_rows(rows)["type"].tolist() == [1]


def test_nist_xyt_is_what_nists_mindtct_would_write() -> None:
    records = _lfs_records(40, seed=1)
    template = MinutiaeTemplate(388, 374, 500, nbis.rows_from_lfs(records), "test")
    xyt = nbis.nist_xyt(template)
    expected = [_nist_lfs2nist_xyt(r["x"], r["y"], r["direction"], 374) for r in records]
    np.testing.assert_array_equal(xyt[:, :3], np.array(expected))
    np.testing.assert_array_equal(xyt[:, 3], np.floor(records["reliability"] * 100 + 0.5))


def test_records_written_through_numpy_land_in_the_c_struct_fields() -> None:
    assert nbis._MINUTIA_DTYPE.itemsize == ctypes.sizeof(nbis._Minutia)
    native = nbis._Template()
    records = _lfs_records(3, seed=2)
    np.frombuffer(native.minutiae, dtype=nbis._MINUTIA_DTYPE)[:3] = records
    second = native.minutiae[1]
    assert (second.x, second.y, second.direction, second.type) == tuple(
        int(records[1][name]) for name in ("x", "y", "direction", "type")
    )
    assert second.reliability == records[1]["reliability"]


def _tiff(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="TIFF")
    return buffer.getvalue()


def test_a_16_bit_scan_keeps_its_top_byte() -> None:
    wide = np.full((200, 200), 0xAB00, dtype=np.uint16)
    assert np.all(nbis.read_image(_tiff(wide)) == 0xAB)


def test_colour_images_are_read_as_grey() -> None:
    colour = np.zeros((200, 200, 3), dtype=np.uint8)
    colour[..., 1] = 200
    grey = nbis.read_image(_tiff(colour))
    assert grey.shape == (200, 200)
    assert grey.dtype == np.uint8


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"II*\x00not really a tiff", "unreadable"),
        (_tiff(np.zeros((100, 300), dtype=np.uint8)), "too_small"),
        (_tiff(np.zeros((150, 2100), dtype=np.uint8)), "too_large"),
        (_tiff(np.zeros((200, 200), dtype=np.float32), "F"), "not_greyscale"),
    ],
    ids=["garbage", "small", "large", "float"],
)
def test_bad_files_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(nbis.FingerprintImageInvalid) as caught:
        nbis.read_image(data)
    assert caught.value.code == "fingerprint_image_invalid"
    assert caught.value.details["reason"] == reason


def test_ridge_band_ratio_tells_ridges_from_noise_and_blank_images() -> None:
    x = np.arange(300)
    ridges = np.tile((128 + 100 * np.sin(2 * np.pi * x / 9)).astype(np.uint8), (300, 1))
    noise = np.random.default_rng(0).integers(0, 256, (300, 300), dtype=np.uint8)
    assert nbis.ridge_band_ratio(ridges) > 0.9
    assert nbis.ridge_band_ratio(noise) < nbis.MIN_RIDGE_BAND_RATIO
    assert nbis.ridge_band_ratio(np.full((300, 300), 255, dtype=np.uint8)) == 0.0


def test_a_missing_library_is_a_503_that_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(nbis.FingerprintExtractorMissing) as caught:
        nbis.load_library(tmp_path / "libafis_lfs.so")
    error = caught.value
    assert isinstance(error, Unavailable)
    assert (error.code, error.status) == ("fingerprint_extractor_missing", 503)
    assert "scripts/build_nbis.sh" in error.message.en
