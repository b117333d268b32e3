"""A ban at one site is national (issue 14): three real processes, real photos.

`gerbang registry serve` and two `gerbang serve` sites (the harness of test_sync_processes.py).
A visitor enrolled at site A is banned there by an officer with a reason; the change goes up,
the registry turns it into a watchlist entry, site B pulls it, and B's gate denies the same face
(another photo of that person) as `watchlist_match`, from B's own gallery. Lifting the ban at A
lifts it at B: B erases the face it held only for the watchlist, and the gate no longer names it.

Locally the module skips when PostgreSQL is unreachable; under CI=true it fails instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from enrollment.accounts import AccountStore
from enrollment.db import Database
from tests.integration.test_sync_processes import (  # noqa: F401 (fixtures)
    PASSWORD,
    PERSON,
    SiteProcess,
    World,
    _bearer,
    _wait_for,
    database_url,
    world,
)

pytestmark = [pytest.mark.model, pytest.mark.slow]

VISITOR = {"full_name": "Dewi Lestari", "birth_date": "1988-02-11", "sex": "F",
           "nik": "3201015102880003", "consent_purpose": "verifikasi wajah saat kunjungan"}  # fmt: skip


def _enrol_visitor(site: SiteProcess, photos: list[Path]) -> str:
    with httpx.Client(base_url=site.url, headers=site.headers, timeout=60) as client:
        session = client.post("/v1/captures", json={"role": "visitor"}).json()["session_id"]
        for photo in photos:
            files = {"image": (photo.name, photo.read_bytes(), "image/jpeg")}
            added = client.post(f"/v1/captures/{session}/frames", files=files)
            assert added.status_code == 200 and added.json()["accepted"], added.text
        done = client.post(f"/v1/captures/{session}/commit", json={"identity": VISITOR})
        assert done.status_code == 201, done.text
        return str(done.json()["identity_id"])


def _status(site: SiteProcess, identity_id: str, status: str, reason: str) -> None:
    response = httpx.post(f"{site.url}/v1/identities/{identity_id}/status", headers=site.headers,
                          json={"status": status, "reason": reason}, timeout=30)  # fmt: skip
    assert response.status_code == 200, response.text


def _visitor_entry(site: SiteProcess, photo: Path, nik: str) -> dict[str, Any]:
    files = {"image": (photo.name, photo.read_bytes(), "image/jpeg")}
    response = httpx.post(f"{site.url}/v1/gates/main/visitor-entry", files=files,
                          data={"nik": nik}, headers=site.headers, timeout=60)  # fmt: skip
    assert response.status_code == 200, response.text
    return dict(response.json())


def _held_status(site: SiteProcess, identity_id: str) -> str | None:
    response = httpx.get(f"{site.url}/v1/identities/{identity_id}", headers=site.headers, timeout=30)  # fmt: skip
    return str(response.json()["status"]) if response.status_code == 200 else None


def test_a_visitor_banned_at_site_a_is_denied_at_site_b_and_the_lift_follows(
    world: World,  # noqa: F811
    dev_faces: Path,
) -> None:
    registry, a, b = world.registry, world.a, world.b
    db = Database(b.data_dir / "gerbang.db")  # B's site admin, who configures the gate
    with db.transaction() as tx:
        AccountStore(tx).add_operator("kalapas", "Kalapas", "site_admin", PASSWORD)
    db.close()
    gate = httpx.post(f"{b.url}/v1/gates", headers=_bearer(b.url, "kalapas"), timeout=30,
                      json={"id": "main", "name": "P2U", "directions": ["in", "out"], "roles": ["visitor"]})  # fmt: skip
    assert gate.status_code == 201, gate.text
    photos = sorted((dev_faces / PERSON).glob("*.jpg"))
    visitor = _enrol_visitor(a, photos[:2])
    _wait_for(lambda: registry.query("SELECT status FROM national_identities WHERE id = %s", visitor) == [("active",)],
              "A's visitor at the registry")  # fmt: skip
    stranger = "3201019999990001"  # a card B has never seen: only the face can tell
    assert _visitor_entry(b, photos[6], stranger)["reason"] == "visitor_not_enrolled"

    _status(a, visitor, "banned", "membawa barang terlarang")
    _wait_for(lambda: _held_status(b, visitor) == "banned", "the ban at B")
    denied = _visitor_entry(b, photos[6], stranger)  # a photo neither site enrolled
    assert (denied["result"], denied["reason"]) == ("deny", "watchlist_match")
    assert denied["person"]["identity_id"] == visitor
    assert _visitor_entry(b, photos[7], VISITOR["nik"])["reason"] in {"visitor_banned", "watchlist_match"}  # fmt: skip
    audit = registry.query("SELECT actor, details->>'reason' AS reason FROM audit"
                           " WHERE action = 'watchlist.added' AND subject = %s", visitor)  # fmt: skip
    assert audit == [("UPT-A/desk", "membawa barang terlarang")]
    assert _held_status(a, visitor) == "banned"  # A's own ban came back and changed nothing there

    _status(a, visitor, "active", "larangan dicabut")
    _wait_for(lambda: _held_status(b, visitor) == "erased", "the lifted ban at B")
    assert _visitor_entry(b, photos[6], stranger)["reason"] == "visitor_not_enrolled"
    assert _held_status(a, visitor) == "active"

    _status(a, visitor, "banned", "kembali membawa barang terlarang")  # banned anew
    _wait_for(lambda: _held_status(b, visitor) == "banned", "the second ban at B")
    assert _visitor_entry(b, photos[5], stranger)["reason"] == "watchlist_match"
