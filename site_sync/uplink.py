"""The site agent's HTTP client for the central registry: signed pushes and pulls, and every
answer turned into a result or a typed error the agent can act on.

Errors say what the agent must do next: `RegistryUnreachable` (connection lost, timeout, 5xx,
429, or an answer that is not the registry's: a captive portal on a bad link) means retry later;
`SyncGap` means resend from the seq the registry expects; `SyncConflict` means the registry holds
other content under seqs this site sent (a restored backup, a cloned disk): stop and alert, never
rewrite history; `SyncRefused` (401, 422, other 4xx) needs a person (register the key, upgrade).

Conflict (kernel)
├─ SyncGap              409 sync_gap_reported       the registry answered sync_gap: resend
└─ SyncConflict         409 sync_conflict_reported  the registry answered sync_conflict: stop
Unavailable (kernel)
└─ RegistryUnreachable  503 registry_unreachable
GerbangError (kernel)
└─ SyncRefused          502 sync_refused            details carry the registry's status and code
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gallery_sync.protocol import Signer
from gallery_sync.signed_requests import KEYS_PATH, KeyRotationRequest, sign_request
from kernel.errors import Conflict, GerbangError, Message, Unavailable
from site_sync.transport import registry_http_client

PUSH_PATH = "/v1/sync/batches"
CHANGES_PATH = "/v1/sync/changes"
RECOVERY_PATH = "/v1/sync/recovery"
HEALTH_PATH = "/v1/health"
RETRYABLE_STATUSES = frozenset({408, 429})
# The registry's codes (registry/errors.py) this client turns into the site's own errors below.
REGISTRY_GAP, REGISTRY_CONFLICT = "sync_gap", "sync_conflict"


class RegistryUnreachable(Unavailable):
    code = "registry_unreachable"
    message = Message(
        "Registri pusat tidak dapat dihubungi. Data tetap aman di situs; sinkronisasi dicoba lagi.",
        "The central registry cannot be reached. Data stays safe at the site; sync will retry.",
    )

    @classmethod
    def because(cls, reason: str, status: int | None = None) -> RegistryUnreachable:
        return cls(reason=reason, status=status)


class SyncGap(Conflict):
    """The registry answered `sync_gap`; the site's own code says it was reported, not found here."""

    code = "sync_gap_reported"
    message = Message(
        "Registri meminta pengiriman ulang dari nomor urut sebelumnya.",
        "The registry asks to resend from an earlier sequence number.",
    )

    @property
    def expected_seq(self) -> int:
        """The first seq the registry has not received."""
        return int(self.details["expected_seq"])


class SyncConflict(Conflict):
    """The registry answered `sync_conflict`; details are the registry's."""

    code = "sync_conflict_reported"
    message = Message(
        "Registri menyimpan isi lain untuk nomor urut yang sama. Pengiriman dihentikan; hubungi admin pusat.",
        "The registry holds other content for the same sequence numbers. Pushing stopped; call the central admin.",
    )

    @classmethod
    def reported(cls, details: dict[str, Any]) -> SyncConflict:
        return cls(None, details)


class SyncRefused(GerbangError):
    code = "sync_refused"
    status = 502
    message = Message(
        "Registri menolak permintaan situs ini. Hubungi admin situs (kunci situs, versi).",
        "The registry refused this site's request. Call the site administrator (site key, version).",
    )


@dataclass
class Backoff:
    """Exponential backoff with full jitter: a delay drawn in [0, min(cap, base * 2**attempt)]."""

    base_s: float = 1.0
    cap_s: float = 300.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (0 for the first retry)."""
        return self.rng.uniform(0.0, min(self.cap_s, self.base_s * 2 ** min(attempt, 30)))


@dataclass(frozen=True)
class PushAck:
    """The registry's answer to an accepted batch."""

    acknowledged_through: int
    applied: int
    already_applied: int


@dataclass(frozen=True)
class PulledChange:
    """One change the registry sends down to this site."""

    seq: int
    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class ChangePage:
    """Changes after a cursor, oldest first."""

    changes: list[PulledChange]
    last_seq: int


def _error_of(response: httpx.Response) -> tuple[str, dict[str, Any]]:
    """(code, details) of a registry error body; ("", {}) when it is not one."""
    try:
        error = response.json()["error"]
        return str(error.get("code", "")), dict(error.get("details") or {})
    except (ValueError, KeyError, TypeError, AttributeError):
        return "", {}


