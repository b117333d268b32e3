"""The named readers of a site (edge/devices/readers.py) with fake devices at the reader seam, and
the feedback words: one capture at a time, an unplugged reader dropped and found again, retries
explained, reader settings refused when ambiguous. tests/integration/test_reader_api.py drives
the same pool through HTTP on libfprint's real virtual_image driver."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from edge.devices.feedback import moisture_hint, ridge_share
from edge.devices.fingerprint import (
    CapturedImage,
    FingerprintCaptureRetry,
    FingerprintReaderMissing,
)
from edge.devices.readers import ReaderBusy, ReaderNotConfigured, ReaderPool
from edge.settings import ReaderSettings, Settings
from models.fingerprint.quality import finger_name

IMAGE = CapturedImage(np.zeros((300, 300), np.uint8), 500, "fake", "fake")


class FakeReader:
    """Answers what it is told to, one capture at a time; records being closed."""

    def __init__(self, outcomes: list[object], gate: threading.Event | None = None) -> None:
        self.outcomes = outcomes
        self.gate = gate  # a capture waits on it, to hold the reader busy
        self.closed = False
        self.waits: list[float] = []

    def capture(self, timeout_s: float) -> CapturedImage:
        self.waits.append(timeout_s)
        if self.gate is not None:
            self.gate.wait(60)  # set by the test: only a failing test waits this long
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        assert isinstance(outcome, CapturedImage)
        return outcome

    def close(self) -> None:
        self.closed = True


def pool_of(*readers: FakeReader, max_wait_s: float = 20.0) -> tuple[ReaderPool, list[str]]:
    opened: list[str] = []
    queue = list(readers)

    def opener(settings: ReaderSettings) -> FakeReader:
        if not queue:
            raise FingerprintReaderMissing(reason="no_device")
        opened.append(settings.name)
        return queue.pop(0)

    settings = [ReaderSettings(name="desk-1", max_wait_s=max_wait_s)]
    return ReaderPool(settings, opener), opened


def test_a_capture_is_bounded_by_the_readers_own_limit() -> None:
    reader = FakeReader([IMAGE])
    pool, _ = pool_of(reader, max_wait_s=5)
    assert pool.capture("desk-1", 30) is IMAGE
    assert reader.waits == [5]


def test_a_second_capture_on_a_busy_reader_is_refused_not_queued() -> None:
    release = threading.Event()
    pool, _ = pool_of(FakeReader([IMAGE], gate=release))
    first = threading.Thread(target=pool.capture, args=("desk-1", 5))
    first.start()
    while pool.state("desk-1")[0] != "busy":
        time.sleep(0.005)
    with pytest.raises(ReaderBusy) as caught:
        pool.capture("desk-1", 5)
    assert (caught.value.code, caught.value.status) == ("reader_busy", 409)
    release.set()
    first.join()
    assert pool.state("desk-1") == ("ready", None)


def test_an_unplugged_reader_is_dropped_said_so_and_found_again() -> None:
    unplugged = FingerprintReaderMissing(reason="removed", detail="gone")
    first, second = FakeReader([unplugged]), FakeReader([IMAGE])
    pool, opened = pool_of(first, second)
    with pytest.raises(FingerprintReaderMissing) as caught:
        pool.capture("desk-1", 5)
    assert caught.value.details["reason"] == "removed"
    assert "disconnected during the capture" in caught.value.message.en
    assert first.closed
    assert pool.capture("desk-1", 5) is IMAGE
    assert opened == ["desk-1", "desk-1"]


def test_a_reader_that_cannot_be_opened_is_absent_with_its_problem() -> None:
    pool, _ = pool_of()
    assert pool.state("desk-1") == ("absent", "fingerprint_reader_missing")
    with pytest.raises(FingerprintReaderMissing):
        pool.capture("desk-1", 5)


def test_a_sensor_retry_says_what_to_do_for_its_reason() -> None:
    pool, _ = pool_of(FakeReader([FingerprintCaptureRetry(reason="too-short")]))
    with pytest.raises(FingerprintCaptureRetry) as caught:
        pool.capture("desk-1", 5)
    assert "lifted too soon" in caught.value.message.en
    assert caught.value.details["reason"] == "too-short"


def test_an_unknown_reader_name_is_not_configured() -> None:
    pool, _ = pool_of()
    with pytest.raises(ReaderNotConfigured):
        pool.capture("gate-9", 5)


def test_reader_settings_refuse_a_name_twice_and_a_folder_without_its_driver() -> None:
    with pytest.raises(ValidationError, match="unique"):
        Settings(readers=[{"name": "a"}, {"name": "a"}])
    with pytest.raises(ValidationError, match="folder"):
        Settings(readers=[{"name": "a", "folder": "/tmp"}])
    with pytest.raises(ValidationError):
        ReaderSettings(name="a b")


def test_finger_names_follow_iso_positions() -> None:
    assert finger_name(1).as_dict() == {"id": "Ibu jari kanan", "en": "right thumb"}
    assert finger_name(7).as_dict() == {"id": "Telunjuk kiri", "en": "left index finger"}
    with pytest.raises(ValueError):
        finger_name(11)


def test_ridge_share_tells_thin_ridges_from_thick_ones() -> None:
    columns = np.arange(256) % 8
    thin = np.where(columns == 0, 0, 255).astype(np.uint8)[None, :].repeat(256, axis=0)
    thick = np.where(columns < 7, 0, 255).astype(np.uint8)[None, :].repeat(256, axis=0)
    assert moisture_hint(ridge_share(thin)) == "too_dry"
    assert moisture_hint(ridge_share(thick)) == "too_wet"
    assert ridge_share(np.full((256, 256), 200, np.uint8)) is None  # nothing on the glass


def test_folder_reader_settings_open_a_folder_reader(tmp_path: Path) -> None:
    from PIL import Image

    Image.fromarray(np.full((300, 300), 128, np.uint8)).save(tmp_path / "a.tif")
    reader = ReaderSettings(name="demo", driver="folder", folder=tmp_path)
    pool = ReaderPool([reader])
    assert pool.capture("demo", 1).source == str(tmp_path / "a.tif")


def test_a_status_check_under_way_does_not_refuse_a_capture() -> None:
    opening = threading.Event()
    release = threading.Event()

    def slow_opener(_: ReaderSettings) -> FakeReader:
        opening.set()
        release.wait(60)  # the open a status check does, still under way
        return FakeReader([IMAGE])

    pool = ReaderPool([ReaderSettings(name="desk-1")], slow_opener)
    checking = threading.Thread(target=pool.state, args=("desk-1",))
    checking.start()
    assert opening.wait(60)  # the status check holds the reader
    threading.Timer(0.2, release.set).start()
    assert pool.capture("desk-1", 5) is IMAGE
    checking.join()
