"""The desk's national lookup against `httpx.MockTransport` registries: what it sends verifies with
the registry's own check over the very body, and every kind of non-answer becomes 'unavailable'
with a reason instead of an exception (the desk must still save on its local check)."""

from __future__ import annotations

import json

import httpx
import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gallery_sync.protocol import signed_by
from gallery_sync.signed_requests import request_message
from site_sync.national_lookup import NationalLookup

KEY = Ed25519PrivateKey.generate()
PROBES = np.eye(2, 128, dtype=np.float32)
PERSON = {"identity_id": "0b9c1f0e-3b4f-4a51-9d2f-1a2b3c4d5e6f", "role": "inmate",
          "status": "active", "site_id": "UPT-A", "site_name": "Lapas A", "full_name": "Budi",
          "registration_number": "B.I-1/2024", "nik": None, "nip": None, "score": 0.97,
          "threshold": 0.93}  # fmt: skip


def _lookup(handler: httpx.MockTransport) -> NationalLookup:
    http = httpx.Client(base_url="http://registry", transport=handler, timeout=1.0)
    return NationalLookup(http, "UPT-B", KEY)


def test_the_request_is_signed_over_its_body_and_the_answer_read() -> None:
    seen: list[httpx.Request] = []

    def registry(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        # what the registry's keyring checks (site_directory.authenticate_request)
        message = request_message(request.method, request.url.raw_path.decode(),
                                  request.headers["X-Gerbang-Timestamp"], request.content)  # fmt: skip
        assert signed_by(message, request.headers["X-Gerbang-Signature"], KEY.public_key())
        return httpx.Response(200, json={"candidates": [PERSON], "threshold": 0.93})

    answer = _lookup(httpx.MockTransport(registry)).search(PROBES, "open-yunet-dlib")
    assert answer.status == "searched" and answer.reason is None
    assert [(c.identity_id, c.site_name, c.score) for c in answer.candidates] == [
        (PERSON["identity_id"], "Lapas A", 0.97)
    ]
    sent = json.loads(seen[0].content)
    assert sent["pack_id"] == "open-yunet-dlib" and len(sent["probes"]) == 2
    assert seen[0].headers["X-Gerbang-Site"] == "UPT-B"


def test_every_non_answer_is_unavailable_with_its_reason() -> None:
    def refusing(_: httpx.Request) -> httpx.Response:
        error = {"code": "search_pack_mismatch", "details": {"registry_pack_id": "buffalo_sc"}}
        return httpx.Response(422, json={"error": error})

    def portal(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>Login to the hotel wifi</html>")

    def half(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"candidates": [{"identity_id": "x"}]})

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    reasons = {}
    for name, handler in (("refusing", refusing), ("portal", portal), ("half", half),
                          ("down", down), ("slow", slow)):  # fmt: skip
        answer = _lookup(httpx.MockTransport(handler)).search(PROBES, "open-yunet-dlib")
        assert answer.status == "unavailable" and answer.candidates == ()
        reasons[name] = answer.reason or ""
    assert reasons["refusing"].startswith("registry answered 422 search_pack_mismatch")
    assert "buffalo_sc" in reasons["refusing"]
    assert reasons["portal"].startswith("answer unreadable")
    assert reasons["half"].startswith("answer unreadable: KeyError")
    assert reasons["down"] == "unreachable: ConnectError: connection refused"
    assert reasons["slow"] == "no answer within 1.0 s (ReadTimeout)"
