"""Fingerprint readers: one Protocol, a libfprint reader for image sensors, a folder reader.

Gerbang extracts and compares templates itself (NBIS, ISO/IEC 19794-2), so that prints can be
deduplicated, synced to other sites and migrated; only readers that hand out the *image* serve
that. A match-on-chip sensor keeps the print inside the sensor and only answers "same finger or
not": no image, no portable template. It is refused when the reader is opened.

libfprint-2 is reached through PyGObject, imported only when a `LibfprintReader` is opened, so
this module and `FolderReader` work without it (`scripts/install_fingerprint_stack.sh`).

Errors (they extend the tree in kernel/errors.py):
InputError
├─ FingerprintCaptureTimeout    fingerprint_capture_timeout    408: no finger within the timeout
└─ FingerprintCaptureRetry      fingerprint_capture_retry      422: too short, off-centre, smudged
Unavailable 503
├─ FingerprintReaderMissing     fingerprint_reader_missing     none found, unplugged, stack missing
├─ FingerprintReaderUnsupported fingerprint_reader_unsupported match-on-chip: no image
└─ FingerprintReaderFailed      fingerprint_reader_failed      the device or its driver failed
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
from PIL import Image

from kernel.errors import GerbangError, InputError, Message, Unavailable
from models.errors import InvalidImage

logger = logging.getLogger(__name__)

MM_PER_INCH = 25.4
# libfprint documents 500 ppi as the assumption for drivers that leave ppmm at 0 (most do,
# the virtual_image driver included); FVC2002 images are 500 dpi too.
DEFAULT_PPI = 500

# libfprint's *_sync calls iterate GLib's global default main context; two threads doing that at
# once would dispatch each other's events, so every call into libfprint holds this lock.
_GLIB_LOCK = threading.Lock()


class FingerprintReaderMissing(Unavailable):
    code = "fingerprint_reader_missing"
    message = Message(
        "Pemindai sidik jari tidak ditemukan. Periksa kabel USB, lalu hubungi admin situs.",
        "No fingerprint reader was found. Check the USB cable, then call the site administrator.",
    )


class FingerprintReaderUnsupported(Unavailable):
    code = "fingerprint_reader_unsupported"
    message = Message(
        "Pemindai ini mencocokkan sidik jari di dalam alat (match-on-chip) dan tidak "
        "memberi gambar, jadi templat tidak bisa disimpan. Pasang pemindai jenis gambar.",
        "This reader matches prints inside the sensor (match-on-chip) and gives no "
        "image, so no portable template can be made. Install an image reader.",
    )

    @classmethod
    def match_on_chip(cls, devices: list[dict[str, str]]) -> FingerprintReaderUnsupported:
        return cls(reason="no_image_capture", devices=devices)


class FingerprintReaderFailed(Unavailable):
    code = "fingerprint_reader_failed"
    message = Message(
        "Pemindai sidik jari bermasalah. Cabut dan pasang lagi, lalu coba ulang.",
        "The fingerprint reader failed. Unplug it, plug it in again and retry.",
    )


class FingerprintCaptureTimeout(InputError):
    code = "fingerprint_capture_timeout"
    status = 408
    message = Message(
        "Tidak ada jari di pemindai. Letakkan jari di tengah pemindai, lalu coba lagi.",
        "No finger was placed on the reader. Place a finger in its middle and try again.",
    )

    @classmethod
    def after(cls, timeout_s: float, reason: str = "no_finger") -> FingerprintCaptureTimeout:
        return cls(reason=reason, timeout_s=timeout_s)


class FingerprintCaptureRetry(InputError):
    code = "fingerprint_capture_retry"
    message = Message(
        "Sidik jari kurang jelas. Angkat jari, bersihkan, lalu letakkan lagi di tengah.",
        "The print was not clear. Lift the finger, wipe it and place it again, centred.",
    )


@dataclass(frozen=True)
class CapturedImage:
    """One impression as the reader delivered it (libfprint has already undone flips/inversion)."""

    pixels: npt.NDArray[np.uint8]  # (height, width), 8-bit grayscale
    resolution_ppi: int
    device: str  # human-readable device name
    driver: str  # libfprint driver id, or "folder"
    resolution_assumed: bool = False  # True when the reader did not say and DEFAULT_PPI was used
    source: str | None = None  # the file an image came from, for folder readers

    def __post_init__(self) -> None:
        if self.pixels.dtype != np.uint8 or self.pixels.ndim != 2:
            raise ValueError(f"want a 2-D uint8 image, got {self.pixels.dtype} {self.pixels.shape}")

    @property
    def width(self) -> int:
        """Image width in pixels."""
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        """Image height in pixels."""
        return int(self.pixels.shape[0])


class FingerprintReader(Protocol):
    """What enrolment and the gate need from any fingerprint source."""

    def capture(self, timeout_s: float) -> CapturedImage: ...

    def close(self) -> None: ...


class FprintDevice(Protocol):
    """The part of `FPrint.Device` that choosing a reader uses (unit tests pass fakes)."""

    def get_driver(self) -> str: ...

    def get_name(self) -> str: ...

    def has_feature(self, feature: Any) -> bool: ...


D = TypeVar("D", bound=FprintDevice)


def choose_image_device(devices: Sequence[D], capture_feature: Any, driver: str | None = None) -> D:
    """The first device (of `driver`, when given) that hands out images; refuse match-on-chip."""
    candidates = [d for d in devices if driver is None or d.get_driver() == driver]
    if not candidates:
        found = [d.get_driver() for d in devices]
        raise FingerprintReaderMissing(reason="no_device", wanted_driver=driver, found=found)
    for device in candidates:
        if device.has_feature(capture_feature):
            return device
    described = [{"driver": d.get_driver(), "name": d.get_name()} for d in candidates]
    raise FingerprintReaderUnsupported.match_on_chip(described)


def resolution_from_ppmm(ppmm: float, default_ppi: int) -> tuple[int, bool]:
    """(pixels per inch, assumed?) from libfprint's pixels per millimetre, where 0 means unknown."""
    if ppmm <= 0:
        return default_ppi, True
    return round(ppmm * MM_PER_INCH), False


