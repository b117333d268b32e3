"""Untrusted image bytes: every format we take decodes to BGR; everything else gets its code."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from models.errors import ImageTooLarge, ImageTooSmall, InvalidImage, UnsupportedMediaType
from models.imaging import (
    ImageLimits,
    check_content_type,
    clean_jpeg,
    decode_image,
    sniff_media_type,
)
from tests.factories import encode


def _gradient(height: int = 64, width: int = 48) -> np.ndarray:
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[..., 0] = 200  # red in RGB
    image[..., 2] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    return image


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "BMP"])
def test_each_accepted_format_decodes_to_bgr_of_the_same_size(fmt: str) -> None:
    decoded = decode_image(encode(_gradient(), fmt))
    assert decoded.shape == (64, 48, 3)
    assert decoded.dtype == np.uint8
    assert abs(int(decoded[..., 2].mean()) - 200) < 8  # red lands in the last (BGR) channel


def test_grayscale_and_alpha_images_become_three_channels() -> None:
    gray = np.full((40, 40), 90, dtype=np.uint8)
    rgba = np.dstack([_gradient(40, 40), np.full((40, 40), 255, dtype=np.uint8)])
    assert decode_image(encode(gray, "PNG")).shape == (40, 40, 3)
    assert decode_image(encode(rgba, "PNG")).shape == (40, 40, 3)


def test_sixteen_bit_infrared_frames_are_stretched_not_clipped() -> None:
    values = np.tile(np.linspace(1000, 3000, 64, dtype=np.uint16), (64, 1))
    image = Image.fromarray(values)  # uint16 → mode I;16
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    decoded = decode_image(buffer.getvalue())
    assert decoded.min() < 10 and decoded.max() > 245


def test_exif_orientation_is_applied() -> None:
    image = Image.fromarray(_gradient(40, 80))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes())
    assert decode_image(buffer.getvalue()).shape[:2] == (80, 40)


@pytest.mark.parametrize(
    "data",
    [b"", b"hello, this is not an image", b"\xff\xd8\xff\xe0" + b"\x00" * 20, b"%PDF-1.7\n"],
)
def test_unreadable_bytes_are_invalid_image(data: bytes) -> None:
    with pytest.raises(InvalidImage) as caught:
        decode_image(data)
    assert caught.value.code == "image_invalid"


def test_a_truncated_jpeg_is_invalid_image() -> None:
    data = encode(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8))
    with pytest.raises(InvalidImage):
        decode_image(data[: len(data) // 2])


def test_pixel_cap_is_checked_before_decoding() -> None:
    data = encode(_gradient(400, 400), "PNG")
    with pytest.raises(ImageTooLarge) as caught:
        decode_image(data, ImageLimits(max_pixels=100_000))
    assert caught.value.status == 413
    assert caught.value.details["value"] == 160_000


def test_byte_cap_and_minimum_side() -> None:
    with pytest.raises(ImageTooLarge):
        noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
        decode_image(encode(noise, "PNG"), ImageLimits(max_bytes=4096))
    with pytest.raises(ImageTooSmall):
        decode_image(encode(_gradient(20, 20), "PNG"))


def test_sniffing_ignores_the_file_name_and_reads_magic_numbers() -> None:
    assert sniff_media_type(encode(_gradient(), "WEBP")) == "image/webp"
    assert sniff_media_type(b"GIF89a...") is None


def test_declared_content_type_outside_images_is_refused() -> None:
    check_content_type("image/jpeg")
    check_content_type("application/octet-stream")
    with pytest.raises(UnsupportedMediaType) as caught:
        check_content_type("text/plain; charset=utf-8")
    assert caught.value.status == 415


def _png16(side: int) -> bytes:
    import io

    values = (np.arange(side * side, dtype=np.uint32) % 65536).astype(np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(values.reshape(side, side)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_16_bit_png_under_the_pixel_cap_is_refused_by_its_decoding_cost() -> None:
    limits = ImageLimits(max_pixels=1_000_000)  # budget: 1 MP of 8-bit RGB, 6 MB
    data = _png16(900)  # 0.81 MP: under the pixel cap, but 16-bit costs 12 bytes a pixel
    with pytest.raises(ImageTooLarge) as refused:
        decode_image(data, limits)
    assert refused.value.details["limit_kind"] == "decode_bytes"
    rgb = np.zeros((900, 900, 3), np.uint8)
    assert decode_image(encode(rgb, "PNG"), limits).shape == (900, 900, 3)  # 8-bit RGB fits


def test_decoding_a_16_bit_frame_stays_within_its_working_bytes_per_pixel() -> None:
    import tracemalloc

    side = 1000
    data = _png16(side)
    tracemalloc.start()
    try:
        decode_image(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 12 * side * side  # float64 working copies used to take over 24 bytes a pixel


def polyglot_jpeg_with_exif() -> bytes:
    """A real JPEG carrying EXIF (GPS, camera serial), a comment, then an HTML page and a ZIP
    archive after its image data: a file that is a valid JPEG, web page and archive at once."""
    import io
    import zipfile

    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° to stand upright
    exif[0xA431] = "SERIAL-1234567"  # BodySerialNumber
    out = io.BytesIO()
    Image.fromarray(_gradient(64, 48)).save(out, "JPEG", exif=exif, comment=b"<b>note</b>")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("payload.html", "<script>alert(1)</script>")
    return (
        out.getvalue()
        + b"<html><script>alert(document.cookie)</script></html>"
        + archive.getvalue()
    )


def test_a_polyglot_upload_comes_out_as_a_clean_upright_jpeg() -> None:
    import io
    import zipfile

    dirty = polyglot_jpeg_with_exif()
    assert zipfile.is_zipfile(io.BytesIO(dirty)) and b"SERIAL-1234567" in dirty
    clean = clean_jpeg(dirty)
    assert clean.startswith(b"\xff\xd8\xff") and clean.endswith(b"\xff\xd9")
    for trace in (b"<html", b"<script", b"PK\x03\x04", b"Exif", b"SERIAL", b"<b>note"):
        assert trace not in clean, trace
    assert not zipfile.is_zipfile(io.BytesIO(clean))
    with Image.open(io.BytesIO(clean)) as image:
        assert (image.format, image.size, image.mode) == ("JPEG", (64, 48), "RGB")  # upright
        assert not image.getexif() and "icc_profile" not in image.info


def test_cleaning_refuses_what_is_no_image() -> None:
    with pytest.raises(InvalidImage):
        clean_jpeg(b"<html></html>")
