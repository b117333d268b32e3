"""Answering the registry's photo requests: the one pulled change that writes to the outbox.

Templates travel on their own; a photo only when a central officer asks (`photo.requested`).
The answer is written in the pull's transaction, with the pull cursor, as an outbox row:
`photo.provided` with the person's photo of record (else the best kept capture), its content
type and sha256, or `photo.unavailable` with the reason. Unlike the registry's decisions, which
must not echo back, the answer is the site's own fact (what it disclosed, and when), so it
travels up like any other change: signed, retried, applied once. The row is keyed by the
identity, so an erasure before the push strips the image from it
(enrollment.repository.erase_biometrics) and the photo never leaves the site. Were the same
request applied twice (a lost pull cursor), the site answers twice and the registry ignores the
second answer: a request is answered once.

Only JPEG and PNG travel (checked by magic bytes at the registry). A kept WebP, TIFF or BMP is
sent as a lossless PNG of the same pixels; its sha256 is then that of the PNG.
"""

from __future__ import annotations

import base64
import hashlib
import io
import sqlite3
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError

from enrollment.repository import IdentityNotFound, IdentityRepository
from enrollment.vault import Vault, seal_payload
from gallery_sync.outbox import append_change
from gallery_sync.protocol import MAX_PHOTO_BYTES, photo_media_type
from site_sync.pulled import PhotoRequest


@dataclass(frozen=True)
class OutgoingPhoto:
    """A photo as it travels: JPEG or PNG bytes, and which kept image it came from."""

    data: bytes
    content_type: str
    source: str  # photo_of_record | best_capture


def answer_photo_request(
    tx: sqlite3.Connection, vault: Vault, request: PhotoRequest
) -> dict[str, Any]:
    """Write the answer to the outbox in the caller's transaction; return what to audit."""
    photo = _photo_to_send(IdentityRepository(tx, vault), request.identity_id)
    if isinstance(photo, str):
        body = {"request_id": request.request_id, "reason": photo}
        seq = append_change(tx, "photo.unavailable", request.identity_id, body)
        return {"answer": "photo.unavailable", "reason": photo, "outbox_seq": seq}
    digest = hashlib.sha256(photo.data).hexdigest()
    body = {"request_id": request.request_id, "content_type": photo.content_type, "sha256": digest,
            "source": photo.source, "image_b64": base64.b64encode(photo.data).decode()}  # fmt: skip
    sealed = seal_payload(vault, "photo.provided", request.identity_id, body)
    seq = append_change(tx, "photo.provided", request.identity_id, sealed)
    return {"answer": "photo.provided", "sha256": digest, "bytes": len(photo.data), "outbox_seq": seq}  # fmt: skip


def _photo_to_send(repo: IdentityRepository, identity_id: str) -> OutgoingPhoto | str:
    """The photo to send, or the reason there is none (unknown_identity, erased, no_image,
    unreadable_image, too_large)."""
    try:
        identity = repo.get(identity_id)
    except IdentityNotFound:
        return "unknown_identity"
    if identity.status == "erased":
        return "erased"
    source, data = "photo_of_record", None
    if identity.photo_image_id is not None:
        data = repo.image_bytes(identity.photo_image_id)
    if not data:
        source, data = "best_capture", _best_capture(repo, identity_id)
    if not data:
        return "no_image"
    try:
        data, content_type = travelling_form(data)
    except ValueError:
        return "unreadable_image"
    return "too_large" if len(data) > MAX_PHOTO_BYTES else OutgoingPhoto(data, content_type, source)


def _best_capture(repo: IdentityRepository, identity_id: str) -> bytes | None:
    """The kept image whose template scored best for quality, if any is left."""
    row = repo.db.execute(
        "SELECT i.id FROM images i LEFT JOIN templates t ON t.image_id = i.id"
        " WHERE i.identity_id = ? AND i.data IS NOT NULL"
        " ORDER BY COALESCE(t.quality, 0) DESC, i.id LIMIT 1",
        (identity_id,),
    ).fetchone()
    return repo.image_bytes(row[0]) if row else None


def travelling_form(data: bytes) -> tuple[bytes, str]:
    """(bytes, content type) as the photo travels: JPEG and PNG as kept, others as PNG."""
    kind = photo_media_type(data)
    if kind is not None:
        return data, kind
    try:
        with Image.open(io.BytesIO(data)) as image:
            out = io.BytesIO()
            image.save(out, format="PNG")
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
        raise ValueError(f"not a readable image: {exc}") from exc
    return out.getvalue(), "image/png"
