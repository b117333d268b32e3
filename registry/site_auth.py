"""How a site proves who it is on a request that is not a batch (`GET /v1/sync/changes`, `POST
/v1/sync/search`, `POST /v1/sync/keys`): an Ed25519 signature over the method, the path with its
query, a timestamp and, when the request has a body, the body's sha256, with a key the registry
accepts for the site.

A request without a body signs exactly the three lines it always did, so sites that only pull keep
working; a body adds a fourth line, so a body swapped in transit no longer fits the signature.
The timestamp bounds a replayed request to a few minutes; a replayed read only shows the site the
same answer again, and a replayed key rotation finds the key already current (see site_keys). A
new key comes with a proof: the same statement signed by the new key, so a site can only
register a key it holds. The bytes signed are gallery_sync/signed_requests.py, which the site
signs with; this module is the registry's checks on top of them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from gallery_sync.protocol import public_key_from_text
from gallery_sync.signed_requests import KeyRotationRequest
from registry.errors import RegistryInputInvalid, SyncUnauthenticated


def check_fresh(site_id: str, timestamp: str, max_skew: timedelta) -> None:
    """Refuse a timestamp without a zone, unparseable, or too far from the registry's clock."""
    try:
        when = datetime.fromisoformat(timestamp)
    except ValueError as exc:
        raise SyncUnauthenticated(reason="timestamp is not ISO 8601", site_id=site_id) from exc
    if when.tzinfo is None:
        raise SyncUnauthenticated(reason="timestamp has no time zone", site_id=site_id)
    skew = abs(datetime.now(UTC) - when)
    if skew > max_skew:
        raise SyncUnauthenticated(
            reason=f"timestamp is {int(skew.total_seconds())} s from the registry clock",
            site_id=site_id,
        )


def parse_rotation(body: bytes, site_id: str, timestamp: str) -> KeyRotationRequest:
    """The key rotation in a signed body, refused unless the new key proves itself."""
    try:
        request = KeyRotationRequest.model_validate_json(body)
        public_key_from_text(request.public_key)
    except (ValidationError, ValueError) as exc:  # binascii.Error is a ValueError
        raise RegistryInputInvalid(reason="not a key rotation request", site_id=site_id) from exc
    if not request.proves_possession(site_id, timestamp):
        raise RegistryInputInvalid(reason="the new key's proof does not verify", site_id=site_id)
    return request
