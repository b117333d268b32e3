"""The real libfprint capture path, driven through its virtual drivers with real FVC images.

libfprint's `virtual_image` driver is an image sensor whose "finger" arrives on a Unix socket:
the driver *listens* at $FP_VIRTUAL_IMAGE once the device is opened, and a client sends
int32 width, int32 height (native endianness) then width*height 8-bit pixels. libfprint 1.94
reads the socket only while a capture is active (bytes sent earlier wait in the socket buffer),
but, like libfprint's own tests, these send once the device reports FINGER_STATUS_NEEDED, which
also exercises the reader's prompt hook. Negative headers are commands: (-1, FpDeviceRetry)
a retryable scan failure, (-5, 0) the device being unplugged.
`virtual_device_storage` (env FP_VIRTUAL_DEVICE_STORAGE) is a match-on-chip stand-in: it can
verify and identify on the "sensor" but has no CAPTURE feature.

libfprint reads these variables when an FPrint.Context first enumerates, and every new context
enumerates again, so setting them before LibfprintReader.open() is enough: no subprocess.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from edge.devices.fingerprint import (
    CapturedImage,
    FingerprintCaptureRetry,
    FingerprintCaptureTimeout,
    FingerprintReaderMissing,
    FingerprintReaderUnsupported,
    LibfprintReader,
)
from tests.conftest import SHARED, _require

pytestmark = pytest.mark.model

FVC = SHARED / "data" / "fingerprints"
FINGER_WAIT_S = 30.0  # the device asks for a finger ~15 ms after capture starts; a capture
# returns as soon as the image is in, so only a failing test waits this long (a loaded CI machine
# can take seconds for libfprint's NBIS pass over the image)


@pytest.fixture(scope="module", autouse=True)
def fprint_stack() -> None:
    """Skip locally, fail under CI=true, when PyGObject or the FPrint typelib is missing."""
    try:
        import gi

        gi.require_version("FPrint", "2.0")
        from gi.repository import FPrint  # noqa: F401
    except (ImportError, ValueError) as exc:
        message = (
            f"libfprint stack not importable ({exc}): run scripts/install_fingerprint_stack.sh"
        )
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(message)
        pytest.skip(message)


def fvc_pixels(name: str) -> npt.NDArray[np.uint8]:
    """One FVC2002 impression as 8-bit grayscale, read where it lives (never copied)."""
    path = _require(FVC / name, "FVC2002 fingerprint images")
    with Image.open(path) as image:
        return np.asarray(image.convert("L"), dtype=np.uint8)


@dataclass
class VirtualFinger:
    """Plays the person at libfprint's virtual_image sensor: sends once a finger is needed."""

    socket_path: Path
    needed: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def press(self, pixels: npt.NDArray[np.uint8]) -> None:
        """Put this image on the sensor as soon as it asks for a finger."""
        height, width = pixels.shape
        self._send_when_needed(struct.pack("=ii", width, height) + pixels.tobytes())

    def fail_scan(self, retry_code: int) -> None:
        """Make the sensor report a retryable failure (header -1, then the FpDeviceRetry code)."""
        self._send_when_needed(struct.pack("=ii", -1, retry_code))

    def unplug(self) -> None:
        """Make the sensor disappear mid-capture, as a pulled USB cable would."""
        self._send_when_needed(struct.pack("=ii", -5, 0))

    def _send_when_needed(self, payload: bytes) -> None:
        self.needed.clear()
        thread = threading.Thread(target=self._send, args=(payload,), daemon=True)
        thread.start()
        self._threads.append(thread)

    def _send(self, payload: bytes) -> None:
        if not self.needed.wait(FINGER_WAIT_S):
            return  # the capture under test fails on its own timeout and says why
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(str(self.socket_path))
            client.sendall(payload)  # closing at once is fine: the driver reads what is buffered

    def join(self) -> None:
        """Wait for every sender (they end within FINGER_WAIT_S)."""
        for thread in self._threads:
            thread.join(FINGER_WAIT_S + 1)


