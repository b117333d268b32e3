"""The national duplicate search by fingers (issue 12), on the real PostgreSQL and the SQLite twin
with real FVC2002 prints through NBIS and MCC: the same finger enrolled at two sites under two
names opens one case marked `finger`, a different finger opens none, a person's own impressions
never match themselves, and a replayed or repeated finding never opens a second case.

Locally the module skips when PostgreSQL is unreachable; under CI=true it fails instead.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from enrollment.vault import aad_for
from models.fingerprint import iso19794, mcc, nbis
from models.fingerprint.identify import fmr_for_fpir
from models.fingerprint.minutiae import MinutiaeTemplate
from registry.service import RegistryService
from tests.integration import test_registry as shared
from tests.integration.test_registry import FakeSite, Registry, _random_unit

pytestmark = pytest.mark.model

# The registry module's fixtures, used here by name (a fresh database for this module).
database_url, registry_url, registry = shared.database_url, shared.registry_url, shared.registry

FINGER = "fvc2002-db1_b/105_{}.tif"  # one finger, impressions 1-8
OTHER_FINGER = "fvc2002-db1_b/106_1.tif"
PPI = 500


def _extract(path: Path) -> MinutiaeTemplate:
    grey = np.asarray(Image.open(path).convert("L"), dtype=np.uint8)
    return nbis.extract(grey, PPI)


@pytest.fixture(scope="module")
def prints(fingerprints: Path, nbis_library: Path) -> dict[str, Any]:
    """ISO records: the best-matching pair of four impressions of one finger, another of it, and
    another finger; with the MCC scores the registry will see."""
    same = [_extract(fingerprints / FINGER.format(n)) for n in (1, 2, 3, 4)]
    built = [mcc.with_cylinders(t) for t in same]
    pairs = {
        (i, j): mcc.compare_minutiae(built[i], built[j]) for i in range(4) for j in range(i + 1, 4)
    }
    i, j = max(pairs, key=pairs.__getitem__)
    k = next(n for n in range(4) if n not in (i, j))
    other = _extract(fingerprints / OTHER_FINGER)
    return {
        "a": iso19794.encode([(2, same[i])]), "b": iso19794.encode([(2, same[j])]),
        "a_again": iso19794.encode([(2, same[k])]), "other": iso19794.encode([(2, other)]),
        "score": pairs[(i, j)],
        "other_best": max(mcc.compare_minutiae(mcc.with_cylinders(other), t) for t in built),
    }  # fmt: skip


def _finger(site: FakeSite, identity_id: str, record: bytes, position: int, impression: int):  # type: ignore[no-untyped-def]
    body = {"position": position, "impression": impression, "extractor": "nbis-mindtct",
            "iso_record_b64": base64.b64encode(record).decode(), "quality": 60}  # fmt: skip
    return site.change("finger.enrolled", identity_id, body)


def _cases_of(registry: Registry, *people: str) -> list[dict[str, Any]]:
    cases = registry.client.get("/v1/cases", headers=registry.tokens["judge"]).json()["cases"]
    return [c for c in cases if {c["identity_a"], c["identity_b"]} & set(people)]


def test_the_same_finger_at_two_sites_opens_one_finger_case_and_never_a_second(
    registry: Registry, prints: dict[str, Any]
) -> None:
    fingers = registry.service.gallery.fingers
    assert fingers is not None
    threshold, _, _ = fingers.threshold(2)  # a search over Budi's two records
    assert prints["score"] >= threshold  # the two impressions match at the national threshold
    site_a, site_b = registry.site(), registry.site()
    first, enrolled_a = site_a.enrol("Budi", [_random_unit(101)])
    # two impressions of one finger of one person: they must never match each other as a case
    own = [
        _finger(site_a, first, prints["a"], 2, 1),
        _finger(site_a, first, prints["a_again"], 2, 2),
    ]
    assert registry.push(site_a, site_a.batch([enrolled_a, *own])).status_code == 200
    assert _cases_of(registry, first) == []

    second, enrolled_b = site_b.enrol("Andi", [_random_unit(102)])  # a face nothing like Budi's
    batch = site_b.batch([enrolled_b, _finger(site_b, second, prints["b"], 7, 1)])
    assert registry.push(site_b, batch).status_code == 200

    [case] = _cases_of(registry, first, second)
    assert {case["identity_a"], case["identity_b"]} == {first, second}
    assert case["modality"] == "finger" and case["pack_id"] == fingers.policy.matcher
    assert case["score"] >= case["threshold"] == threshold
    assert case["target_fpir"] == registry.service.settings.finger_duplicate_fpir
    assert case["templates_searched"] == 2  # Budi's two records, never Andi's own
    [(opened,)] = registry.query(
        "SELECT details FROM audit WHERE action = 'case.opened' AND subject = %s", str(case["id"])
    )
    assert opened["modality"] == "finger" and opened["details"]["position"] == 2
    # 2 records at FPIR 1e-3 need FMR 5e-4 per comparison, read off the shipped impostor tail
    assert opened["details"]["calibrated_fmr_point"] == pytest.approx(fmr_for_fpir(1e-3, 2))
    assert opened["details"]["strict_enough"]

    # The same batch again (its answer was lost): already applied, nothing new.
    replay = registry.push(site_b, batch)
    assert replay.status_code == 200 and replay.json()["already_applied"] == 2
    # Andi's next impression of that finger matches Budi again: still the one case.
    again = _finger(site_b, second, prints["a_again"], 7, 2)
    assert registry.push(site_b, site_b.batch([again])).status_code == 200
    assert [c["id"] for c in _cases_of(registry, first, second)] == [case["id"]]


def test_a_different_finger_opens_no_case(registry: Registry, prints: dict[str, Any]) -> None:
    site_a, site_b = registry.site(), registry.site()
    first, enrolled_a = site_a.enrol("Citra", [_random_unit(201)])
    batch = site_a.batch([enrolled_a, _finger(site_a, first, prints["a"], 2, 1)])
    assert registry.push(site_a, batch).status_code == 200
    second, enrolled_b = site_b.enrol("Dewi", [_random_unit(202)])
    batch = site_b.batch([enrolled_b, _finger(site_b, second, prints["other"], 2, 1)])
    assert registry.push(site_b, batch).status_code == 200
    fingers = registry.service.gallery.fingers
    assert fingers is not None
    threshold, _, _ = fingers.threshold(len(fingers.gallery))
    assert prints["other_best"] < threshold  # the prints themselves say there is no match
    assert _cases_of(registry, second) == []
    unsearched = "SELECT count(*) FROM national_fingers WHERE searched_at IS NULL"
    assert registry.query(unsearched) == [(0,)]


def test_an_erased_person_s_fingers_leave_the_index_and_match_nobody(
    registry: Registry, prints: dict[str, Any]
) -> None:
    site_a, site_b = registry.site(), registry.site()
    eka, enrolled = site_a.enrol("Eka", [_random_unit(401)])
    batch = site_a.batch([enrolled, _finger(site_a, eka, prints["a"], 2, 1)])
    assert registry.push(site_a, batch).status_code == 200
    fingers = registry.service.gallery.fingers
    assert fingers is not None and fingers.gallery.people() >= 1
    held = len(fingers.gallery)
    erased = site_a.change("identity.erased", eka, {"templates": 1, "images": 1})
    assert registry.push(site_a, site_a.batch([erased])).status_code == 200
    assert len(fingers.gallery) == held - 1
    fajar, enrolled = site_b.enrol("Fajar", [_random_unit(402)])
    batch = site_b.batch([enrolled, _finger(site_b, fajar, prints["b"], 2, 1)])
    assert registry.push(site_b, batch).status_code == 200
    found = [
        ({c["identity_a"], c["identity_b"]} - {fajar}).pop() for c in _cases_of(registry, fajar)
    ]
    assert found and eka not in found  # Budi's and Citra's copies of that finger, never Eka's


class CountingVault:
    """The registry's vault, counting what the finger search opens (a seam, not a fake)."""

    def __init__(self, vault: Any) -> None:
        self.vault, self.opened = vault, []  # type: ignore[var-annotated]

    def open_or_plain(self, value: Any, aad: bytes) -> bytes:
        self.opened.append(aad)
        return bytes(self.vault.open_or_plain(value, aad))


