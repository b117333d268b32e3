"""Presentation attacks synthesised from bona fide photos: a printed photo and a screen replay,
each held up to a gate camera. The method is stated here so the numbers can be reproduced and
criticised; no image is written to disk. Every random choice comes from a seeded generator.

Printed photo (`print`): the photo printed at about 300 dpi on office paper, then photographed.
- colour gamut of a four-colour print: saturation x0.6-0.8, blacks lifted to 20-35, paper
  white 225-240, a slight warm cast;
- halftone: an amplitude-modulated dot screen (cosine grid, period 3-5 px at the print's size,
  angle 15-45 deg) multiplying the tones;
- paper texture: blurred noise (fibres, sigma 3 px, +-6 levels) and fine grain (+-3);
- a white paper margin of 6-10 % around the picture;
- perspective: the sheet tilted, each corner moved up to 6 % of its side;
- the camera: defocus blur (sigma 0.8-1.6), sensor noise, JPEG quality 75-90, the sheet in a
  room of plain wall colour (the frame is 1.5x the sheet).
`print-cutout` is the same print cut along the head (no margin, no sheet edge in view: the
sheet fills the camera's frame), a harder attack.

Screen replay (`screen`): the photo shown full screen on a phone or tablet, then photographed.
- the screen's resolution: the photo resampled to 260-420 px across;
- pixel grid: each screen pixel drawn as R, G and B stripes with dark gaps (3 sub-pixels, 1/4
  of each dark), then resampled to the camera's scale by a non-integer factor: moiré;
- the screen's tone curve: gamma 0.8-0.9, brightness +10-25, a blue white point;
- glare: a soft elliptical reflection (Gaussian, peak +60-120 levels) somewhere on the glass;
- a black bezel of 5-8 %, the device in a room, tilted (corners up to 5 %);
- the camera: blur sigma 0.6-1.2, noise, JPEG 75-90.
`screen-closeup` holds the device so close that its bezel is out of the frame.

What this is not: a real attack set (ISO/IEC 30107-3 asks for presentation attack instruments
made and presented by people, with their capture devices). Real prints and screens add what a
synthesis cannot: paper gloss, hand tremor, real moiré from a real sensor, a person behind the
photo. The APCER measured on these is a lower bound of nothing: read it as "these cues, as
modelled, are or are not caught".
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from models.faces import ImageBGR

Attack = Callable[[ImageBGR, np.random.Generator], ImageBGR]


def _tilt(
    image: ImageBGR, rng: np.random.Generator, most: float, fill: tuple[int, ...]
) -> ImageBGR:
    """The picture as a tilted flat object: each corner moved up to `most` of its side."""
    h, w = image.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    jitter = rng.uniform(-most, most, size=(4, 2)) * np.float32([w, h])
    dst = np.float32(src + jitter)
    dst -= dst.min(axis=0)
    size = (int(dst[:, 0].max()) + 1, int(dst[:, 1].max()) + 1)
    matrix = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(
        image, matrix, size, borderMode=cv2.BORDER_CONSTANT, borderValue=fill
    )


def _in_room(image: ImageBGR, rng: np.random.Generator, margin: float) -> ImageBGR:
    """The object in front of a plain wall, `margin` of its size on each side."""
    wall = tuple(int(v) for v in rng.integers(110, 190, size=3))
    h, w = image.shape[:2]
    top, side = int(margin * h), int(margin * w)
    return cv2.copyMakeBorder(image, top, top, side, side, cv2.BORDER_CONSTANT, value=wall)


def _camera(image: ImageBGR, rng: np.random.Generator, blur: tuple[float, float]) -> ImageBGR:
    """Defocus, sensor noise and the camera's JPEG."""
    soft = cv2.GaussianBlur(image, (0, 0), rng.uniform(*blur)).astype(np.float32)
    noisy = soft + rng.normal(0, 2.5, size=soft.shape)
    clipped = np.clip(noisy, 0, 255).astype(np.uint8)
    _, jpeg = cv2.imencode(".jpg", clipped, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(75, 91))])
    return np.asarray(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), dtype=np.uint8)