def _load_fprint() -> SimpleNamespace:
    """FPrint, GLib and Gio through PyGObject; a missing stack is a missing reader, with the fix."""
    try:
        import gi

        gi.require_version("FPrint", "2.0")
        from gi.repository import FPrint, Gio, GLib
    except (ImportError, ValueError) as exc:  # ValueError: gi present, FPrint typelib absent
        raise FingerprintReaderMissing(
            reason="libfprint_stack_missing",
            detail=str(exc),
            fix="scripts/install_fingerprint_stack.sh",
        ) from exc
    return SimpleNamespace(FPrint=FPrint, GLib=GLib, Gio=Gio)


def _translate(
    gi: SimpleNamespace, exc: Any, driver: str, timed_out: bool = False, timeout_s: float = 0.0
) -> GerbangError:
    """A GLib error from libfprint as the Gerbang error an officer can act on."""
    fprint, gio = gi.FPrint, gi.Gio
    # Compare quarks, not domain strings: libfprint's read "fp - device - retry - quark".
    domain = gi.GLib.quark_from_string(exc.domain)
    if timed_out and exc.matches(gio.io_error_quark(), gio.IOErrorEnum.CANCELLED):
        return FingerprintCaptureTimeout.after(timeout_s)
    if domain == fprint.device_retry_quark():
        return FingerprintCaptureRetry(
            reason=_nick(fprint.DeviceRetry, exc.code), detail=exc.message
        )
    if domain != fprint.device_error_quark():
        return FingerprintReaderFailed(reason=exc.domain, detail=exc.message, driver=driver)
    if exc.code == fprint.DeviceError.REMOVED:
        return FingerprintReaderMissing(reason="removed", detail=exc.message, driver=driver)
    if exc.code == fprint.DeviceError.NOT_SUPPORTED:
        return FingerprintReaderUnsupported.match_on_chip([{"driver": driver, "name": ""}])
    return FingerprintReaderFailed(
        reason=_nick(fprint.DeviceError, exc.code), detail=exc.message, driver=driver
    )


def _nick(enum: Any, code: int) -> str:
    """The GLib nick of an enum value ("center-finger"), or the number if libfprint added one."""
    try:
        return str(enum(code).value_nick)
    except ValueError:
        return str(code)


class _Deadline:
    """Cancels a libfprint call after timeout_s, from inside the GLib loop the sync call spins."""

    def __init__(self, gi: SimpleNamespace, timeout_s: float) -> None:
        self.cancellable = gi.Gio.Cancellable()
        self.fired = False
        self._glib = gi.GLib
        self._source = gi.GLib.timeout_add(max(1, round(timeout_s * 1000)), self._fire)

    def _fire(self) -> bool:
        self.fired = True
        self.cancellable.cancel()
        return False  # one-shot: GLib drops the source itself

    def clear(self) -> None:
        """Remove the timer if it has not fired (removing a fired one makes GLib warn)."""
        if not self.fired:
            self._glib.source_remove(self._source)


