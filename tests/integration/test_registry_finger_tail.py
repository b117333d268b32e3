"""The national search by fingers calibrated on the national fingers (registry/national_finger_tail.py),
on the real PostgreSQL and the SQLite twin with synthetic minutiae sent as sites send them: the
shipped tail below REGISTRY_FINGER_MIN_PEOPLE, the national one from then on (refitted in the
background as records arrive, fitted at start), thresholds, cases and /v1/health read off it,
and people in an undecided case, merged and erased people never counted as impostors.

Locally the module skips when PostgreSQL is unreachable; under CI=true it fails instead.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from models.fingerprint import iso19794, mcc
from models.fingerprint.identify import fmr_for_fpir
from registry.app import create_registry_app
from registry.national_fingers import NationalFingers
from registry.service import RegistryService
from registry.settings import RegistrySettings
from tests.integration import test_registry as shared
from tests.integration.test_registry import PASSWORD, FakeSite, Registry, _random_unit
from tests.unit.test_finger_index import _finger
from tests.unit.test_finger_population import _impression

database_url, registry_url = shared.database_url, shared.registry_url

MIN_PEOPLE = 6
POSITIONS = (2, 7)
IMPRESSIONS = 2  # records a finger: one probes, the other is its genuine mate


@pytest.fixture(scope="module")
def registry(registry_url: str) -> Iterator[Registry]:
    settings = RegistrySettings(database_url=registry_url, finger_min_people=MIN_PEOPLE)
    service = RegistryService(settings)
    with TestClient(create_registry_app(settings, service)) as client:
        service.add_account("judge", "adjudicator", PASSWORD, None)
        service.add_account("admin", "central_admin", PASSWORD, None)
        tokens = {}
        for user in ("admin", "judge"):
            login = {"username": user, "password": PASSWORD}
            token = client.post("/v1/auth/login", json=login).json()["token"]
            tokens[user] = {"Authorization": f"Bearer {token}"}
        yield Registry(client, service, registry_url, tokens)


class People:
    """Synthetic people with fingers, pushed by sites as `finger.enrolled` records."""

    def __init__(self, registry: Registry) -> None:
        self.registry, self.site = registry, registry.site()
        self.rng = np.random.default_rng(7)
        self.fingers: dict[tuple[str, int], np.ndarray] = {}  # (person, position) -> minutiae
        self.faces = 1000

    def enrol(
        self, count: int, site: FakeSite | None = None, copy_of: str | None = None
    ) -> list[str]:
        """`count` people with POSITIONS fingers of IMPRESSIONS records each (a copy of another
        person's fingers: the same person enrolled again under another name)."""
        site = site or self.site
        changes, people = [], []
        for _ in range(count):
            self.faces += 1
            person, enrolled = site.enrol(f"P{self.faces}", [_random_unit(self.faces)])
            changes.append(enrolled)
            for position in POSITIONS:
                rows = self.fingers[(copy_of, position)] if copy_of else _finger(self.rng)
                self.fingers[(person, position)] = rows
                for impression in range(1, IMPRESSIONS + 1):
                    changes.append(self._record(site, person, position, impression, rows))
            people.append(person)
        assert self.registry.push(site, site.batch(changes)).status_code == 200
        return people

    def _record(self, site: FakeSite, person: str, position: int, impression: int,
                rows: np.ndarray) -> Any:  # fmt: skip
        record = iso19794.encode([(position, _impression(rows, self.rng))])
        body = {"position": position, "impression": impression, "extractor": "leader (test)",
                "iso_record_b64": base64.b64encode(record).decode(), "quality": 60}  # fmt: skip
        return site.change("finger.enrolled", person, body)


@pytest.fixture(scope="module")
def people(registry: Registry) -> People:
    return People(registry)


def _fingers(registry: Registry) -> NationalFingers:
    fingers = registry.service.gallery.fingers
    assert fingers is not None
    fingers.tails.wait(60)  # a fit a commit started
    return fingers


def test_the_shipped_tail_serves_until_enough_people_hold_fingers_then_the_national_one(
    registry: Registry, people: People
) -> None:
    fingers = _fingers(registry)
    shipped, fpir = fingers.policy.tail, fingers.policy.target_fpir
    assert shipped is not None and fingers.tails.state().source == "shipped"
    people.enrol(MIN_PEOPLE - 1)  # 20 records: enough of a move to fit again, too few people
    fingers = _fingers(registry)
    state = fingers.tails.state()
    assert (state.tail, state.source, state.people) == (shipped, "shipped", MIN_PEOPLE - 1)
    assert fingers.threshold(40)[0] == shipped.threshold_at_fmr(fmr_for_fpir(fpir, 40))
    health = registry.client.get("/v1/health").json()["fingers"]["calibration"]
    assert health == {"calibration": "shipped", "dataset": shipped.dataset,
                      "calibrated_people": MIN_PEOPLE - 1,
                      "impostor_comparisons": shipped.tail.n}  # fmt: skip

    people.enrol(5)  # 20 more records, 10 people: fitted again in the background
    fingers = _fingers(registry)
    state = fingers.tails.state()
    assert state.source == "national" and state.people == 10 and state.tail is not None
    assert state.tail.dataset.startswith("national: 10 people's finger records")
    # every finger probes (20 of them) against every other person's records at any position
    assert state.tail.tail.n == 20 * 9 * len(POSITIONS) * IMPRESSIONS
    assert len(state.tail.genuine) == 20 * (IMPRESSIONS - 1)
    national = state.tail.threshold_at_fmr(fmr_for_fpir(fpir, 40))
    assert fingers.threshold(40)[0] == national != shipped.threshold_at_fmr(fmr_for_fpir(fpir, 40))
    health = registry.client.get("/v1/health").json()["fingers"]
    assert health["calibration"]["calibration"] == "national"
    assert health["calibration"]["calibrated_people"] == 10
    assert health["calibration"]["dataset"] == state.tail.dataset
    assert health["threshold"] == state.tail.threshold_at_fmr(fmr_for_fpir(fpir, 40))

    # The first person enrolled again elsewhere: the case is decided off the national tail.
    first = next(iter(people.fingers))[0]
    [again] = people.enrol(1, registry.site(), copy_of=first)
    [(case_id, threshold, searched)] = registry.query(
        "SELECT id, threshold, templates_searched FROM duplicate_cases WHERE modality = 'finger'"
        " AND %s IN (identity_a, identity_b) AND %s IN (identity_a, identity_b)",
        first, again,
    )  # fmt: skip
    assert threshold == state.tail.threshold_at_fmr(fmr_for_fpir(fpir, searched))
    [(opened,)] = registry.query(
        "SELECT details FROM audit WHERE action = 'case.opened' AND subject = %s", str(case_id)
    )
    assert opened["details"]["finger_calibration"] == state.tail.dataset

    # A received print searched against everyone (an exchange import) names it too.
    probe = mcc.with_cylinders(_impression(people.fingers[(first, 2)], people.rng))
    matches, setting = fingers.search_received([(2, probe.cylinders)])
    assert {m.identity_id for m in matches} == {first, again}
    assert setting.calibration == state.tail.dataset
    assert setting.threshold == state.tail.threshold_at_fmr(fmr_for_fpir(fpir, 44))


def test_undecided_merged_and_erased_people_are_not_impostors_and_a_start_fits_at_once(
    registry: Registry, people: People
) -> None:
    fingers = _fingers(registry)
    [case] = registry.client.get("/v1/cases", headers=registry.tokens["judge"]).json()["cases"]
    pair = {case["identity_a"], case["identity_b"]}
    # 11 people hold fingers; the first and their copy are in the open case: neither is an impostor
    assert fingers.tails.refresh_now().people == 9
    assert not pair & {p for p, _ in fingers.tails.population()}
    decision = {"decision": "same", "reason": "the same fingers"}
    url = f"/v1/cases/{case['id']}/decision"
    decided = registry.client.post(url, json=decision, headers=registry.tokens["judge"])
    assert decided.status_code == 200
    merged = (pair - {decided.json()["survivor_id"]}).pop()
    fingers = _fingers(registry)
    state = fingers.tails.refresh_now()
    assert state.people == 10 and merged not in {p for p, _ in fingers.tails.population()}
    assert state.tail is not None and state.tail.tail.n == 20 * 9 * len(POSITIONS) * IMPRESSIONS
    assert merged in {owner[0] for _, owner, _ in fingers.gallery.held()}  # still searched

    erased = next(p for p, _ in people.fingers if p not in (merged, decided.json()["survivor_id"]))
    change = people.site.change("identity.erased", erased, {"templates": 1, "images": 0})
    assert registry.push(people.site, people.site.batch([change])).status_code == 200
    fingers = _fingers(registry)
    assert fingers.tails.refresh_now().people == 9
    assert erased not in {p for p, _ in fingers.tails.population()}

    restarted = RegistryService(registry.service.settings)
    restarted.start()  # the first rebuild fits in the starting thread: no wait
    assert restarted.gallery.fingers is not None
    state = restarted.gallery.fingers.tails.state()
    assert state.source == "national" and state.people == 9
    assert merged not in {p for p, _ in restarted.gallery.fingers.tails.population()}