def _grid(h: int, w: int, period: float, angle_deg: float) -> np.ndarray:
    """A cosine dot screen in [0, 1] at the given period (px) and angle."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = np.deg2rad(angle_deg)
    u, v = xx * np.cos(a) + yy * np.sin(a), -xx * np.sin(a) + yy * np.cos(a)
    return 0.5 + 0.5 * np.cos(2 * np.pi * u / period) * np.cos(2 * np.pi * v / period)


def printed(image: ImageBGR, rng: np.random.Generator, cutout: bool = False) -> ImageBGR:
    """A printed-photo attack (module docstring: `print`, or `print-cutout`)."""
    tones = image.astype(np.float32)
    grey = tones.mean(axis=2, keepdims=True)
    tones = grey + (tones - grey) * rng.uniform(0.6, 0.8)  # a print's smaller gamut
    black, white = rng.uniform(20, 35), rng.uniform(225, 240)
    tones = black + tones * (white - black) / 255.0
    tones *= np.float32([0.97, 1.0, 1.03])  # warm cast (BGR)
    h, w = tones.shape[:2]
    dots = _grid(h, w, rng.uniform(3, 5), rng.uniform(15, 45))
    tones *= (0.8 + 0.25 * dots)[..., None]  # halftone
    fibres = cv2.GaussianBlur(rng.normal(0, 1, size=(h, w)).astype(np.float32), (0, 0), 3)
    tones += (6 * fibres / (fibres.std() + 1e-6))[..., None] + rng.normal(0, 3, size=(h, w, 1))
    sheet = np.clip(tones, 0, 255).astype(np.uint8)
    if cutout:
        return _camera(sheet, rng, (0.8, 1.6))
    paper = int(white)
    m = int(rng.uniform(0.06, 0.10) * max(h, w))
    sheet = cv2.copyMakeBorder(sheet, m, m, m, m, cv2.BORDER_CONSTANT, value=(paper,) * 3)
    wall = tuple(int(v) for v in rng.integers(110, 190, size=3))
    tilted = _tilt(sheet, rng, 0.06, wall)
    return _camera(_in_room(tilted, rng, 0.25), rng, (0.8, 1.6))


def _subpixels(screen: np.ndarray, scale: int = 3) -> np.ndarray:
    """Each screen pixel as `scale` x `scale` camera pixels: R, G, B stripes with dark gaps."""
    big = np.repeat(np.repeat(screen, scale, axis=0), scale, axis=1)
    mask = np.zeros((scale, scale, 3), np.float32)
    for column, channel in enumerate((2, 1, 0)):  # R, G, B stripes left to right, in BGR order
        mask[:, column, channel] = 1.0
    mask[-1, :, :] *= 0.25  # the dark row between pixel lines
    tiles = np.tile(mask, (screen.shape[0], screen.shape[1], 1))
    return big * (0.35 + 0.65 * tiles) * 1.6


def replayed(image: ImageBGR, rng: np.random.Generator, closeup: bool = False) -> ImageBGR:
    """A screen-replay attack (module docstring: `screen`, or `screen-closeup`)."""
    h, w = image.shape[:2]
    across = int(rng.integers(260, 421))
    factor = across / max(h, w)
    screen = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    screen = screen.astype(np.float32) / 255.0
    screen = np.power(screen, rng.uniform(0.8, 0.9)) * 255 + rng.uniform(10, 25)
    screen *= np.float32([1.08, 1.0, 0.95])  # blue white point (BGR)
    lit = _subpixels(np.clip(screen, 0, 255))
    to_camera = max(h, w) / max(lit.shape[:2]) * rng.uniform(0.93, 1.07)  # non-integer: moiré
    shown = cv2.resize(lit, None, fx=to_camera, fy=to_camera, interpolation=cv2.INTER_AREA)
    sh, sw = shown.shape[:2]
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    cy, cx = rng.uniform(0.1, 0.9) * sh, rng.uniform(0.1, 0.9) * sw
    ry, rx = rng.uniform(0.08, 0.2) * sh, rng.uniform(0.15, 0.35) * sw
    glare = rng.uniform(60, 120) * np.exp(-(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2))
    device = np.clip(shown + glare[..., None], 0, 255).astype(np.uint8)
    if closeup:
        return _camera(device, rng, (0.6, 1.2))
    b = int(rng.uniform(0.05, 0.08) * max(sh, sw))
    device = cv2.copyMakeBorder(device, b, b, b, b, cv2.BORDER_CONSTANT, value=(12, 12, 12))
    wall = tuple(int(v) for v in rng.integers(110, 190, size=3))
    tilted = _tilt(device, rng, 0.05, wall)
    return _camera(_in_room(tilted, rng, 0.25), rng, (0.6, 1.2))


ATTACKS: dict[str, Attack] = {
    "print": printed,
    "print-cutout": lambda image, rng: printed(image, rng, cutout=True),
    "screen": replayed,
    "screen-closeup": lambda image, rng: replayed(image, rng, closeup=True),
}
