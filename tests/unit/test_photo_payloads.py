"""The registry's checks on a photo a site sends on request (`photo.provided`), before anything
is stored: a real JPEG or PNG by its magic bytes, within the size cap, matching its sha256.

A payload that fails makes the whole batch a schema violation (quarantined, 422), as for every
other kind; a photo stripped by the site's erasure is valid and carries no image.
"""

from __future__ import annotations

import base64
import hashlib
import io
import uuid
from typing import Any

import pytest
from PIL import Image

from gallery_sync.protocol import MAX_PHOTO_BYTES, Change, photo_media_type
from registry.errors import SyncSchemaInvalid
from registry.payloads import (
    PhotoProvidedPayload,
    PhotoUnavailablePayload,
    parse_payload,
    redacted,
)


def image_bytes(fmt: str, size: tuple[int, int] = (24, 16)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(out, format=fmt)
    return out.getvalue()


def provided(data: bytes, **override: Any) -> Change:
    payload = {"request_id": 7, "content_type": "image/jpeg", "source": "photo_of_record",
               "sha256": hashlib.sha256(data).hexdigest(),
               "image_b64": base64.b64encode(data).decode(), **override}  # fmt: skip
    return Change(seq=3, kind="photo.provided", entity_id=str(uuid.uuid4()), payload=payload,
                  created_at="2026-01-01T00:00:00+00:00")  # fmt: skip


def reason_of(change: Change) -> str:
    with pytest.raises(SyncSchemaInvalid) as refused:
        parse_payload(change)
    assert refused.value.details["seq"] == 3
    return str(refused.value.details["reason"])


def test_a_jpeg_and_a_png_with_their_digest_are_accepted_as_sent() -> None:
    for fmt, content_type in (("JPEG", "image/jpeg"), ("PNG", "image/png")):
        data = image_bytes(fmt)
        parsed = parse_payload(provided(data, content_type=content_type))
        assert isinstance(parsed, PhotoProvidedPayload)
        assert parsed.image() == data and parsed.request_id == 7


def test_bytes_that_are_not_the_declared_image_type_are_refused() -> None:
    png = image_bytes("PNG")
    assert "not a image/jpeg" in reason_of(provided(png))  # a PNG declared as JPEG
    gif = image_bytes("GIF")
    assert "not a image/png" in reason_of(provided(gif, content_type="image/png"))
    text = b"<html>captive portal</html>"
    assert "not a image/jpeg" in reason_of(provided(text))


def test_only_jpeg_and_png_may_travel() -> None:
    webp = image_bytes("WEBP")
    assert "content_type" in reason_of(provided(webp, content_type="image/webp"))
    assert photo_media_type(webp) is None
    assert photo_media_type(image_bytes("JPEG")) == "image/jpeg"


def test_a_digest_that_does_not_match_the_bytes_is_refused() -> None:
    data = image_bytes("JPEG")
    other = hashlib.sha256(data + b"x").hexdigest()
    assert "sha256 differs" in reason_of(provided(data, sha256=other))
    assert "sha256" in reason_of(provided(data, sha256="not-hex"))


def test_a_photo_over_the_size_cap_is_refused() -> None:
    just_over = b"\xff\xd8\xff" + bytes(MAX_PHOTO_BYTES - 2)  # a JPEG header, then padding
    assert "exceeds" in reason_of(provided(just_over))
    far_over = just_over + bytes(64)  # refused on the text's length, before decoding it
    assert "image_b64: String should have at most" in reason_of(provided(far_over))


def test_an_image_that_is_not_base64_is_refused() -> None:
    data = image_bytes("JPEG")
    assert "not base64" in reason_of(provided(data, image_b64="%%%%" + "A" * 20))


def test_a_photo_stripped_by_an_erasure_is_valid_and_its_replay_digest_matches() -> None:
    change = provided(image_bytes("JPEG"))
    stripped = redacted(change)
    assert stripped is not None and "image_b64" not in stripped.payload
    assert stripped.payload["sha256"] == change.payload["sha256"]  # what was asked stays known
    parsed = parse_payload(stripped)
    assert isinstance(parsed, PhotoProvidedPayload) and parsed.image() is None


def test_an_unavailable_answer_needs_its_request_and_a_reason() -> None:
    unavailable = provided(b"", request_id=9).model_copy(
        update={"kind": "photo.unavailable", "payload": {"request_id": 9, "reason": "no_image"}}
    )
    parsed = parse_payload(unavailable)
    assert isinstance(parsed, PhotoUnavailablePayload) and parsed.reason == "no_image"
    missing = unavailable.model_copy(update={"payload": {"request_id": 9}})
    assert "reason" in reason_of(missing)
