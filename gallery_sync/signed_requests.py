"""How a site signs a request that is not a batch (`GET /v1/sync/changes`, `POST /v1/sync/search`,
`POST /v1/sync/keys`): an Ed25519 signature over the method, the path with its query, a timestamp
and, when the request has a body, the body's sha256.

A request without a body signs exactly the three lines it always did, so sites that only pull keep
working; a body adds a fourth line, so a body swapped in transit no longer fits the signature.
A new key comes with a proof: the same statement signed by the new key, so a site can only
register a key it holds. The site (site_sync/) and the registry (registry/site_auth.py) both call
these functions, so they cannot disagree on the bytes.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

from gallery_sync.protocol import Signer, public_key_from_text, public_key_text, signed_by

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

    def proves_possession(self, site_id: str, timestamp: str) -> bool:
        """Whether the proof is the new key's signature over this site's statement."""
        try:
            key: Ed25519PublicKey = public_key_from_text(self.public_key)
        except ValueError:  # binascii.Error is a ValueError
            return False
        return signed_by(key_proof_message(site_id, self.public_key, timestamp), self.proof, key)
