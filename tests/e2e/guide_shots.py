"""Screenshots for the operator guide (docs/operator-guide.id.md), taken by the browser tests as
they go, so the guide shows the pages as they are today.

Faces never reach a committed image: the dev photos are evaluation material, so the camera's
video (and any canvas) is made invisible for the shot, and the region of every image on the page
is pixelated, blurred and greyed in the PNG before it is written (not with a style sheet: the
pages' CSP forbids inline styles; element styles set from the test are allowed).
Each PNG is shrunk until it is under 150 KB. tests/unit/test_guides.py checks that every image the
guides reference exists and is written by a call to `save_for_guide` in these tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

DOCS_IMG = Path(__file__).parents[2] / "docs" / "img"
MAX_BYTES = 150_000
MAX_WIDTH = 1000
HIDE_CAMERA = """hide => document.querySelectorAll("video, canvas").forEach(e => {
  e.style.visibility = hide ? "hidden" : "";
})"""
PICTURES = """() => [...document.querySelectorAll("img")].map(e => {
  const r = e.getBoundingClientRect();
  return [r.left, r.top, r.width, r.height];
}).filter(([, , w, h]) => w > 0 && h > 0)"""


def save_for_guide(page: Any, name: str, part: Any = None) -> Path:
    """Save the page (or one element of it, `part`) as docs/img/<name>.png, faces hidden."""
    page.evaluate(HIDE_CAMERA, True)
    try:
        png = (part or page).screenshot(scale="css", caret="hide")
        origin = part.bounding_box() if part is not None else {"x": 0, "y": 0}
        pictures = page.evaluate(PICTURES)
    finally:
        page.evaluate(HIDE_CAMERA, False)
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    for left, top, width, height in pictures:
        hide_region(image, left - origin["x"], top - origin["y"], width, height)
    return write_small_png(image, DOCS_IMG / f"{name}.png")


def hide_region(image: np.ndarray, left: float, top: float, width: float, height: float) -> None:
    """Pixelate, blur and grey one rectangle of the image in place (clipped to the image)."""
    x0, y0 = max(0, int(left)), max(0, int(top))
    x1, y1 = min(image.shape[1], int(left + width) + 1), min(image.shape[0], int(top + height) + 1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    region = image[y0:y1, x0:x1]
    tiny = cv2.resize(
        region, (max(1, (x1 - x0) // 16), max(1, (y1 - y0) // 16)), interpolation=cv2.INTER_AREA
    )
    blocks = cv2.resize(tiny, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
    grey = cv2.cvtColor(cv2.GaussianBlur(blocks, (0, 0), 12), cv2.COLOR_BGR2GRAY)
    image[y0:y1, x0:x1] = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)


def write_small_png(image: np.ndarray, path: Path) -> Path:
    """The image at most MAX_WIDTH wide and MAX_BYTES big (shrunk in steps until it fits)."""
    scale = min(1.0, MAX_WIDTH / image.shape[1])
    while True:
        small = (
            image
            if scale == 1.0
            else cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        )
        ok, encoded = cv2.imencode(".png", small, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        assert ok
        if len(encoded) <= MAX_BYTES or scale < 0.3:
            break
        scale *= 0.85
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encoded.tobytes())
    return path
