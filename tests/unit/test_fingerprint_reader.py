"""Choosing a libfprint device (fakes with FPrint.Device's API), resolution, and the folder reader."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge.devices.fingerprint import (
    CapturedImage,
    FingerprintCaptureTimeout,
    FingerprintReader,
    FingerprintReaderMissing,
    FingerprintReaderUnsupported,
    FolderReader,
    choose_image_device,
    resolution_from_ppmm,
)
from kernel.errors import GerbangError

CAPTURE = object()  # stands in for FPrint.DeviceFeature.CAPTURE
VERIFY = object()


@dataclass
class FakeDevice:
    """The slice of FPrint.Device that device selection reads."""

    driver: str
    features: tuple[object, ...]
    name: str = "fake sensor"

    def get_driver(self) -> str:
        return self.driver

    def get_name(self) -> str:
        return self.name

    def has_feature(self, feature: object) -> bool:
        return feature in self.features


def test_match_on_chip_device_is_refused_with_a_bilingual_message() -> None:
    goodix = FakeDevice("goodixmoc", (VERIFY,), "Goodix MOC Fingerprint Sensor")

    with pytest.raises(FingerprintReaderUnsupported) as caught:
        choose_image_device([goodix], CAPTURE)

    error = caught.value
    assert (error.code, error.status) == ("fingerprint_reader_unsupported", 503)
    assert "match-on-chip" in error.message.id and "match-on-chip" in error.message.en
    assert error.details["devices"] == [
        {"driver": "goodixmoc", "name": "Goodix MOC Fingerprint Sensor"}
    ]
    assert error.to_payload()["error"]["code"] == "fingerprint_reader_unsupported"


def test_image_reader_is_chosen_when_a_match_on_chip_one_is_also_plugged_in() -> None:
    image_reader = FakeDevice("uru4000", (CAPTURE, VERIFY))
    devices = [FakeDevice("goodixmoc", (VERIFY,)), image_reader]

    assert choose_image_device(devices, CAPTURE) is image_reader


def test_asking_for_a_match_on_chip_driver_by_name_is_still_refused() -> None:
    devices = [FakeDevice("goodixmoc", (VERIFY,)), FakeDevice("uru4000", (CAPTURE,))]

    with pytest.raises(FingerprintReaderUnsupported):
        choose_image_device(devices, CAPTURE, driver="goodixmoc")


def test_no_device_is_fingerprint_reader_missing() -> None:
    with pytest.raises(FingerprintReaderMissing) as caught:
        choose_image_device([], CAPTURE)
    assert (caught.value.code, caught.value.status) == ("fingerprint_reader_missing", 503)


def test_wanted_driver_absent_is_missing_and_lists_what_was_found() -> None:
    with pytest.raises(FingerprintReaderMissing) as caught:
        choose_image_device([FakeDevice("elan", (CAPTURE,))], CAPTURE, driver="uru4000")
    assert caught.value.details["found"] == ["elan"]


@pytest.mark.parametrize(
    ("ppmm", "expected"),
    [(0.0, (500, True)), (19.685, (500, False)), (22.4, (569, False))],
)
def test_resolution_comes_from_ppmm_or_falls_back_when_unknown(
    ppmm: float, expected: tuple[int, bool]
) -> None:
    assert resolution_from_ppmm(ppmm, default_ppi=500) == expected


def test_captured_image_refuses_anything_but_2d_uint8() -> None:
    with pytest.raises(ValueError, match="uint8"):
        CapturedImage(np.zeros((4, 4), dtype=np.float32), 500, "x", "folder")


def _write_prints(folder: Path, count: int) -> list[np.ndarray]:
    """Small synthetic grayscale TIFFs, each a distinct gradient."""
    images = []
    for index in range(count):
        pixels = (np.arange(30 * 20, dtype=np.uint16).reshape(30, 20) + 40 * index) % 256
        images.append(pixels.astype(np.uint8))
        Image.fromarray(images[-1]).save(folder / f"10{index}_1.tif")
    return images


def test_folder_reader_yields_images_in_name_order_at_the_configured_resolution(
    tmp_path: Path,
) -> None:
    sent = _write_prints(tmp_path, 2)
    reader: FingerprintReader = FolderReader(tmp_path, resolution_ppi=569)

    first, second = reader.capture(1.0), reader.capture(1.0)

    np.testing.assert_array_equal(first.pixels, sent[0])
    np.testing.assert_array_equal(second.pixels, sent[1])
    assert (first.width, first.height, first.resolution_ppi) == (20, 30, 569)
    assert first.source is not None and first.source.endswith("100_1.tif")
    reader.close()


def test_folder_reader_times_out_when_exhausted_unless_looping(tmp_path: Path) -> None:
    sent = _write_prints(tmp_path, 1)
    once, looping = FolderReader(tmp_path), FolderReader(tmp_path, loop=True)
    once.capture(1.0)
    looping.capture(1.0)

    with pytest.raises(FingerprintCaptureTimeout):
        once.capture(1.0)
    np.testing.assert_array_equal(looping.capture(1.0).pixels, sent[0])


def test_folder_reader_iterates_every_file_for_imports(tmp_path: Path) -> None:
    _write_prints(tmp_path, 3)
    assert [Path(image.source or "").name for image in FolderReader(tmp_path)] == [
        "100_1.tif", "101_1.tif", "102_1.tif",
    ]  # fmt: skip


def test_empty_folder_is_a_missing_reader(tmp_path: Path) -> None:
    with pytest.raises(FingerprintReaderMissing) as caught:
        FolderReader(tmp_path)
    assert caught.value.details["reason"] == "empty_folder"


def test_unreadable_file_is_an_invalid_image(tmp_path: Path) -> None:
    (tmp_path / "broken.tif").write_bytes(b"not a tiff")
    with pytest.raises(GerbangError) as caught:
        FolderReader(tmp_path).capture(1.0)
    assert caught.value.code == "image_invalid"
