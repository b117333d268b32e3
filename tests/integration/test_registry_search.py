"""The national search an enrolment desk runs before saving (`POST /v1/sync/search`), on the real
PostgreSQL with real face templates: signed over its body, answered with the people at or above
the registry's threshold (merged people as their survivor), refused clearly for another pack,
audited; and the officer's answer arriving with the enrolment is shown on the duplicate case.

Locally the module skips when PostgreSQL is unreachable; under CI=true it fails instead.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gallery_sync.signed_requests import request_message, sign_request
from tests.integration import test_registry as shared
from tests.integration.test_registry import PACK, FakeSite, Registry

# The registry module's fixtures, used here by name (a fresh database for this module).
database_url, registry_url, face_vectors, registry = (
    shared.database_url,
    shared.registry_url,
    shared.face_vectors,
    shared.registry,
)

SEARCH = "/v1/sync/search"


def _probes(*vectors: np.ndarray) -> list[str]:
    return [base64.b64encode(np.asarray(v, dtype="<f4").tobytes()).decode() for v in vectors]


def _search(
    registry: Registry,
    site: FakeSite,
    body: dict[str, Any],
    *,
    key: Ed25519PrivateKey | None = None,
    sent: bytes | None = None,
    timestamp: str | None = None,
) -> httpx.Response:
    """POST a search signed over `body`; `sent` replaces the bytes actually sent (tampering)."""
    content = json.dumps(body).encode()
    headers = {"X-Gerbang-Site": site.id, "Content-Type": "application/json",
               **sign_request(key or site.key, "POST", SEARCH, timestamp, body=content)}  # fmt: skip
    return registry.client.post(SEARCH, content=sent or content, headers=headers)


def _case_between(registry: Registry, one: str, other: str) -> dict[str, Any]:
    cases = registry.client.get("/v1/cases", headers=registry.tokens["judge"]).json()["cases"]
    return next(c for c in cases if {c["identity_a"], c["identity_b"]} == {one, other})


def test_a_site_finds_a_person_enrolled_elsewhere_with_site_name_and_numbers(
    registry: Registry, face_vectors
) -> None:  # type: ignore[no-untyped-def]
    site_a, site_b = registry.site(), registry.site()
    person, enrolled = site_a.enrol("Barack Obama", [face_vectors["a"]])
    assert registry.push(site_a, site_a.batch([enrolled])).status_code == 200

    found = _search(registry, site_b, {"pack_id": PACK, "probes": _probes(face_vectors["b"])})
    assert found.status_code == 200, found.text
    threshold = registry.service.policy.threshold
    assert found.json()["threshold"] == threshold and found.json()["pack_id"] == PACK
    [candidate] = found.json()["candidates"]
    assert candidate | {"score": None} == {
        "identity_id": person, "role": "inmate", "status": "active", "site_id": site_a.id,
        "site_name": registry.query("SELECT name FROM sites WHERE id = %s", site_a.id)[0][0],
        "full_name": "Barack Obama", "registration_number": enrolled.payload["identity"]["registration_number"],
        "nik": None, "nip": None, "score": None, "threshold": threshold,
    }  # fmt: skip
    assert (
        abs(candidate["score"] - face_vectors["score"]) < 1e-3 and candidate["score"] >= threshold
    )

    stranger = _search(registry, site_b, {"pack_id": PACK, "probes": _probes(face_vectors["other"])})  # fmt: skip
    assert stranger.status_code == 200 and stranger.json()["candidates"] == []
    visitors_only = {"pack_id": PACK, "probes": _probes(face_vectors["b"]), "roles": ["visitor"]}
    assert _search(registry, site_b, visitors_only).json()["candidates"] == []

    audited = registry.query(
        "SELECT actor, details FROM audit WHERE action = 'national.searched' ORDER BY id"
    )
    actor, details = audited[-3]  # the first of the three searches above
    assert actor == site_b.id and details["probes"] == 1
    assert [h["identity_id"] for h in details["hits"]] == [person]


def test_a_search_must_be_signed_by_the_site_over_its_very_body(
    registry: Registry, face_vectors
) -> None:  # type: ignore[no-untyped-def]
    site = registry.site()
    body = {"pack_id": PACK, "probes": _probes(face_vectors["a"])}
    assert _search(registry, site, body).status_code == 200
    unsigned = registry.client.post(SEARCH, json=body, headers={"X-Gerbang-Site": site.id})
    tampered = json.dumps({**body, "probes": _probes(face_vectors["other"])}).encode()
    stale = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")
    for refused in (
        unsigned,
        _search(registry, site, body, key=Ed25519PrivateKey.generate()),
        _search(registry, site, body, sent=tampered),
        _search(registry, site, body, timestamp=stale),
    ):
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["code"] == "sync_unauthenticated"
    # A request without a body signs the same three lines as before: old sites' pulls still verify.
    assert request_message("GET", "/v1/sync/changes?after=0", "T") == b"GET\n/v1/sync/changes?after=0\nT"  # fmt: skip
    assert request_message("POST", SEARCH, "T", b"{}").startswith(b"POST\n/v1/sync/search\nT\n")


def test_probes_of_another_pack_or_shape_are_refused_with_the_reason(
    registry: Registry, face_vectors
) -> None:  # type: ignore[no-untyped-def]
    site = registry.site()
    other_pack = _search(registry, site, {"pack_id": "buffalo_sc", "probes": _probes(face_vectors["a"])})  # fmt: skip
    assert other_pack.status_code == 422
    assert other_pack.json()["error"]["code"] == "search_pack_mismatch"
    assert other_pack.json()["error"]["details"] == {
        "pack_id": "buffalo_sc",
        "registry_pack_id": PACK,
    }
    for probe, reason in (
        (np.ones(512, dtype=np.float32) / np.sqrt(512), "has 512 values"),
        (face_vectors["a"] * 2, "not a unit-length template"),
    ):
        refused = _search(registry, site, {"pack_id": PACK, "probes": _probes(probe)})
        assert refused.status_code == 422
        assert reason in refused.json()["error"]["details"]["reason"]
    garbled = _search(registry, site, {"pack_id": PACK, "probes": ["%%%"]})
    assert garbled.json()["error"]["code"] == "registry_input_invalid"


def test_an_officers_answer_reaches_the_case_and_a_merged_person_is_answered_as_the_survivor(
    registry: Registry, face_vectors
) -> None:  # type: ignore[no-untyped-def]
    site_a, site_b, asking = registry.site(), registry.site(), registry.site()
    older, enrolled_a = site_a.enrol("Barack", [face_vectors["a"]])
    assert registry.push(site_a, site_a.batch([enrolled_a])).status_code == 200
    newer, enrolled_b = site_b.enrol("Hussein", [face_vectors["b"]])
    enrolled_b.payload["national_decisions"] = [{
        "national_identity_id": older, "decision": "same_person", "reason": "same tattoo",
        "officer": "desk-b", "score": face_vectors["score"], "threshold": 0.93,
        "decided_at": "2025-01-01T00:00:00+00:00",
    }]  # fmt: skip
    assert registry.push(site_b, site_b.batch([enrolled_b])).status_code == 200

    case = _case_between(registry, older, newer)
    assert [(d["site_id"], d["identity_id"], d["candidate_id"], d["decision"], d["reason"])
            for d in case["site_decisions"]] == [(site_b.id, newer, older, "same_person", "same tattoo")]  # fmt: skip
    both = _search(registry, asking, {"pack_id": PACK, "probes": _probes(face_vectors["a"])})
    assert {older, newer} <= {c["identity_id"] for c in both.json()["candidates"]}

    decision = {"decision": "same", "reason": "the site officer was right"}
    url = f"/v1/cases/{case['id']}/decision"
    assert registry.client.post(url, json=decision, headers=registry.tokens["judge"]).status_code == 200  # fmt: skip
    # newer's template still sits in the index (status merged): it is answered as older, once
    after = _search(registry, asking, {"pack_id": PACK, "probes": _probes(face_vectors["b"])})
    scores = {c["identity_id"]: c["score"] for c in after.json()["candidates"]}
    assert newer not in scores and scores[older] > 0.999  # newer's own template, as the survivor