def raise_for_answer(response: httpx.Response) -> None:
    """Turn a non-200 answer into the error that says what the agent must do."""
    if response.status_code == 200:
        return
    code, details = _error_of(response)
    if response.status_code >= 500 or response.status_code in RETRYABLE_STATUSES:
        raise RegistryUnreachable.because(code or response.reason_phrase, response.status_code)
    if code == REGISTRY_GAP and isinstance(details.get("expected_seq"), int):
        raise SyncGap(expected_seq=details["expected_seq"])
    if code == REGISTRY_CONFLICT:
        raise SyncConflict.reported(details)
    raise SyncRefused(
        status=response.status_code,
        registry_code=code,
        registry_details=details or response.text[:300],
    )


def _json(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a 200 answer; anything else is not the registry talking."""
    try:
        body = response.json()
    except ValueError as exc:
        raise RegistryUnreachable.because("answer is not JSON", response.status_code) from exc
    if not isinstance(body, dict):
        raise RegistryUnreachable.because("answer is not a JSON object", response.status_code)
    return body


class RegistryClient:
    """Talks to one registry on behalf of one site."""

    def __init__(self, http: httpx.Client, site_id: str, key: Signer) -> None:
        self._http, self.site_id, self._key = http, site_id, key

    @classmethod
    def connect(
        cls,
        base_url: str,
        site_id: str,
        key: Signer,
        timeout_s: float = 30.0,
        ca_file: Path | None = None,
    ) -> RegistryClient:
        """A client over a fresh connection pool to the registry at base_url (see transport)."""
        return cls(registry_http_client(base_url, timeout_s, ca_file), site_id, key)

    def push(self, body: bytes, signature: str) -> PushAck:
        """POST one encoded batch (gzip body, base64 signature): the same bytes on every retry."""
        headers = {
            "X-Gerbang-Site": self.site_id,
            "X-Gerbang-Signature": signature,
            "Content-Encoding": "gzip",
            "Content-Type": "application/json",
        }
        answer = _json(
            self._send(self._http.build_request("POST", PUSH_PATH, content=body, headers=headers))
        )
        try:
            return PushAck(
                int(answer["acknowledged_through"]),
                int(answer.get("applied", 0)),
                int(answer.get("already_applied", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SyncRefused(
                status=200, registry_code="answer_unreadable", registry_details=str(exc)
            ) from exc

    def changes(self, after: int, limit: int) -> ChangePage:
        """GET the changes for this site after a cursor, signed over method, path and time."""
        request = self._http.build_request(
            "GET", CHANGES_PATH, params={"after": after, "limit": limit}
        )
        path = request.url.raw_path.decode("ascii")
        request.headers.update(
            {"X-Gerbang-Site": self.site_id, **sign_request(self._key, "GET", path)}
        )
        answer = _json(self._send(request))
        try:
            changes = [
                PulledChange(int(c["seq"]), str(c["kind"]), dict(c["payload"]))
                for c in answer["changes"]
            ]
            return ChangePage(changes, int(answer.get("last_seq", 0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise SyncRefused(
                status=200, registry_code="answer_unreadable", registry_details=str(exc)
            ) from exc

    def health(self) -> dict[str, Any]:
        """GET the registry's /v1/health (unsigned): it is there and it is the registry."""
        return _json(self._send(self._http.build_request("GET", HEALTH_PATH)))

    def holdings(self, after: str | None, limit: int) -> dict[str, Any]:
        """GET one page of what the registry holds for this site (dead-site recovery)."""
        params: dict[str, Any] = {"limit": limit} | ({"after": after} if after else {})
        request = self._http.build_request("GET", RECOVERY_PATH, params=params)
        path = request.url.raw_path.decode("ascii")
        request.headers.update(
            {"X-Gerbang-Site": self.site_id, **sign_request(self._key, "GET", path)}
        )
        return _json(self._send(request))

    def rotate_key(self, signer: Signer, new_key: Ed25519PrivateKey) -> dict[str, Any]:
        """Ask the registry to make new_key this site's key; the request is signed by `signer`."""
        timestamp = datetime.now(UTC).isoformat(timespec="seconds")
        body = KeyRotationRequest.for_key(self.site_id, new_key, timestamp).model_dump_json()
        content = body.encode()
        headers = {
            "X-Gerbang-Site": self.site_id,
            "Content-Type": "application/json",
            **sign_request(signer, "POST", KEYS_PATH, timestamp, content),
        }
        request = self._http.build_request("POST", KEYS_PATH, content=content, headers=headers)
        return _json(self._send(request))

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()

    def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            response = self._http.send(request)
        except httpx.TransportError as exc:  # refused, reset, timed out, DNS: the link, not us
            raise RegistryUnreachable.because(f"{type(exc).__name__}: {exc}") from exc
        raise_for_answer(response)
        return response


def describe(error: GerbangError) -> str:
    """One log line: code and details."""
    return f"{error.code} {json.dumps(error.details, default=str)[:300]}"
