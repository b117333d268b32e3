"""The site's own finger tail through the running service: /ready names the shipped tail while too
few people have fingers and the site's own once enough do, and a fused decision records it
(enrollment/finger_population.py; NBIS minutiae, the fast extractor, and a minimum of 3 people)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.settings import MatchSettings
from tests.integration.conftest import SiteClient, make_site_client
from tests.integration.test_enrolment_api import INMATE, capture, commit

pytestmark = [pytest.mark.model, pytest.mark.slow]

PEOPLE = ("facerec-steve_wozniak", "facerec-obama", "facerec-paul_allen")


@pytest.fixture(scope="module")
def site(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteClient]:
    match = MatchSettings(open_set_fallback="fmr-points", finger_extractor="nbis",
                          finger_site_min_people=3)  # fmt: skip
    for client in make_site_client(model_dir, tmp_path_factory.mktemp("site"), match=match):
        client.site.finger_population.refresh_changes = 1  # refit after every write (default 20)
        yield client


def _enrol(sc: SiteClient, dev_faces: Path, fingerprints: Path, number: int) -> None:
    """Person `number`: three photos, then two fingers of fvc2002-db1_b, 3 impressions each."""
    photos = [f"{PEOPLE[number]}/{k}.jpg" for k in (1, 2, 3)]
    session = capture(sc, dev_faces, "inmate", photos)
    person = commit(sc, session, {**INMATE, "registration_number": f"B.I-77{number}/2026"})
    identity_id = person.json()["identity_id"]
    folder = fingerprints / "fvc2002-db1_b"
    for position, finger in ((2, 101 + 2 * number), (7, 102 + 2 * number)):
        for impression in (1, 2, 3):
            name = f"{finger}_{impression}.tif"
            response = sc.client.post(
                f"/v1/identities/{identity_id}/fingers",
                files={"image": (name, (folder / name).read_bytes(), "image/tiff")},
                data={"position": position}, headers=sc.as_role("enrolment_officer"),
            )  # fmt: skip
            assert response.status_code == 200 and response.json()["accepted"], response.text


def _calibration(sc: SiteClient) -> dict[str, object]:
    body = sc.client.get("/ready").json()
    return body["finger_calibration"]  # type: ignore[no-any-return]


def test_the_site_tail_serves_once_enough_people_have_fingers(
    site: SiteClient, dev_faces: Path, fingerprints: Path, nbis_library: Path
) -> None:
    for number in range(2):
        _enrol(site, dev_faces, fingerprints, number)
    before = _calibration(site)
    site.site.finger_population.wait(60)
    assert _calibration(site)["calibration"] == "shipped" and before["calibration"] == "shipped"
    assert _calibration(site)["calibrated_people"] == 2
    _enrol(site, dev_faces, fingerprints, 2)
    population, deadline = site.site.finger_population, time.monotonic() + 60
    while time.monotonic() < deadline:  # until a fit has seen every write
        _calibration(site)  # asking starts a refit in the background when writes are unseen
        population.wait(10)
        if population._fitted[0] == site.site.fingers.stored_generation():
            break
    after = _calibration(site)
    assert after["calibration"] == "site" and after["calibrated_people"] == 3
    assert "site UPT-DEV: 3 people's enrolled fingers" in str(after["dataset"])
    # each finger probes the other 2 people's impressions at its position, as the index holds them
    held = site.site.fingers.held()
    stored = {(person, position): 0 for _, person, position, _, _ in held}
    for _, person, position, _, _ in held:
        stored[(person, position)] += 1
    expected = sum(n for (p, pos), n in stored.items() for (q, qpos) in stored
                   if q != p and qpos == pos)  # fmt: skip
    assert len(held) == 18 and after["impostor_comparisons"] == expected == 6 * 2 * 3
    assert site.site.finger_tail() is site.site.finger_population.current()
    assert site.site.fusion_model().finger.tail is site.site.finger_tail()  # type: ignore[attr-defined]
