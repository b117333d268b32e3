"""Turning untrusted image bytes into a BGR array: format sniffing, limits, EXIF, odd pixel types.

Limits are checked on the header before any pixel is decoded, so a decompression bomb costs
nothing: bytes, pixels, and the memory decoding will take (pixels times the working bytes per
pixel of the image's mode), so a 16-bit PNG under the pixel cap cannot cost a gigabyte. Grayscale, infrared (16-bit) and alpha images come out as plain 8-bit BGR, because the
detectors and recognisers all want three channels.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from models.errors import (
    ImageMissing,
    ImageTooLarge,
    ImageTooSmall,
    InvalidImage,
    UnsupportedMediaType,
)
from models.faces import ImageBGR

# Magic numbers of the formats we accept; the declared content type is never trusted alone.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"BM", "image/bmp"),
)
# Bytes per pixel held while decoding and converting one image of a mode to 8-bit BGR: the
# decoded pixels, any float working copy (16-bit and float sensors), and the BGR result.
WORKING_BYTES_PER_PIXEL = {"1": 4, "L": 4, "P": 7, "LA": 8, "RGB": 6, "YCbCr": 6, "RGBA": 10,
                           "CMYK": 10, "I;16": 12, "I;16B": 12, "I;16L": 12, "I": 14, "F": 14}  # fmt: skip
MAX_ASPECT = 8  # longest side over shortest: no camera or ID photo is narrower than this
ACCEPTED_TYPES = ("image/jpeg", "image/png", "image/webp", "image/tiff", "image/bmp")


@dataclass(frozen=True)
class ImageLimits:
    """What an upload may weigh; defaults suit a 12 MP phone photo and a 4K camera frame."""

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    min_side: int = 32
    max_decode_bytes: int | None = None  # default: max_pixels of 8-bit RGB (6 bytes a pixel)

    @property
    def decode_budget(self) -> int:
        """Most memory decoding one image may take, in bytes."""
        return self.max_decode_bytes or self.max_pixels * WORKING_BYTES_PER_PIXEL["RGB"]


def sniff_media_type(data: bytes) -> str | None:
    """The image type the bytes really are, or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    for signature, media_type in _SIGNATURES:
        if data.startswith(signature):
            return media_type
    return None


def check_content_type(declared: str | None) -> None:
    """Refuse an upload whose declared type is plainly not an image we take."""
    if not declared:
        return
    base = declared.split(";")[0].strip().lower()
    if base in ("application/octet-stream", "") or base in ACCEPTED_TYPES:
        return
    raise UnsupportedMediaType.for_type(base, list(ACCEPTED_TYPES))


def check_image(data: bytes, limits: ImageLimits | None = None) -> None:
    """Refuse, from the header alone, bytes that are no image or one outside the limits: what a
    gate checks before it records anything."""
    limits = limits or ImageLimits()
    if not data:
        raise ImageMissing()
    if len(data) > limits.max_bytes:
        raise ImageTooLarge.exceeding("bytes", len(data), limits.max_bytes)
    if sniff_media_type(data) is None:
        raise InvalidImage.because("not a JPEG, PNG, WebP, TIFF or BMP file")
    _open_checked(data, limits).close()


def decode_image(data: bytes, limits: ImageLimits | None = None) -> ImageBGR:
    """Decode, orient by EXIF and convert to 8-bit BGR, refusing anything unsafe or unreadable."""
    limits = limits or ImageLimits()
    if len(data) > limits.max_bytes:
        raise ImageTooLarge.exceeding("bytes", len(data), limits.max_bytes)
    if sniff_media_type(data) is None:
        raise InvalidImage.because("not a JPEG, PNG, WebP, TIFF or BMP file")
    image = _open_checked(data, limits)
    try:
        image = ImageOps.exif_transpose(image) or image
        array = _to_bgr(image)
    except (OSError, ValueError, SyntaxError) as exc:  # truncated or corrupt pixel data
        raise InvalidImage.because(f"corrupt image data: {exc}") from exc
    return array


def clean_jpeg(data: bytes, quality: int = 92) -> bytes:
    """The image re-encoded as a plain JPEG: upright, 8-bit RGB, and nothing but the pixels.

    What an upload carried besides its picture (EXIF with the phone's GPS position and serial,
    ICC profiles, comments, an HTML page or a ZIP archive after the image data) is not kept: a
    stored upload served back can then be only an image. The bytes were already accepted by the
    engine's limits, so only the sanity limits apply here.
    """
    limits = ImageLimits(max_bytes=max(len(data), 1), max_pixels=400_000_000)
    rgb = decode_image(data, limits)[:, :, ::-1]
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue()


def _open_checked(data: bytes, limits: ImageLimits) -> Image.Image:
    """Read only the header, then refuse sizes outside the limits before decoding pixels."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise InvalidImage.because(f"unreadable image: {exc}") from exc
    except Image.DecompressionBombWarning as exc:
        raise ImageTooLarge.exceeding("pixels", 0, limits.max_pixels) from exc
    width, height = image.size
    if width * height > limits.max_pixels:
        raise ImageTooLarge.exceeding("pixels", width * height, limits.max_pixels)
    cost = width * height * WORKING_BYTES_PER_PIXEL.get(image.mode, 14)
    if cost > limits.decode_budget:
        raise ImageTooLarge.exceeding("decode_bytes", cost, limits.decode_budget)
    if min(width, height) < limits.min_side:
        raise ImageTooSmall.below(width, height, limits.min_side)
    if max(width, height) > MAX_ASPECT * min(width, height):
        # A 32x100000 strip passes the pixel cap but no face fits it, and resizing it breaks OpenCV.
        raise InvalidImage.because(f"an image {width}x{height} is too narrow to hold a face")
    return image


def _to_bgr(image: Image.Image) -> ImageBGR:
    """Any PIL mode to contiguous uint8 BGR."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        image = _stretch_to_8bit(np.asarray(image))
    if image.mode != "RGB":
        image = image.convert("RGB")  # drops alpha, expands grayscale and palettes
    rgb = np.asarray(image, dtype=np.uint8)
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _stretch_to_8bit(values: np.ndarray) -> Image.Image:
    """Infrared and 16-bit sensors: map the 1st-99th percentile onto 0-255 instead of clipping.

    The percentiles come from at most about a million evenly spaced pixels, and the scaling is
    done in place in float32: the working memory stays within WORKING_BYTES_PER_PIXEL.
    """
    flat = values.reshape(-1)
    step = max(1, flat.size // 1_000_000)
    low, high = np.percentile(flat[::step].astype(np.float32), [1, 99])
    scaled = values.astype(np.float32)
    scaled -= np.float32(low)
    scaled *= np.float32(255.0 / max(float(high - low), 1e-6))
    np.clip(scaled, 0, 255, out=scaled)
    return Image.fromarray(scaled.astype(np.uint8), mode="L")


def read_image_file(path: str, limits: ImageLimits | None = None) -> ImageBGR:
    """Decode an image from disk with the same checks as an upload."""
    with open(path, "rb") as handle:  # noqa: PTH123 - str paths come straight from CLIs
        return decode_image(handle.read(), limits)
