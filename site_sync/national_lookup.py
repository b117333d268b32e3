"""The enrolment desk's question to the central registry: does anyone held elsewhere look like
this person? (`POST /v1/sync/search`, signed with the site key over method, path, time and body.)

Offline first: the answer is a convenience on top of the local check, never a condition for it.
Every failure (no route, refused, timed out, 5xx, an answer that is not the registry's, a probe
of another pack) comes back as `NationalAnswer("unavailable", reason=...)` within the timeout,
so the desk saves on the local check alone and the audit event says why the registry was not
heard; people an earlier check of the same session was shown still need an answer
(enrollment.duplicates.NationalMemory). httpx's timeout bounds each phase (connect, write, each read), not the total: a registry
trickling bytes could take longer, which a real link failure does not.
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from enrollment.duplicates import NationalAnswer, NationalCandidate
from gallery_sync.protocol import Signer
from gallery_sync.signed_requests import sign_request
from site_sync.transport import registry_http_client

log = logging.getLogger(__name__)
SEARCH_PATH = "/v1/sync/search"
ANSWERED = 5  # people asked for: the desk shows each one to the officer


class NationalLookup:
    """Signed national searches for one site, over a pool of short-timeout connections."""

    def __init__(self, http: httpx.Client, site_id: str, key: Signer) -> None:
        self._http, self.site_id, self._key = http, site_id, key

    @classmethod
    def connect(
        cls, base_url: str, site_id: str, key: Signer, timeout_s: float, ca_file: Path | None = None
    ) -> NationalLookup:
        """A lookup against the registry at base_url, giving up after timeout_s per phase."""
        return cls(registry_http_client(base_url, timeout_s, ca_file), site_id, key)

    def search(self, probes: np.ndarray, pack_id: str) -> NationalAnswer:
        """The registry's candidates for these templates, or 'unavailable' with the reason."""
        try:
            body = self._ask(probes, pack_id)
            return NationalAnswer("searched", tuple(_candidate(c) for c in body["candidates"]))
        except _NoAnswer as exc:
            reason = str(exc)
        except (KeyError, TypeError, ValueError) as exc:
            reason = f"answer unreadable: {type(exc).__name__}: {exc}"
        log.warning("national search unavailable: %s", reason)
        return NationalAnswer("unavailable", reason=reason[:300])

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()

    def _ask(self, probes: np.ndarray, pack_id: str) -> dict[str, Any]:
        payload = {
            "pack_id": pack_id,
            "limit": ANSWERED,
            "probes": [
                base64.b64encode(np.asarray(p, dtype="<f4").tobytes()).decode() for p in probes
            ],
        }
        content = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "X-Gerbang-Site": self.site_id,
                   **sign_request(self._key, "POST", SEARCH_PATH, body=content)}  # fmt: skip
        try:
            response = self._http.post(SEARCH_PATH, content=content, headers=headers)
        except httpx.TimeoutException as exc:
            raise _NoAnswer(
                f"no answer within {self._timeout():.1f} s ({type(exc).__name__})"
            ) from exc
        except httpx.TransportError as exc:  # refused, reset, DNS: the link
            raise _NoAnswer(f"unreachable: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise _NoAnswer(f"registry answered {response.status_code} {_error_code(response)}")
        body = response.json()
        if not isinstance(body, dict):
            raise ValueError("answer is not a JSON object")
        return body

    def _timeout(self) -> float:
        return float(self._http.timeout.read or 0.0)


class _NoAnswer(Exception):
    """The registry could not be heard; the message is the reason the officer's record shows."""


def _error_code(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        return f"{error['code']} {json.dumps(error.get('details'))[:200]}"
    except (ValueError, KeyError, TypeError):
        return response.reason_phrase


def _candidate(raw: dict[str, Any]) -> NationalCandidate:
    """One answered person; KeyError/TypeError/ValueError if the answer lacks what the desk shows."""
    return NationalCandidate(
        identity_id=str(raw["identity_id"]),
        role=str(raw["role"]),
        status=str(raw["status"]),
        site_id=raw.get("site_id"),
        site_name=raw.get("site_name"),
        full_name=raw.get("full_name"),
        score=float(raw["score"]),
        threshold=float(raw["threshold"]),
        registration_number=raw.get("registration_number"),
        nik=raw.get("nik"),
        nip=raw.get("nip"),
    )
