"""The fingerprint readers of this machine, by name: one capture at a time per reader, opened when
first needed, reopened after an unplug, and every failure a coded error (never a hung request).

The desk and the kiosk call them through /v1/readers (edge/routes/readers.py); the blocking
libfprint call runs on a worker thread and is bounded by the reader's own deadline, so a reader
that never sees a finger answers `fingerprint_capture_timeout` and one pulled out mid-capture
answers `fingerprint_reader_missing` (reason `removed`).

Errors (beside those of edge/devices/fingerprint.py):
NotFound 404  ReaderNotConfigured  reader_not_configured  no reader of that name at this site
Conflict 409  ReaderBusy           reader_busy            another capture is waiting on it
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from edge.devices.fingerprint import (
    CapturedImage,
    FingerprintCaptureRetry,
    FingerprintReader,
    FingerprintReaderFailed,
    FingerprintReaderMissing,
    FingerprintReaderUnsupported,
    FolderReader,
    LibfprintReader,
)
from edge.settings import ReaderSettings
from kernel.errors import Conflict, Message, NotFound

log = logging.getLogger(__name__)

STATE_CHECK_GRACE_S = 2.0  # longer than opening a reader takes; far shorter than a capture
ReaderState = Literal["ready", "busy", "absent", "closed"]
Opener = Callable[[ReaderSettings], FingerprintReader]

# What libfprint's retry reasons (FpDeviceRetry nicks) ask of the person at the reader.
RETRY_MESSAGES = {
    "too-short": Message(
        "Jari diangkat terlalu cepat. Tekan lagi dan tahan sampai lampu padam.",
        "The finger was lifted too soon. Press again and hold until the light goes off.",
    ),
    "center-finger": Message(
        "Jari tidak di tengah. Letakkan jari di tengah pemindai, lalu tekan lagi.",
        "The finger was off-centre. Place it in the middle of the reader and press again.",
    ),
    "remove-finger": Message(
        "Angkat jari dari pemindai, lalu tekan lagi.",
        "Lift the finger off the reader, then press again.",
    ),
}
UNPLUGGED = Message(
    "Pemindai sidik jari terlepas saat mengambil sidik jari. Pasang lagi kabel USB-nya, lalu tekan"
    " Pindai lagi.",
    "The fingerprint reader was disconnected during the capture. Plug its USB cable back in,"
    " then press Scan again.",
)


class ReaderNotConfigured(NotFound):
    code = "reader_not_configured"
    message = Message(
        "Pemindai dengan nama ini tidak terdaftar di situs. Periksa pengaturan pemindai (EDGE_READERS).",
        "No reader of this name is set up at this site. Check the reader settings (EDGE_READERS).",
    )


class ReaderBusy(Conflict):
    code = "reader_busy"
    message = Message(
        "Pemindai sedang dipakai untuk pengambilan lain. Tunggu sampai selesai, lalu coba lagi.",
        "The reader is busy with another capture. Wait for it to finish, then try again.",
    )


def open_reader(settings: ReaderSettings) -> FingerprintReader:
    """The reader a setting names: a folder of images, or a libfprint image sensor."""
    if settings.driver == "folder" and settings.folder is not None:
        return FolderReader(settings.folder, settings.resolution_ppi, loop=True)
    return LibfprintReader.open(settings.driver, settings.resolution_ppi)


@dataclass
class _Slot:
    """One named reader: its device once opened, and the lock that makes it one capture at a time."""

    settings: ReaderSettings
    lock: threading.Lock = field(default_factory=threading.Lock)
    device: FingerprintReader | None = None
    problem: str | None = None  # the code of the last failure to open or capture


class ReaderPool:
    """Every reader named in the site settings."""

    def __init__(self, readers: list[ReaderSettings], opener: Opener = open_reader) -> None:
        self._slots = {reader.name: _Slot(reader) for reader in readers}
        self._opener = opener

    def settings(self, name: str) -> ReaderSettings:
        """The reader's settings, or ReaderNotConfigured."""
        return self._slot(name).settings

    def names(self, gate: str | None = None) -> list[str]:
        """Reader names, all of them or only those of one gate's kiosk."""
        return [n for n, s in self._slots.items() if gate is None or s.settings.gate == gate]

    def state(self, name: str) -> tuple[ReaderState, str | None]:
        """(state, last problem code): busy while capturing; a closed reader is opened to find out."""
        slot = self._slot(name)
        if not slot.lock.acquire(blocking=False):
            return "busy", None
        try:
            self._open(slot)
            return "ready", None
        except (FingerprintReaderMissing, FingerprintReaderUnsupported, FingerprintReaderFailed):
            return "absent", slot.problem
        finally:
            slot.lock.release()

    def capture(self, name: str, timeout_s: float) -> CapturedImage:
        """Wait for a finger on the named reader, at most timeout_s (and the reader's own limit)."""
        slot = self._slot(name)
        wait = min(timeout_s, slot.settings.max_wait_s)
        # A status check holds the lock for the moment an open takes: wait that out, not a capture.
        if not slot.lock.acquire(timeout=STATE_CHECK_GRACE_S):
            raise ReaderBusy(reader=name)
        try:
            device = self._open(slot)
            try:
                captured = device.capture(wait)
            except FingerprintCaptureRetry as retry:
                raise _explained(retry) from retry
            except (FingerprintReaderMissing, FingerprintReaderFailed) as lost:
                # Unplugged or broken: drop the device so the next call finds it again.
                slot.problem = lost.code
                self._close(slot)
                if lost.details.get("reason") == "removed":
                    raise FingerprintReaderMissing(UNPLUGGED, lost.details, reader=name) from lost
                raise
            slot.problem = None
            return captured
        finally:
            slot.lock.release()

    def close(self) -> None:
        """Release every opened device (at service stop)."""
        for slot in self._slots.values():
            with slot.lock:
                self._close(slot)

    def _slot(self, name: str) -> _Slot:
        slot = self._slots.get(name)
        if slot is None:
            raise ReaderNotConfigured(reader=name, configured=sorted(self._slots))
        return slot

    def _open(self, slot: _Slot) -> FingerprintReader:
        if slot.device is None:
            try:
                slot.device = self._opener(slot.settings)
            except (
                FingerprintReaderMissing,
                FingerprintReaderUnsupported,
                FingerprintReaderFailed,
            ) as exc:
                slot.problem = exc.code
                raise
            slot.problem = None
        return slot.device

    @staticmethod
    def _close(slot: _Slot) -> None:
        device, slot.device = slot.device, None
        if device is not None:
            device.close()


def _explained(retry: FingerprintCaptureRetry) -> FingerprintCaptureRetry:
    """The sensor's retry with what the person should do for its reason, when libfprint says one."""
    reason = str(retry.details.get("reason", ""))
    message = RETRY_MESSAGES.get(reason)
    return retry if message is None else FingerprintCaptureRetry(message, retry.details)
