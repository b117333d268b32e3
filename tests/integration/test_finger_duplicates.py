"""The desk's duplicate check by fingers through the HTTP API (issue 12): a person enrolled again
under another name, with another face, is found by the finger they enrol; a different finger
finds nobody; the finding is in the audit event of the finger enrolment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import SiteClient
from tests.integration.test_enrolment_api import INMATE, VISITOR, capture, commit

pytestmark = pytest.mark.model

FINGER = "fvc2002-db1_b/105_{}.tif"  # one finger, impressions 1-8
OTHER_FINGER = "fvc2002-db1_b/106_1.tif"


def enrol_finger(sc: SiteClient, prints: Path, identity_id: str, name: str, position: int) -> Any:
    """One impression through the finger enrolment API; the answer, which must have kept it."""
    response = sc.client.post(
        f"/v1/identities/{identity_id}/fingers",
        files={"image": (name.rsplit("/", 1)[-1], (prints / name).read_bytes(), "image/tiff")},
        data={"position": position}, headers=sc.as_role("enrolment_officer"),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["accepted"], response.json()
    return response.json()


def person(sc: SiteClient, dev_faces: Path, role: str, photos: list[str], body: dict) -> str:
    session = capture(sc, dev_faces, role, photos)
    response = commit(sc, session, body)
    assert response.status_code == 201, response.text  # the faces are nothing alike
    return str(response.json()["identity_id"])


def audit_details(sc: SiteClient, identity_id: str) -> list[dict[str, Any]]:
    with sc.site.db.reading() as tx:
        rows = tx.execute(
            "SELECT details FROM audit_events WHERE action = 'finger.enrolled' AND subject = ?"
            " ORDER BY rowid",
            (identity_id,),
        ).fetchall()
    return [json.loads(r[0]) for r in rows]


@pytest.fixture(scope="module")
def inmate(site_client: SiteClient, dev_faces: Path, fingerprints: Path, nbis_library: Path) -> str:
    """An active inmate with one impression of finger 105 as the right index (2)."""
    inmate_id = person(site_client, dev_faces, "inmate",
                       [f"deepface-img26/{n}.jpg" for n in range(1, 7)], INMATE)  # fmt: skip
    first = enrol_finger(site_client, fingerprints, inmate_id, FINGER.format(1), 2)
    assert first["duplicates"] == []  # nobody else has fingers yet
    return inmate_id


def test_a_second_enrolment_with_the_same_finger_names_the_first_person(
    site_client: SiteClient, inmate: str, dev_faces: Path, fingerprints: Path
) -> None:
    visitor = person(site_client, dev_faces, "visitor",
                     [f"facerec-steve_wozniak/{n}.jpg" for n in (1, 2, 3)], VISITOR)  # fmt: skip
    # Another impression of the same finger, given this time as the left index (7): found all the same.
    found = enrol_finger(site_client, fingerprints, visitor, FINGER.format(2), 7)["duplicates"]
    assert [d["identity_id"] for d in found] == [inmate]
    match = found[0]
    assert match["full_name"] == INMATE["full_name"] and match["role"] == "inmate"
    assert match["status"] == "active"
    assert match["registration_number"] == INMATE["registration_number"]
    assert match["position"] == 2 and match["score"] >= match["threshold"] > 0
    assert match["inmate_lookalike"] is True  # a visitor with an active inmate's finger

    # A different finger of the visitor: nobody.
    assert enrol_finger(site_client, fingerprints, visitor, OTHER_FINGER, 2)["duplicates"] == []

    # The inmate's next impression finds the visitor, never the inmate themself.
    back = enrol_finger(site_client, fingerprints, inmate, FINGER.format(3), 2)["duplicates"]
    assert [d["identity_id"] for d in back] == [visitor]
    assert back[0]["inmate_lookalike"] is False and back[0]["position"] == 7

    first, second = audit_details(site_client, visitor)
    check = first["duplicate_check"]
    assert check["kind"] == "desk_duplicate" and check["target_fpir"] == 0.05
    assert [c["identity_id"] for c in check["candidates"]] == [inmate]
    assert check["candidates"][0]["inmate_lookalike"] is True
    assert check["threshold"] == pytest.approx(match["threshold"], abs=1e-4)
    searched = [check[f"{what}_searched"] for what in ("templates", "fingers", "people")]
    assert searched == [1, 1, 1]
    assert second["duplicate_check"]["candidates"] == []
