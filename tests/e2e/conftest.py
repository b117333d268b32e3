"""What the browser tests share: a site service on a loopback port, fake-camera clips made from
the dev photos, and headless Debian Chromium driven by Playwright.

Chromium reads its fake camera file once per launch, so a test that needs several people in front
of the camera launches one browser per clip with `launch_chromium`.
"""

from __future__ import annotations

import importlib
import shutil
import socket
import sysconfig
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np
import uvicorn

from edge.app import create_app
from edge.settings import Settings
from edge.site import Site
from tests.conftest import _require

PASSWORD = "correct horse battery"
CLIP_SIZE = (640, 480)
CLIP_FPS = 10
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]


def _playwright() -> ModuleType:
    """playwright.sync_api, or a skip (locally) / failure (CI=true) saying how to get it."""
    try:
        return importlib.import_module("playwright.sync_api")
    except ImportError:
        where = Path(sysconfig.get_paths()["purelib"], "playwright")
        _require(where, "the Python package playwright (pip install -e '.[test]')")
        raise


def _chromium() -> Path:
    """Debian's Chromium (Playwright drives it; `playwright install` is never needed)."""
    found = shutil.which("chromium")
    return _require(Path(found or "/usr/bin/chromium"), "Chromium (apt-get install chromium)")


def launch_chromium(playwright: Any, clip: Path) -> Any:
    """A headless Chromium whose camera plays `clip` in a loop."""
    return playwright.chromium.launch(
        executable_path=str(_chromium()),
        args=[*CHROMIUM_FLAGS, f"--use-file-for-fake-video-capture={clip}"],
    )


# How long a page step or an assertion waits for the page (Playwright's own defaults: 30 s for a
# step, 5 s for expect). Pages wait on real model inference and a loaded 2-core CI machine can
# take seconds for it; a passing test waits only as long as the page needs.
PAGE_WAIT_MS = 30_000


def expect(locator: Any) -> Any:
    """Playwright's expect, waiting up to PAGE_WAIT_MS unless an assertion says otherwise."""
    assertions = _playwright().expect
    assertions.set_options(timeout=PAGE_WAIT_MS)
    return assertions(locator)


def _letterbox(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The image scaled to fit size (w, h), centred on black."""
    width, height = size
    scale = min(width / image.shape[1], height / image.shape[0])
    resized = cv2.resize(
        image,
        (round(image.shape[1] * scale), round(image.shape[0] * scale)),
        interpolation=cv2.INTER_AREA,
    )
    canvas = np.zeros((height, width, 3), np.uint8)
    top, left = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    canvas[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
    return canvas


def write_y4m_clip(path: Path, photos: list[Path], seconds_each: float = 1.0) -> Path:
    """A Y4M clip (I420) that shows each photo, letterboxed, for `seconds_each`; Chromium loops it."""
    width, height = CLIP_SIZE
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{CLIP_FPS}:1 Ip A1:1 C420jpeg\n".encode())
        for photo in photos:
            image = cv2.imread(str(photo), cv2.IMREAD_COLOR)
            assert image is not None, photo
            planes = cv2.cvtColor(_letterbox(image, CLIP_SIZE), cv2.COLOR_BGR2YUV_I420).tobytes()
            for _ in range(round(CLIP_FPS * seconds_each)):
                out.write(b"FRAME\n" + planes)
    return path


class SiteServer:
    """A site service on a loopback port, run by uvicorn in a background thread."""

    def __init__(self, site: Site, settings: Settings) -> None:
        self.site = site
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        config = uvicorn.Config(create_app(settings, site), log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def __enter__(self) -> SiteServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "service did not start"
            time.sleep(0.05)
        assert self.site.ready, self.site.problem
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()
