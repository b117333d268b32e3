"""A site's national search before it saves someone: the enrolment desk's probe templates against
the national gallery, answered with the people at or above the calibrated threshold.

The index is read without the registry's write lock: `NationalSearch` and `GalleryIndex` each
serialise a search against their own mutations, so a search waits at most for one in-memory
update (a batch's database work happens before it), never for a whole batch to be applied. A
merged person is answered as their survivor, with the best score of either, so an officer sees
the one identity the registry still keeps. The SQL stays in the portable subset (no `= ANY`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gallery_sync.partitions import UNIT_TOLERANCE
from registry.db import Connection
from registry.errors import RegistryInputInvalid, SearchPackMismatch
from registry.national import MatchPolicy
from registry.national_search import NationalSearch
from registry.payloads import MAX_VECTOR_DIM

MAX_PROBES = 20
MAX_SEARCH_BYTES = 1024 * 1024
MAX_ANSWERED = 20


class SearchRequest(BaseModel):
    """`POST /v1/sync/search`: the captures' templates, their pack, and an optional role filter."""

    model_config = ConfigDict(extra="forbid")

    pack_id: str = Field(min_length=1, max_length=80)
    probes: list[str] = Field(
        min_length=1,
        max_length=MAX_PROBES,
        description="Face templates, each base64 of float32 little-endian values.",
    )
    roles: list[Literal["inmate", "staff", "visitor"]] | None = Field(
        None, description="Only people of these roles; default: everyone."
    )
    limit: int = Field(5, ge=1, le=MAX_ANSWERED, description="Most people answered.")


@dataclass(frozen=True)
class Hit:
    """One person (as found in the index, before merges are resolved) and their best score."""

    identity_id: str
    score: float


def parse_request(body: bytes) -> SearchRequest:
    """The request body as a SearchRequest, or RegistryInputInvalid saying what is wrong."""
    if len(body) > MAX_SEARCH_BYTES:
        raise RegistryInputInvalid(reason=f"search body over {MAX_SEARCH_BYTES} bytes")
    try:
        return SearchRequest.model_validate(json.loads(body))
    except (ValueError, ValidationError) as exc:  # JSONDecodeError is a ValueError
        raise RegistryInputInvalid(reason=f"search body: {str(exc).splitlines()[0][:300]}") from exc


def probe_vectors(request: SearchRequest, policy: MatchPolicy) -> np.ndarray:
    """The probes as unit float32 rows of the gallery's pack and length; refused otherwise."""
    if request.pack_id != policy.pack_id:
        raise SearchPackMismatch(pack_id=request.pack_id, registry_pack_id=policy.pack_id)
    rows = []
    for number, text in enumerate(request.probes):
        try:
            raw = base64.b64decode(text, validate=True)
        except binascii.Error as exc:
            raise RegistryInputInvalid(reason=f"probe {number} is not base64") from exc
        if len(raw) != policy.dimension * 4 or policy.dimension > MAX_VECTOR_DIM:
            raise RegistryInputInvalid(
                reason=f"probe {number} has {len(raw) // 4} values; pack {policy.pack_id} has {policy.dimension}"
            )
        vector = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        if not np.isfinite(vector).all() or abs(float(np.linalg.norm(vector)) - 1) > UNIT_TOLERANCE:
            raise RegistryInputInvalid(reason=f"probe {number} is not a unit-length template")
        rows.append(vector)
    return np.stack(rows)


def search_index(
    index: NationalSearch,
    threshold: float,
    probes: np.ndarray,
    roles: Collection[str] | None,
    limit: int,
) -> list[Hit]:
    """Everyone any probe scores at or above the threshold with, each at their best score."""
    # Twice the limit per probe: merged people collapse onto their survivor afterwards.
    found = index.search(probes, k=2 * limit, roles=roles)
    best: dict[str, float] = {}
    for candidate in (c for per_probe in found for c in per_probe):
        if candidate.score >= threshold and candidate.score > best.get(candidate.identity_id, -2):
            best[candidate.identity_id] = candidate.score
    return [Hit(identity_id, score) for identity_id, score in best.items()]


def national_candidates(
    tx: Connection, hits: list[Hit], threshold: float, limit: int
) -> list[dict[str, Any]]:
    """The people behind the hits (merged ones as their survivor), best first, at most `limit`."""
    if not hits:
        return []
    survivors = _survivors(tx, [h.identity_id for h in hits])
    best: dict[str, float] = {}
    for hit in hits:
        person = survivors.get(hit.identity_id, hit.identity_id)
        best[person] = max(best.get(person, -2.0), hit.score)
    ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))[:limit]
    people = _describe(tx, [person for person, _ in ranked])
    return [
        {**people[person], "score": round(score, 4), "threshold": threshold}
        for person, score in ranked
        if person in people
    ]


def _placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


def _survivors(tx: Connection, identity_ids: list[str]) -> dict[str, str]:
    """merged identity -> the identity it was merged into (merges are kept one hop deep)."""
    rows = tx.execute(
        f"SELECT id, merged_into FROM national_identities WHERE merged_into IS NOT NULL"
        f" AND id IN ({_placeholders(len(identity_ids))})".encode(),
        tuple(identity_ids),
    ).fetchall()
    return {str(r["id"]): str(r["merged_into"]) for r in rows}


def _describe(tx: Connection, identity_ids: list[str]) -> dict[str, dict[str, Any]]:
    """What a site officer needs to judge each person: who, where enrolled, which numbers."""
    rows = tx.execute(
        "SELECT n.id, n.role, n.status, n.site_id, s.name AS site_name,"
        " n.record->>'full_name' AS full_name,"
        " n.record->>'registration_number' AS registration_number,"
        " n.record->>'nik' AS nik, n.record->>'nip' AS nip"
        " FROM national_identities n LEFT JOIN sites s ON s.id = n.site_id"
        f" WHERE n.id IN ({_placeholders(len(identity_ids))})".encode(),
        tuple(identity_ids),
    ).fetchall()
    described = {}
    for row in rows:
        identity_id = str(row.pop("id"))
        described[identity_id] = {"identity_id": identity_id, **row}
    return described