@pytest.fixture
def finger(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[VirtualFinger]:
    """Environment for a virtual_image sensor only (a developer's real reader stays untouched)."""
    # A short directory: AF_UNIX paths are limited to 107 bytes.
    path = tmp_path_factory.mktemp("fp") / "image.sock"
    monkeypatch.setenv("FP_DRIVERS_ALLOWLIST", "virtual_image:virtual_device_storage")
    monkeypatch.setenv("FP_VIRTUAL_IMAGE", str(path))
    monkeypatch.delenv("FP_VIRTUAL_DEVICE_STORAGE", raising=False)
    virtual = VirtualFinger(path)
    yield virtual
    virtual.join()


@pytest.fixture
def reader(finger: VirtualFinger) -> Iterator[LibfprintReader]:
    """The virtual_image sensor opened through the production code path."""
    opened = LibfprintReader.open("virtual_image", on_finger_needed=finger.needed.set)
    with contextlib.closing(opened):
        yield opened


@pytest.mark.parametrize("name", ["fvc2002-db1_b/101_1.tif", "fvc2002-db3_b/105_3.tif"])
def test_capture_returns_the_exact_image_the_sensor_sent(
    reader: LibfprintReader, finger: VirtualFinger, name: str
) -> None:
    sent = fvc_pixels(name)
    finger.press(sent)

    captured = reader.capture(timeout_s=FINGER_WAIT_S)

    assert isinstance(captured, CapturedImage)
    assert (captured.height, captured.width) == sent.shape
    # The driver sets no flip/invert flags, so libfprint's normalisation leaves pixels untouched.
    np.testing.assert_array_equal(captured.pixels, sent)
    # virtual_image reports ppmm 0 like most drivers: libfprint's own 500 ppi assumption applies.
    assert (captured.resolution_ppi, captured.resolution_assumed) == (500, True)
    assert captured.driver == "virtual_image"


def test_one_reader_captures_finger_after_finger(
    reader: LibfprintReader, finger: VirtualFinger
) -> None:
    for name in ("fvc2002-db1_b/102_1.tif", "fvc2002-db1_b/102_2.tif"):
        sent = fvc_pixels(name)
        finger.press(sent)
        np.testing.assert_array_equal(reader.capture(timeout_s=FINGER_WAIT_S).pixels, sent)


def test_no_finger_within_the_timeout_is_a_capture_timeout_and_the_reader_recovers(
    reader: LibfprintReader, finger: VirtualFinger
) -> None:
    with pytest.raises(FingerprintCaptureTimeout) as caught:
        reader.capture(timeout_s=0.3)
    assert caught.value.code == "fingerprint_capture_timeout"

    sent = fvc_pixels("fvc2002-db1_b/103_1.tif")
    finger.press(sent)
    np.testing.assert_array_equal(reader.capture(timeout_s=FINGER_WAIT_S).pixels, sent)


def test_sensor_retry_is_a_capture_retry_with_libfprints_reason(
    reader: LibfprintReader, finger: VirtualFinger
) -> None:
    from gi.repository import FPrint

    finger.fail_scan(int(FPrint.DeviceRetry.CENTER_FINGER))

    with pytest.raises(FingerprintCaptureRetry) as caught:
        reader.capture(timeout_s=FINGER_WAIT_S)
    assert caught.value.details["reason"] == "center-finger"


def test_blank_image_is_a_capture_retry(reader: LibfprintReader, finger: VirtualFinger) -> None:
    # libfprint runs NBIS on every capture; no minutiae at all becomes a retry, not an image.
    finger.press(np.full((300, 300), 255, dtype=np.uint8))
    with pytest.raises(FingerprintCaptureRetry):
        reader.capture(timeout_s=FINGER_WAIT_S)


def test_reader_unplugged_during_capture_is_fingerprint_reader_missing(
    reader: LibfprintReader, finger: VirtualFinger
) -> None:
    finger.unplug()
    with pytest.raises(FingerprintReaderMissing) as caught:
        reader.capture(timeout_s=FINGER_WAIT_S)
    assert caught.value.details["reason"] == "removed"


def test_match_on_chip_reader_is_refused(
    finger: VirtualFinger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # virtual_device_storage verifies and identifies on the "sensor" but cannot capture.
    monkeypatch.delenv("FP_VIRTUAL_IMAGE")
    monkeypatch.setenv("FP_VIRTUAL_DEVICE_STORAGE", str(finger.socket_path.with_name("moc")))

    with pytest.raises(FingerprintReaderUnsupported) as caught:
        LibfprintReader.open()
    assert caught.value.code == "fingerprint_reader_unsupported"
    assert caught.value.details["devices"][0]["driver"] == "virtual_device_storage"


def test_image_reader_is_chosen_over_a_match_on_chip_one(
    finger: VirtualFinger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FP_VIRTUAL_DEVICE_STORAGE", str(finger.socket_path.with_name("moc")))
    with contextlib.closing(LibfprintReader.open()) as opened:
        assert opened.driver == "virtual_image"


def test_no_reader_is_fingerprint_reader_missing(
    finger: VirtualFinger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FP_VIRTUAL_IMAGE")
    with pytest.raises(FingerprintReaderMissing) as caught:
        LibfprintReader.open()
    assert (caught.value.code, caught.value.status) == ("fingerprint_reader_missing", 503)
    assert caught.value.details["reason"] == "no_device"


def test_a_finger_enrolled_through_the_reader_verifies_and_another_finger_is_rejected(
    reader: LibfprintReader, finger: VirtualFinger, tmp_path: Path
) -> None:
    """Capture through real libfprint, enrol into a real site database, verify at the threshold."""
    from datetime import date

    from edge.settings import Settings
    from edge.site import Site
    from enrollment.records import IdentityDraft
    from enrollment.repository import IdentityRepository

    site = Site(Settings(model_dir=tmp_path / "no-face-models", data_dir=tmp_path))
    with site.db.transaction() as tx:
        draft = IdentityDraft(
            "staff", "Pak Wawan", date(1980, 5, 15), "M", nip="198005152005031001"
        )
        staff = IdentityRepository(tx, site.vault).insert(draft, "UPT-TEST")

    def captured(name: str) -> CapturedImage:
        finger.press(fvc_pixels(name))
        return reader.capture(timeout_s=FINGER_WAIT_S)

    for position, number in ((2, 101), (3, 102)):  # right index and middle fingers
        for impression in (1, 2, 3):
            shot = captured(f"fvc2002-db1_b/{number}_{impression}.tif")
            feedback = site.fingers.enrol(staff, position, shot.pixels, shot.resolution_ppi, "desk")
            assert feedback.accepted, feedback.quality.reason_messages()
    assert site.fingers.is_complete(staff)

    same = captured("fvc2002-db1_b/101_7.tif")
    other = captured("fvc2002-db1_b/104_7.tif")
    accepted = site.fingers.verify(staff, same.pixels, same.resolution_ppi, 1e-2, position=2)
    rejected = site.fingers.verify(staff, other.pixels, other.resolution_ppi, 1e-2, position=2)
    assert accepted.match and accepted.score >= accepted.threshold
    assert not rejected.match
    site.close()
