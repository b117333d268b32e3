"""How a site proves who it is on a read (`GET /v1/sync/changes`, `POST /v1/sync/search`): an
Ed25519 signature over the method, the path with its query, a timestamp and, when the request has
a body, the body's sha256, with the same key that signs its batches.

A request without a body signs exactly the three lines it always did, so sites that only pull keep
working; a body adds a fourth line, so a body swapped in transit no longer fits the signature.
The timestamp bounds a replayed request to a few minutes; reads change nothing, so a replay inside
the window only shows the site the same answer again. The site and the registry both call
`request_message`, so they cannot disagree on the bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gallery_sync.registry.errors import SyncUnauthenticated


def request_message(method: str, path_with_query: str, timestamp: str, body: bytes = b"") -> bytes:
    """The exact bytes signed: `METHOD\\npath?query\\ntimestamp`, then `\\nsha256(body)` if any."""
    message = f"{method.upper()}\n{path_with_query}\n{timestamp}"
    if body:
        message += f"\n{hashlib.sha256(body).hexdigest()}"
    return message.encode()


def sign_request(
    key: Ed25519PrivateKey,
    method: str,
    path_with_query: str,
    timestamp: str | None = None,
    body: bytes = b"",
) -> dict[str, str]:
    """The X-Gerbang-Timestamp and X-Gerbang-Signature headers for one request (site side)."""
    timestamp = timestamp or datetime.now(UTC).isoformat(timespec="seconds")
    signature = key.sign(request_message(method, path_with_query, timestamp, body))
    return {
        "X-Gerbang-Timestamp": timestamp,
        "X-Gerbang-Signature": base64.b64encode(signature).decode(),
    }


def verify_request(
    key: Ed25519PublicKey,
    site_id: str,
    method: str,
    path_with_query: str,
    timestamp: str,
    signature: str,
    max_skew: timedelta,
    body: bytes = b"",
) -> None:
    """SyncUnauthenticated unless the signature fits and the timestamp is within max_skew of now."""
    _check_fresh(site_id, timestamp, max_skew)
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, request_message(method, path_with_query, timestamp, body))
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise SyncUnauthenticated.because("bad signature", site_id) from exc


def _check_fresh(site_id: str, timestamp: str, max_skew: timedelta) -> None:
    """Refuse a timestamp without a zone, unparseable, or too far from the registry's clock."""
    try:
        when = datetime.fromisoformat(timestamp)
    except ValueError as exc:
        raise SyncUnauthenticated.because("timestamp is not ISO 8601", site_id) from exc
    if when.tzinfo is None:
        raise SyncUnauthenticated.because("timestamp has no time zone", site_id)
    skew = abs(datetime.now(UTC) - when)
    if skew > max_skew:
        raise SyncUnauthenticated.because(
            f"timestamp is {int(skew.total_seconds())} s from the registry clock", site_id
        )