def test_a_held_record_is_searched_as_the_index_holds_it_without_opening_it_again(
    registry: Registry, prints: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fingers = registry.service.gallery.fingers
    assert fingers is not None
    vault = CountingVault(fingers.vault)
    monkeypatch.setattr(fingers, "vault", vault)
    site_a, site_b = registry.site(), registry.site()
    gita, enrolled = site_a.enrol("Gita", [_random_unit(501)])
    assert registry.push(site_a, site_a.batch([enrolled, _finger(site_a, gita, prints["a"], 2, 1)])).status_code == 200  # fmt: skip
    hadi, enrolled = site_b.enrol("Hadi", [_random_unit(502)])
    assert registry.push(site_b, site_b.batch([enrolled, _finger(site_b, hadi, prints["b"], 4, 1)])).status_code == 200  # fmt: skip
    # each record opened once, to index it; its search reads the index's copy
    own = aad_for("national_fingers", "iso_record", hadi)
    assert vault.opened.count(own) == 1
    assert vault.opened.count(aad_for("national_fingers", "iso_record", gita)) == 1
    [case] = [c for c in _cases_of(registry, hadi) if gita in (c["identity_a"], c["identity_b"])]
    assert case["modality"] == "finger" and case["score"] >= case["threshold"]
    # the score the decoded record gives, within the index's byte values
    decoded = [mcc.with_cylinders(iso19794.decode(prints[k])[0][1]) for k in ("a", "b")]
    assert case["score"] == pytest.approx(mcc.compare_minutiae(*decoded), abs=5e-3)
    unsearched = "SELECT count(*) FROM national_fingers WHERE searched_at IS NULL"
    assert registry.query(unsearched) == [(0,)]


def test_a_restarted_registry_rebuilds_the_finger_index_and_reopens_nothing(
    registry: Registry,
) -> None:
    fingers = registry.service.gallery.fingers
    assert fingers is not None
    held = len(fingers.gallery)
    cases = registry.query("SELECT count(*) FROM duplicate_cases")
    restarted = RegistryService(registry.service.settings)
    restarted.start()
    assert restarted.gallery.fingers is not None
    assert len(restarted.gallery.fingers.gallery) == held > 0
    assert registry.query("SELECT count(*) FROM duplicate_cases") == cases
    health = registry.client.get("/v1/health").json()["fingers"]
    assert health["records"] == held and health["index_bytes"] > 0
    assert health["threshold"] == fingers.threshold(held)[0]


def test_a_reextracted_record_replaces_the_old_one_and_is_searched_again(
    registry: Registry, prints: dict[str, Any]
) -> None:
    """finger.reextracted (enrollment/reextraction.py): the impression's row is replaced, the
    index drops the old cylinders and holds the new, and the new record is searched nationally."""
    fingers = registry.service.gallery.fingers
    assert fingers is not None
    site_a, site_b = registry.site(), registry.site()
    gita, enrolled = site_a.enrol("Gita", [_random_unit(501)])
    batch = site_a.batch([enrolled, _finger(site_a, gita, prints["other"], 2, 1)])
    assert registry.push(site_a, batch).status_code == 200
    held_before = len(fingers.gallery)
    [(old_id,)] = registry.query("SELECT id FROM national_fingers WHERE identity_id = %s", gita)

    body = {"position": 2, "impression": 1, "extractor": "leader (test)", "quality": 60,
            "iso_record_b64": base64.b64encode(prints["a"]).decode()}  # fmt: skip
    assert registry.push(site_a, site_a.batch([site_a.change("finger.reextracted", gita, body)])).status_code == 200  # fmt: skip
    [(new_id, extractor)] = registry.query(
        "SELECT id, extractor FROM national_fingers WHERE identity_id = %s", gita
    )
    assert new_id != old_id and extractor == "leader (test)"
    assert len(fingers.gallery) == held_before and old_id not in fingers.gallery
    assert new_id in fingers.gallery

    # The new record is what the nation compares with: the same finger elsewhere opens a case.
    hana, enrolled_b = site_b.enrol("Hana", [_random_unit(502)])
    batch = site_b.batch([enrolled_b, _finger(site_b, hana, prints["b"], 2, 1)])
    assert registry.push(site_b, batch).status_code == 200
    pairs = [{c["identity_a"], c["identity_b"]} for c in _cases_of(registry, gita, hana)]
    assert {gita, hana} in pairs  # (Hana also matches earlier tests' people with this finger)

    # An impression the registry never held is not invented.
    body = {**body, "impression": 9}
    answer = registry.push(site_a, site_a.batch([site_a.change("finger.reextracted", gita, body)]))
    assert answer.status_code == 200
    assert registry.query("SELECT count(*) FROM national_fingers WHERE identity_id = %s", gita) == [
        (1,)
    ]