class LibfprintReader:
    """An image fingerprint reader driven by libfprint-2 (USB sensors, or `virtual_image`)."""

    def __init__(
        self,
        gi: SimpleNamespace,
        context: Any,
        device: Any,
        default_ppi: int = DEFAULT_PPI,
        on_finger_needed: Callable[[], None] | None = None,
    ) -> None:
        self._gi = gi
        self._context = context  # owns the USB context; must outlive the device
        self._device: Any = device
        self._driver: str = device.get_driver()
        self._name: str = device.get_name()
        self._default_ppi = default_ppi
        self._on_finger_needed = on_finger_needed

    @classmethod
    def open(
        cls,
        driver: str | None = None,
        default_ppi: int = DEFAULT_PPI,
        on_finger_needed: Callable[[], None] | None = None,
    ) -> LibfprintReader:
        """Find and open an image reader. libfprint reads FP_* variables here, when it enumerates.

        `on_finger_needed` runs, on the capturing thread, each time the sensor waits for a finger
        (to prompt the person; PyGObject logs and swallows exceptions raised in it).
        """
        gi = _load_fprint()
        with _GLIB_LOCK:
            context = gi.FPrint.Context()
            devices = context.get_devices()
            device = choose_image_device(devices, gi.FPrint.DeviceFeature.CAPTURE, driver)
            try:
                device.open_sync(None)
            except gi.GLib.Error as exc:
                raise _translate(gi, exc, device.get_driver()) from exc
        return cls(gi, context, device, default_ppi, on_finger_needed)

    @property
    def driver(self) -> str:
        """The libfprint driver id ("virtual_image", "uru4000", ...)."""
        return self._driver

    def capture(self, timeout_s: float) -> CapturedImage:
        """Wait up to timeout_s for a finger and return the sensor's image."""
        if self._device is None:
            raise FingerprintReaderMissing(reason="closed", driver=self._driver)
        with _GLIB_LOCK:
            deadline = _Deadline(self._gi, timeout_s)
            handler = self._device.connect("notify::finger-status", self._finger_status_changed)
            try:
                image = self._device.capture_sync(True, deadline.cancellable)  # wait for finger
            except self._gi.GLib.Error as exc:
                raise _translate(self._gi, exc, self._driver, deadline.fired, timeout_s) from exc
            finally:
                self._device.disconnect(handler)
                deadline.clear()
        return self._captured(image)

    def close(self) -> None:
        """Release the device; safe to call twice, and never raises (it runs in cleanup paths)."""
        device, self._device = self._device, None
        if device is None:
            return
        with _GLIB_LOCK:
            try:
                device.close_sync(None)
            except self._gi.GLib.Error as exc:
                logger.warning("closing fingerprint reader %s failed: %s", self._driver, exc)

    def _finger_status_changed(self, device: Any, _pspec: Any) -> None:
        needed = device.get_finger_status() & self._gi.FPrint.FingerStatusFlags.NEEDED
        if needed and self._on_finger_needed is not None:
            self._on_finger_needed()

    def _captured(self, image: Any) -> CapturedImage:
        width, height = image.get_width(), image.get_height()
        pixels = np.frombuffer(image.get_data(), dtype=np.uint8)
        if pixels.size != width * height:
            detail = f"{pixels.size} bytes for {width}x{height}"
            raise FingerprintReaderFailed(
                reason="image_size_mismatch", detail=detail, driver=self._driver
            )
        ppi, assumed = resolution_from_ppmm(image.get_ppmm(), self._default_ppi)
        # copy(): frombuffer over bytes is read-only, and callers may enhance in place.
        frame = pixels.reshape(height, width).copy()
        return CapturedImage(frame, ppi, self._name, self._driver, assumed)


class FolderReader:
    """Images from a folder (FVC-style `.tif`), one per capture, in name order: demos, imports."""

    def __init__(
        self,
        folder: Path,
        resolution_ppi: int = DEFAULT_PPI,
        pattern: str = "*.tif",
        loop: bool = False,
    ) -> None:
        # File metadata is not trusted for resolution: FVC TIFFs say 1 dpi.
        if not 250 <= resolution_ppi <= 2000:
            raise ValueError(f"resolution_ppi {resolution_ppi} is outside 250..2000")
        self.files = sorted(Path(folder).glob(pattern))
        if not self.files:
            raise FingerprintReaderMissing(
                reason="empty_folder", folder=str(folder), pattern=pattern
            )
        self._folder = Path(folder)
        self._ppi = resolution_ppi
        self._loop = loop
        self._next = 0

    def capture(self, timeout_s: float) -> CapturedImage:
        """The next image; past the last one, start again (loop) or time out like an idle reader."""
        if self._next >= len(self.files):
            if not self._loop:
                raise FingerprintCaptureTimeout.after(timeout_s, reason="folder_exhausted")
            self._next = 0
        self._next += 1
        return self.read(self.files[self._next - 1])

    def __iter__(self) -> Iterator[CapturedImage]:
        """Every image once, whatever capture() has consumed (for imports)."""
        return (self.read(path) for path in self.files)

    def read(self, path: Path) -> CapturedImage:
        """One file as a captured image at the configured resolution."""
        try:
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("L"), dtype=np.uint8)
        except OSError as exc:  # PIL's UnidentifiedImageError is an OSError too
            raise InvalidImage.because(f"{path.name}: {exc}") from exc
        device = f"folder {self._folder}"
        return CapturedImage(pixels, self._ppi, device, "folder", source=str(path))

    def close(self) -> None:
        """Nothing to release; present for the FingerprintReader protocol."""
