"""How a site proves who it is on a request that is not a batch (`GET /v1/sync/changes`, `POST
/v1/sync/search`, `POST /v1/sync/keys`): an Ed25519 signature over the method, the path with its
query, a timestamp and, when the request has a body, the body's sha256, with a key the registry
accepts for the site.

A request without a body signs exactly the three lines it always did, so sites that only pull keep
working; a body adds a fourth line, so a body swapped in transit no longer fits the signature.
The timestamp bounds a replayed request to a few minutes; a replayed read only shows the site the
same answer again, and a replayed key rotation finds the key already current (see site_keys). A
new key comes with a proof: the same statement signed by the new key, so a site can only
register a key it holds. The site and the registry both call these functions, so they cannot
disagree on the bytes.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gallery_sync.protocol import Signer, public_key_from_text, public_key_text, signed_by
from gallery_sync.registry.errors import RegistryInputInvalid, SyncUnauthenticated

KEYS_PATH = "/v1/sync/keys"


def request_message(method: str, path_with_query: str, timestamp: str, body: bytes = b"") -> bytes:
    """The exact bytes signed: `METHOD\\npath?query\\ntimestamp`, then `\\nsha256(body)` if any."""
    message = f"{method.upper()}\n{path_with_query}\n{timestamp}"
    if body:
        message += f"\n{hashlib.sha256(body).hexdigest()}"
    return message.encode()


def sign_request(
    key: Signer,
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


def check_fresh(site_id: str, timestamp: str, max_skew: timedelta) -> None:
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


def key_proof_message(site_id: str, public_key: str, timestamp: str) -> bytes:
    """What a new key signs to prove the site holds it: bound to the site and the request time."""
    return f"gerbang-site-key\n{site_id}\n{public_key}\n{timestamp}".encode()


class KeyRotationRequest(BaseModel):
    """The body of `POST /v1/sync/keys`: the new public key and its proof of possession."""

    model_config = ConfigDict(extra="forbid")

    public_key: str = Field(min_length=40, max_length=60, description="base64 raw Ed25519 key")
    proof: str = Field(min_length=40, max_length=200, description="base64 signature by the new key")

    @classmethod
    def for_key(
        cls, site_id: str, new_key: Ed25519PrivateKey, timestamp: str
    ) -> KeyRotationRequest:
        """The request a site sends for its new key (site side)."""
        public = public_key_text(new_key.public_key())
        proof = new_key.sign(key_proof_message(site_id, public, timestamp))
        return cls(public_key=public, proof=base64.b64encode(proof).decode())

    @classmethod
    def parse(cls, body: bytes, site_id: str, timestamp: str) -> KeyRotationRequest:
        """The request in a signed body, refused unless the new key proves itself."""
        try:
            request = cls.model_validate_json(body)
            key: Ed25519PublicKey = public_key_from_text(request.public_key)
        except (ValidationError, ValueError) as exc:  # binascii.Error is a ValueError
            raise RegistryInputInvalid.because(
                "not a key rotation request", site_id=site_id
            ) from exc
        if not signed_by(
            key_proof_message(site_id, request.public_key, timestamp), request.proof, key
        ):
            raise RegistryInputInvalid.because(
                "the new key's proof does not verify", site_id=site_id
            )
        return request
