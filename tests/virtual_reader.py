"""libfprint's virtual_image sensor, played from a test: real FVC images (or an unplug) pushed
into the socket the driver listens on, for tests that go through the service or a page.

The driver listens at $FP_VIRTUAL_IMAGE once a device is opened and reads only while a capture
is active: what is sent earlier waits in the socket buffer. So a press connects as soon as the
socket accepts, and the next capture takes it; int32 width, int32 height then the pixels, or
(-5, 0) for a device pulled out (tests/integration/test_fingerprint_reader.py says more).
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from tests.conftest import SHARED, _require

FVC = SHARED / "data" / "fingerprints"
CONNECT_WITHIN_S = 60.0  # a press made before the page or service opens the device: a busy CI
# machine can take long to get there; only a failing test waits this long


def fprint_stack_missing() -> str | None:
    """Why the libfprint stack cannot be used here, or None."""
    try:
        import gi

        gi.require_version("FPrint", "2.0")
        from gi.repository import FPrint  # noqa: F401
    except (ImportError, ValueError) as exc:
        return f"libfprint stack not importable ({exc}): run scripts/install_fingerprint_stack.sh"
    return None


def fvc_pixels(name: str) -> npt.NDArray[np.uint8]:
    """One FVC impression as 8-bit grey, read where it lives (never copied)."""
    path = _require(FVC / name, "FVC fingerprint images")
    with Image.open(path) as image:
        return np.asarray(image.convert("L"), dtype=np.uint8)


class VirtualSensor:
    """The person at the virtual_image reader."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self._threads: list[threading.Thread] = []

    def press(self, name: str) -> None:
        """Put this FVC impression on the sensor (taken by the next capture)."""
        pixels = fvc_pixels(name)
        height, width = pixels.shape
        self._send(struct.pack("=ii", width, height) + pixels.tobytes())

    def unplug(self) -> None:
        """Pull the sensor out during the next capture, as a USB cable pulled would."""
        self._send(struct.pack("=ii", -5, 0))

    def _send(self, payload: bytes) -> None:
        thread = threading.Thread(target=self._deliver, args=(payload,), daemon=True)
        thread.start()
        self._threads.append(thread)

    def _deliver(self, payload: bytes) -> None:
        deadline = time.monotonic() + CONNECT_WITHIN_S
        while time.monotonic() < deadline:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                try:
                    client.connect(str(self.socket_path))
                except OSError:  # not listening yet: the device is not open
                    time.sleep(0.05)
                    continue
                client.sendall(payload)
                return

    def join(self) -> None:
        """Wait for every delivery (each ends within CONNECT_WITHIN_S)."""
        for thread in self._threads:
            thread.join(CONNECT_WITHIN_S + 1)


@contextmanager
def virtual_sensor(folder: Path) -> Iterator[VirtualSensor]:
    """FP_* variables for a virtual_image sensor only, set for the block (then restored)."""
    names = ("FP_DRIVERS_ALLOWLIST", "FP_VIRTUAL_IMAGE", "FP_VIRTUAL_DEVICE_STORAGE")
    saved = {name: os.environ.get(name) for name in names}
    path = folder / "image.sock"  # AF_UNIX paths are limited to 107 bytes: keep folder short
    os.environ["FP_DRIVERS_ALLOWLIST"] = "virtual_image"
    os.environ["FP_VIRTUAL_IMAGE"] = str(path)
    os.environ.pop("FP_VIRTUAL_DEVICE_STORAGE", None)
    sensor = VirtualSensor(path)
    try:
        yield sensor
    finally:
        sensor.join()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
