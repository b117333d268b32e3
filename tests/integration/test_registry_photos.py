"""Photos on request at the registry, on both backends behind TestClient (the fixtures and the
FakeSite of tests/integration/test_registry.py): an adjudicator asks, the owning site pulls
`photo.requested`, answers in a signed push, and the registry hands back the very bytes; replays,
refusals, erasure and a regional monitor's refusal included.

The site's own answering code (site_sync/photo_answers.py) is exercised in
tests/unit/test_photo_answers.py and across real processes in test_sync_processes.py; here the
FakeSite sends the answer in the wire format, so each registry rule is pinned on its own.
"""

from __future__ import annotations

import base64
import hashlib
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from PIL import Image

from gallery_sync.protocol import Change
from tests.integration import test_registry as world
from tests.integration.test_registry import FakeSite, Registry, _random_unit

# A fresh database and registry for this module, as test_registry.py makes its own.
database_url, registry_url, registry = world.database_url, world.registry_url, world.registry


def jpeg(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (32, 24, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=90)
    return out.getvalue()


def ask(registry: Registry, identity_id: str, user: str = "judge", reason: str | None = "case"):  # type: ignore[no-untyped-def]
    path = f"/v1/identities/{identity_id}/photo-requests"
    return registry.client.post(path, json={"reason": reason}, headers=registry.tokens[user])


def photo(registry: Registry, identity_id: str, user: str = "judge"):  # type: ignore[no-untyped-def]
    path = f"/v1/identities/{identity_id}/photo"
    return registry.client.get(path, headers=registry.tokens[user])


def provided(
    site: FakeSite, identity_id: str, request_id: int, data: bytes, **extra: Any
) -> Change:
    """The site's answer, in the wire format site_sync/photo_answers.py writes."""
    return site.change("photo.provided", identity_id, {
        "request_id": request_id, "content_type": "image/jpeg", "source": "photo_of_record",
        "sha256": hashlib.sha256(data).hexdigest(), "image_b64": base64.b64encode(data).decode(),
        **extra,
    })  # fmt: skip


def requested(registry: Registry, site: FakeSite) -> list[dict[str, Any]]:
    changes = registry.pull(site).json()["changes"]
    return [c["payload"] for c in changes if c["kind"] == "photo.requested"]


def enrolled(registry: Registry, site: FakeSite, role: str = "inmate", seed: int = 0) -> str:
    person, change = site.enrol(f"Orang {seed}", [_random_unit(seed)], role=role)
    assert registry.push(site, site.batch([change])).status_code == 200
    return person


def test_a_requested_photo_comes_from_the_owning_site_and_reads_back_identical(
    registry: Registry,
) -> None:
    site, bystander = registry.site(), registry.site()
    person = enrolled(registry, site, seed=101)
    first = ask(registry, person)
    assert first.status_code == 201, first.text
    request = first.json()
    assert (request["state"], request["site_id"], request["requested_by"]) == (
        "requested", site.id, "judge",
    )  # fmt: skip
    again = ask(registry, person, user="admin")  # still open: the same request, no new traffic
    assert again.status_code == 200 and again.json()["id"] == request["id"]
    assert requested(registry, site) == [{"request_id": request["id"], "identity_id": person}]
    assert requested(registry, bystander) == []
    waiting = photo(registry, person)
    assert waiting.status_code == 404
    assert waiting.json()["error"]["code"] == "photo_not_available"
    assert waiting.json()["error"]["details"]["state"] == "requested"

    image = jpeg(1)
    batch = site.batch([provided(site, person, request["id"], image)])
    assert registry.push(site, batch).json()["applied"] == 1
    got = photo(registry, person)
    assert got.status_code == 200 and got.content == image
    assert got.headers["content-type"] == "image/jpeg"
    replay = registry.push(site, batch)  # the answer was lost: the site sends the same batch again
    assert replay.status_code == 200 and replay.json()["already_applied"] == 1
    assert registry.query(
        "SELECT count(*) FROM national_photos WHERE identity_id = %s", person
    ) == [(1,)]
    assert registry.query("SELECT state, answered_at IS NOT NULL FROM photo_requests"
                          " WHERE identity_id = %s", person) == [("delivered", True)]  # fmt: skip
    actions = registry.query(
        "SELECT action FROM audit WHERE subject = %s AND action LIKE 'photo.%%' ORDER BY id", person
    )
    assert [a[0] for a in actions] == ["photo.requested", "photo.read"]


def test_case_listings_say_per_person_whether_a_photo_is_available_or_requested(
    registry: Registry,
) -> None:
    site_a, site_b = registry.site(), registry.site()
    twin = _random_unit(102)  # one face enrolled at two sites: a duplicate case
    older, enrolled_a = site_a.enrol("Kembar", [twin])
    assert registry.push(site_a, site_a.batch([enrolled_a])).status_code == 200
    newer, enrolled_b = site_b.enrol("Kembar alias", [twin])
    assert registry.push(site_b, site_b.batch([enrolled_b])).status_code == 200
    request_id = ask(registry, older).json()["id"]
    assert registry.push(site_a, site_a.batch([provided(site_a, older, request_id, jpeg(2))]))
    ask(registry, newer)

    cases = registry.client.get("/v1/cases", headers=registry.tokens["judge"]).json()["cases"]
    [case] = [c for c in cases if {c["identity_a"], c["identity_b"]} == {older, newer}]
    people = {p["id"]: p["photo"] for p in case["people"]}
    assert people[older]["available"] and people[older]["url"] == f"/v1/identities/{older}/photo"
    assert people[older]["request"]["state"] == "delivered"
    assert not people[newer]["available"] and people[newer]["request"]["state"] == "requested"


def test_a_site_without_the_photo_answers_unavailable_and_a_new_request_may_follow(
    registry: Registry,
) -> None:
    site = registry.site()
    person = enrolled(registry, site, seed=103)
    request_id = ask(registry, person).json()["id"]
    answer = site.change("photo.unavailable", person, {"request_id": request_id, "reason": "no_image"})  # fmt: skip
    assert registry.push(site, site.batch([answer])).json()["applied"] == 1
    missing = photo(registry, person).json()["error"]
    assert missing["code"] == "photo_not_available" and set(missing["message"]) == {"id", "en"}
    assert (missing["details"]["state"], missing["details"]["reason"]) == (
        "unavailable",
        "no_image",
    )
    retry = ask(registry, person)
    assert retry.status_code == 201 and retry.json()["id"] > request_id


def test_answers_the_registry_did_not_ask_this_site_for_change_nothing(registry: Registry) -> None:
    owner, other = registry.site(), registry.site()
    person = enrolled(registry, owner, seed=104)
    request_id = ask(registry, person).json()["id"]
    stranger = other.batch([provided(other, person, request_id, jpeg(3)),
                            provided(other, person, request_id + 10_000, jpeg(4))])  # fmt: skip
    outcomes = registry.push(other, stranger).json()["not_applied"]
    assert [o["outcome"] for o in outcomes] == ["ignored", "refused"]
    forged = provided(owner, person, request_id, jpeg(5), sha256=hashlib.sha256(b"x").hexdigest())
    refused = registry.push(owner, owner.batch([forged]))
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "sync_schema_invalid"
    assert registry.query("SELECT state FROM photo_requests WHERE id = %s", request_id) == [
        ("requested",)
    ]
    assert registry.query("SELECT count(*) FROM national_photos WHERE identity_id = %s", person) == [(0,)]  # fmt: skip


def test_an_erasure_deletes_the_stored_photo(registry: Registry) -> None:
    site = registry.site()
    visitor = enrolled(registry, site, role="visitor", seed=105)
    request_id = ask(registry, visitor).json()["id"]
    assert registry.push(site, site.batch([provided(site, visitor, request_id, jpeg(6))]))
    assert photo(registry, visitor).status_code == 200
    erased = site.change("identity.erased", visitor, {"templates": 1, "images": 1})
    assert registry.push(site, site.batch([erased])).json()["applied"] == 1
    assert registry.query("SELECT count(*) FROM national_photos WHERE identity_id = %s", visitor) == [(0,)]  # fmt: skip
    gone = photo(registry, visitor).json()["error"]
    assert gone["code"] == "photo_not_available"
    assert (gone["details"]["state"], gone["details"]["reason"]) == ("unavailable", "erased")
    refused = ask(registry, visitor).json()["error"]  # nothing left at the site either
    assert refused["code"] == "photo_not_available" and refused["details"]["reason"] == "erased"


def test_a_kanwil_monitor_may_not_request_or_see_photos(registry: Registry) -> None:
    site = registry.site()  # in the monitor's own region
    person = enrolled(registry, site, seed=106)
    for response in (ask(registry, person, user="jabar"), photo(registry, person, user="jabar")):
        assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    assert requested(registry, site) == []


def test_a_watchlist_entry_or_an_unknown_identity_has_no_site_to_ask(registry: Registry) -> None:
    vector = base64.b64encode(_random_unit(107).tobytes()).decode()
    entry = registry.client.post("/v1/watchlist", headers=registry.tokens["admin"], json={
        "full_name": "Buronan", "reason": "escaped 2025", "templates": [vector]})  # fmt: skip
    central = ask(registry, entry.json()["identity_id"])
    assert central.status_code == 409 and central.json()["error"]["code"] == "photo_no_site"
    for unknown in (str(uuid.uuid4()), "not-a-uuid"):
        response = ask(registry, unknown)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "registry_not_found"


def test_a_request_left_unanswered_for_days_expires_and_a_new_one_goes_out(
    registry: Registry,
) -> None:
    site = registry.site()
    person = enrolled(registry, site, seed=131)
    first = ask(registry, person).json()
    assert ask(registry, person).json()["id"] == first["id"]  # fresh: the same open request
    with registry.service.db.transaction() as tx:  # three days and a bit pass without an answer
        tx.execute(
            "UPDATE photo_requests SET requested_at = %s WHERE id = %s",
            (datetime.now(UTC) - timedelta(hours=73), first["id"]),
        )
    second = ask(registry, person)
    assert second.status_code == 201 and second.json()["id"] != first["id"]
    assert registry.query("SELECT state, note FROM photo_requests WHERE id = %s", first["id"]) == [
        ("unavailable", "expired: no answer within 72 hours")
    ]
    late = site.batch([provided(site, person, first["id"], jpeg(5))])
    assert registry.push(site, late).status_code == 200
    assert photo(registry, person).status_code == 404  # the late answer to the expired one
    assert [p["request_id"] for p in requested(registry, site)] == [
        first["id"],
        second.json()["id"],
    ]


def test_after_a_transfer_a_photo_the_new_site_lacks_is_asked_from_the_sender(
    registry: Registry,
) -> None:
    sender, receiver = registry.site(), registry.site()
    person = enrolled(registry, sender, seed=151)
    moved = registry.client.post("/v1/transfers", headers=registry.tokens["admin"],
                                 json={"identity_id": person, "to_site": receiver.id, "reason": "mutasi"})  # fmt: skip
    assert moved.status_code == 200, moved.text
    first = ask(registry, person).json()
    assert first["site_id"] == receiver.id  # the owner now; templates travelled, images did not
    no_image = receiver.change("photo.unavailable", person, {"request_id": first["id"], "reason": "no_image"})  # fmt: skip
    assert registry.push(receiver, receiver.batch([no_image])).json()["applied"] == 1
    second = ask(registry, person).json()
    assert second["site_id"] == sender.id
    assert requested(registry, sender) == [{"request_id": second["id"], "identity_id": person}]
    image = jpeg(7)
    answer = provided(sender, person, second["id"], image)
    assert registry.push(sender, sender.batch([answer])).json()["applied"] == 1
    assert photo(registry, person).content == image
