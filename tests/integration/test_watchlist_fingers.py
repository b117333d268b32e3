"""A national watchlist entry with fingers (issue 12), on the real PostgreSQL and the SQLite twin
with real FVC2002 prints through NBIS and MCC:

- the entry's ISO/IEC 19794-2 records are stored sealed, owned by no site, indexed by the national
  search by fingers (which opens a `finger` case against a site's enrolment of that finger), sent
  to every site in `watchlist.added` in the shape transfers use, and erased with the entry;
- an entry with neither faces nor fingers, or with a record the search cannot read, is refused
  whole with a stable code, nothing stored.

The site's side of the trip is tests/unit/test_watchlist_fingers_pull.py; the whole trip to a
real site's gate is tests/integration/test_watchlist_fingers_gate.py.
Locally the module skips when PostgreSQL is unreachable; under CI=true it fails instead.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import pytest

from enrollment.vault import aad_for
from models.fingerprint import iso19794
from registry.vault import is_sealed
from tests.integration import test_registry as shared
from tests.integration.test_registry import Registry, _random_unit
from tests.integration.test_registry_fingers import _cases_of, _finger, prints

pytestmark = pytest.mark.model

# The registry module's fixtures, used here by name (a fresh database for this module).
database_url, registry_url, registry = shared.database_url, shared.registry_url, shared.registry
prints = prints  # noqa: PLW0127 (the module fixture of ISO records, used by name)

TRAVELLING = {"position", "impression", "extractor", "quality", "iso_record_b64"}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _add(registry: Registry, **entry: Any) -> Any:
    body = {"full_name": "Buronan", "reason": "melarikan diri 2025", **entry}
    return registry.client.post("/v1/watchlist", json=body, headers=registry.tokens["admin"])


def _count(registry: Registry, table: str) -> int:
    return int(registry.query(f"SELECT count(*) FROM {table}")[0][0])


def test_a_finger_only_entry_opens_a_finger_case_against_a_site_enrolment_of_that_finger(
    registry: Registry, prints: dict[str, Any]
) -> None:
    site = registry.site()
    enrolled, change = site.enrol("Budi", [_random_unit(301)], role="visitor")
    pushed = registry.push(site, site.batch([change, _finger(site, enrolled, prints["b"], 2, 1)]))
    assert pushed.status_code == 200, pushed.text
    added = _add(registry, fingers=[{"position": 2, "iso_record_b64": _b64(prints["a"])}])
    assert added.status_code == 200, added.text
    wanted = added.json()["identity_id"]
    [case] = _cases_of(registry, wanted)
    assert {case["identity_a"], case["identity_b"]} == {wanted, enrolled}
    assert case["modality"] == "finger" and case["score"] >= case["threshold"]


def test_an_entry_s_fingers_are_sealed_indexed_sent_to_every_site_and_erased_with_it(
    registry: Registry, prints: dict[str, Any]
) -> None:
    site = registry.site()
    cursor = registry.pull(site).json()["last_seq"]
    fingers = [{"position": 2, "iso_record_b64": _b64(prints["a"])},
               {"position": 2, "iso_record_b64": _b64(prints["a_again"]), "quality": 55}]  # fmt: skip
    added = _add(registry, templates=[_b64(_random_unit(302).tobytes())], fingers=fingers)
    assert added.status_code == 200, added.text
    wanted = added.json()["identity_id"]

    rows = registry.query(
        "SELECT id, site_id, site_seq, position, impression, extractor, iso_record, quality"
        " FROM national_fingers WHERE identity_id = %s ORDER BY id",
        wanted,
    )
    assert [r[1:6] for r in rows] == [(None, None, 2, 1, "iso-19794-2"), (None, None, 2, 2, "iso-19794-2")]  # fmt: skip
    assert [r[7] for r in rows] == [None, 55]
    aad = aad_for("national_fingers", "iso_record", wanted)
    for row, plain in zip(rows, (prints["a"], prints["a_again"]), strict=True):
        assert is_sealed(row[6]) and registry.service.vault.open(row[6], aad) == plain
    index = registry.service.gallery.fingers
    assert index is not None and all(row[0] in index.gallery for row in rows)

    [sent] = [c for c in registry.pull(site, after=cursor).json()["changes"]
              if c["kind"] == "watchlist.added" and c["payload"]["identity"]["id"] == wanted]  # fmt: skip
    assert [set(f) for f in sent["payload"]["fingers"]] == [TRAVELLING, TRAVELLING]
    assert [base64.b64decode(f["iso_record_b64"]) for f in sent["payload"]["fingers"]] == [
        prints["a"], prints["a_again"],
    ]  # fmt: skip
    assert len(sent["payload"]["templates"]) == 1

    removal = registry.client.post(f"/v1/watchlist/{wanted}/removal", json={"reason": "dicabut"},
                                   headers=registry.tokens["admin"])  # fmt: skip
    assert removal.status_code == 200, removal.text
    left = "SELECT count(*) FROM national_fingers WHERE identity_id = %s"
    assert registry.query(left, wanted) == [(0,)]
    assert not any(row[0] in index.gallery for row in rows)
    [(details,)] = registry.query(
        "SELECT details FROM audit WHERE action = 'watchlist.removed' AND subject = %s", wanted
    )
    assert (details["templates_erased"], details["fingers_erased"]) == (1, 2)


def test_an_entry_without_a_usable_modality_is_refused_whole_with_a_stable_code(
    registry: Registry, prints: dict[str, Any]
) -> None:
    [(position, template)] = iso19794.decode(prints["a"])
    few = dataclasses.replace(template, minutiae=template.minutiae[:5])
    good = {"position": 2, "iso_record_b64": _b64(prints["a"])}
    refused = {
        "no_biometrics": ({"templates": [], "fingers": []}, "watchlist_no_biometrics", None),
        "not_iso": ({"fingers": [good, {"position": 2, "iso_record_b64": _b64(b"FMR\0not a record")}]},
                    "watchlist_finger_invalid", 1),
        "not_base64": ({"fingers": [{"position": 2, "iso_record_b64": "%%%%"}]},
                       "watchlist_finger_invalid", 0),
        "other_finger": ({"fingers": [{"position": 7, "iso_record_b64": _b64(prints["a"])}]},
                         "watchlist_finger_invalid", 0),
        "two_views": ({"fingers": [{"position": 2, "iso_record_b64": _b64(
            iso19794.encode([(2, template), (3, template)]))}]}, "watchlist_finger_invalid", 0),
        "few_minutiae": ({"fingers": [{"position": 2, "iso_record_b64": _b64(
            iso19794.encode([(position, few)]))}]}, "watchlist_finger_invalid", 0),
        "bad_face_beside_good_finger": ({"templates": ["AAAA"], "fingers": [good]},
                                        "registry_input_invalid", None),
    }  # fmt: skip
    before = {t: _count(registry, t) for t in ("national_identities", "national_fingers", "change_log")}  # fmt: skip
    for name, (entry, code, index) in refused.items():
        response = _add(registry, **entry)
        assert response.status_code == 422, (name, response.text)
        error = response.json()["error"]
        assert error["code"] == code and error["message"]["id"] and error["message"]["en"], name
        if index is not None:
            assert error["details"]["finger"] == index, name
    assert {t: _count(registry, t) for t in before} == before  # nothing half-applied


def test_a_record_of_an_unknown_finger_is_stored_as_the_finger_the_officer_names(
    registry: Registry, prints: dict[str, Any]
) -> None:
    [(_, template)] = iso19794.decode(prints["a"])
    unknown = iso19794.encode([(0, template)])  # ISO position 0: the finger is not said
    added = _add(registry, fingers=[{"position": 7, "iso_record_b64": _b64(unknown)}])
    assert added.status_code == 200, added.text
    wanted = added.json()["identity_id"]
    [(position, sealed)] = registry.query(
        "SELECT position, iso_record FROM national_fingers WHERE identity_id = %s", wanted
    )
    record = registry.service.vault.open(sealed, aad_for("national_fingers", "iso_record", wanted))
    assert position == 7 and [p for p, _ in iso19794.decode(record)] == [7]


def test_a_site_s_ban_sends_the_visitor_s_fingers_to_the_other_sites(
    registry: Registry, prints: dict[str, Any]
) -> None:
    banning, other = registry.site(), registry.site()
    cursor = registry.pull(other).json()["last_seq"]
    visitor, enrolled = banning.enrol("Dewi", [_random_unit(303)], role="visitor")
    finger = _finger(banning, visitor, prints["b"], 2, 1)
    ban = banning.change("identity.status", visitor, {"status": "banned", "reason": "narkoba"})
    batch = banning.batch([enrolled, finger, ban])
    assert registry.push(banning, batch).status_code == 200
    [sent] = [c["payload"] for c in registry.pull(other, after=cursor).json()["changes"]
              if c["kind"] == "watchlist.added"]  # fmt: skip
    assert sent["banned_by_site"] == banning.id and [set(f) for f in sent["fingers"]] == [TRAVELLING]  # fmt: skip
    assert base64.b64decode(sent["fingers"][0]["iso_record_b64"]) == prints["b"]
