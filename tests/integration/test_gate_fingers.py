"""Passages with a finger through the real app (real faces, real NBIS + MCC): the visitor exit
that requires a finger, the inmate alarm by finger, staff with a required finger, and a
stranger's face with a genuine finger refused at a movement (issue 12)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.settings import GateSettings, MatchSettings
from tests.e2e.test_gate_day import V1_NIK, V2_NIK, _enrol
from tests.factories import encode
from tests.integration.conftest import SiteClient, make_site_client, photo

pytestmark = [pytest.mark.model, pytest.mark.slow]

POSITION = 2  # every finger here is enrolled and presented as the right index
FINGERS = {"inmate": 101, "visitor": 102, "staff": 103}  # FVC2002 DB1_B finger per person


def _print(db1: Path, finger: int, impression: int) -> tuple[str, bytes, str]:
    name = f"{finger}_{impression}.tif"
    return name, (db1 / name).read_bytes(), "image/tiff"


@pytest.fixture(scope="module")
def site(
    model_dir: Path, dev_faces: Path, fingerprints: Path, nbis_library: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SiteClient, dict[str, str]]]:  # fmt: skip
    required = GateSettings(
        require_finger_visitor_exit=True, require_finger_staff=True, require_finger_movement=True
    )
    folder = tmp_path_factory.mktemp("gate-fingers")
    match = MatchSettings(open_set_min_people=2)
    for sc in make_site_client(model_dir, folder, match=match, gate=required):
        gate = {"id": "main", "name": "Pintu utama", "directions": ["in", "out"],
                "roles": ["visitor", "staff", "inmate"]}  # fmt: skip
        assert sc.client.post("/v1/gates", json=gate, headers=sc.as_role("site_admin")).is_success
        born = {"birth_date": "1990-12-01", "sex": "M"}
        people = {
            "inmate": _enrol(sc, dev_faces, "inmate", "deepface-img26",
                             {"full_name": "Andi", **born, "registration_number": "B.I-1/2024"}),
            "visitor": _enrol(sc, dev_faces, "visitor", "deepface-img8",
                              {"full_name": "Sari", "birth_date": "1985-03-07", "sex": "F",
                               "nik": V1_NIK, "consent_purpose": "kunjungan"}),
            "staff": _enrol(sc, dev_faces, "staff", "facerec-steve_wozniak",
                            {"full_name": "Pak Wawan", "birth_date": "1980-05-15", "sex": "M",
                             "nip": "198005152005031001"}),
        }  # fmt: skip
        db1 = fingerprints / "fvc2002-db1_b"
        for who, finger in FINGERS.items():
            for impression in (1, 2, 3):
                response = sc.client.post(
                    f"/v1/identities/{people[who]}/fingers",
                    files={"image": _print(db1, finger, impression)},
                    data={"position": POSITION},
                    headers=sc.as_role("enrolment_officer"),
                )
                assert response.json()["accepted"], response.text
        yield sc, people


def _pass(sc: SiteClient, path: str, face: tuple[str, bytes, str],
          finger: tuple[str, bytes, str] | None, **form: str) -> dict[str, Any]:  # fmt: skip
    files = {"image": face, **({"finger_image": finger} if finger else {})}
    data = {**form, **({"finger_position": str(POSITION)} if finger else {})}
    who = (
        "gate_officer" if path == "inmate-movement" else "device"
    )  # a movement is an officer's act
    response = sc.client.post(
        f"/v1/gates/main/{path}", files=files, data=data, headers=sc.as_role(who)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"]["id"] and body["message"]["en"]
    return body


def _enter(sc: SiteClient, dev_faces: Path, db1: Path) -> None:
    entry = _pass(sc, "visitor-entry", photo(dev_faces, "deepface-img8/4.jpg"),
                  _print(db1, FINGERS["visitor"], 4), nik=V1_NIK)  # fmt: skip
    assert (entry["result"], entry["reason"]) == ("admit", "visitor_verified"), entry


def test_the_visitor_exit_requires_a_finger_matching_a_visitor_inside_and_no_inmate(
    site: tuple[SiteClient, dict[str, str]], dev_faces: Path, fingerprints: Path
) -> None:
    sc, people = site
    db1, face = fingerprints / "fvc2002-db1_b", photo(dev_faces, "deepface-img8/5.jpg")
    _enter(sc, dev_faces, db1)
    missing = _pass(sc, "visitor-exit", face, None)
    assert (missing["result"], missing["reason"]) == ("deny", "finger_required")
    assert missing["message"]["en"].startswith("Place a finger")
    stranger_finger = _pass(sc, "visitor-exit", face, _print(db1, 106, 8))
    assert (stranger_finger["result"], stranger_finger["reason"]) == ("deny", "finger_mismatch")
    inmates_finger = _pass(sc, "visitor-exit", face, _print(db1, FINGERS["inmate"], 8))
    assert (inmates_finger["result"], inmates_finger["reason"]) == ("alarm", "inmate_leaving")
    assert inmates_finger["person"]["identity_id"] == people["inmate"]
    alarm = inmates_finger["evidence"]["fused:inmate/active"]
    named = next(p for p in alarm["people"] if p["identity_id"] == people["inmate"])
    assert (
        named["used"] == ["face", "finger"] and named["finger_score"] >= named["finger_threshold"]
    )
    leaving = _pass(sc, "visitor-exit", face, _print(db1, FINGERS["visitor"], 8))
    assert (leaving["result"], leaving["reason"]) == ("admit", "visitor_exit_matched"), leaving
    evidence = leaving["evidence"]["fused:visitor/any/inside"]
    assert evidence["rule"] == "together" and evidence["finger_used"] is True
    assert evidence["target_fpir"] == 0.01 and evidence["gallery_people"] == 1
    inside = next(p for p in evidence["people"] if p["identity_id"] == people["visitor"])
    assert inside["match"] and inside["fused_score"] >= inside["fused_threshold"]
    assert inside["finger_score"] >= inside["finger_support"]


def test_an_unreadable_required_finger_is_a_recorded_denial_not_an_error(
    site: tuple[SiteClient, dict[str, str]], dev_faces: Path
) -> None:
    sc, _ = site
    blank = ("blank.png", encode(np.zeros((300, 300), np.uint8), "PNG"), "image/png")
    staff = _pass(
        sc, "staff", photo(dev_faces, "facerec-steve_wozniak/4.jpg"), blank, direction="in"
    )
    assert (staff["result"], staff["reason"]) == ("deny", "finger_unusable")
    assert staff["evidence"]["fused:staff/active"]["finger_problem"] == "fingerprint_image_invalid"
    no_finger = _pass(
        sc, "staff", photo(dev_faces, "facerec-steve_wozniak/4.jpg"), None, direction="in"
    )
    assert (no_finger["result"], no_finger["reason"]) == ("deny", "finger_required")


def test_staff_pass_on_face_and_finger_fused(
    site: tuple[SiteClient, dict[str, str]], dev_faces: Path, fingerprints: Path
) -> None:
    sc, people = site
    db1 = fingerprints / "fvc2002-db1_b"
    staff = _pass(sc, "staff", photo(dev_faces, "facerec-steve_wozniak/4.jpg"),
                  _print(db1, FINGERS["staff"], 7), direction="in")  # fmt: skip
    assert (staff["result"], staff["person"]["identity_id"]) == ("admit", people["staff"]), staff
    fused = staff["evidence"]["fused:staff/active"]
    assert fused["rule"] == "fused" and fused["people"][0]["used"] == ["face", "finger"]


def test_a_strangers_face_with_the_inmates_own_finger_is_refused_at_a_movement(
    site: tuple[SiteClient, dict[str, str]], dev_faces: Path, fingerprints: Path
) -> None:
    """The issue's bug through the app: a clearly different face is not outvoted by a genuine
    finger; the inmate's own face with that finger passes."""
    sc, people = site
    db1 = fingerprints / "fvc2002-db1_b"
    order = {"inmate_id": people["inmate"], "passage": "court_out", "order_reference": "PN-1/2026"}
    finger = _print(db1, FINGERS["inmate"], 7)
    stranger = _pass(sc, "inmate-movement", photo(dev_faces, "facerec-guido_van_rossum/1.jpg"),
                     finger, **order)  # fmt: skip
    fused = stranger["evidence"]["fused"]
    assert (stranger["result"], fused["reason"]) == ("deny", "face_against"), fused
    assert fused["score"] >= fused["threshold"]  # the plain sum would have let them out
    missing = _pass(sc, "inmate-movement", photo(dev_faces, "deepface-img26/4.jpg"), None, **order)
    assert (missing["result"], missing["reason"]) == ("deny", "finger_required")
    own = _pass(sc, "inmate-movement", photo(dev_faces, "deepface-img26/4.jpg"), finger, **order)
    assert (own["result"], own["reason"]) == ("admit", "movement_verified"), own


def test_the_desk_identifies_on_face_and_finger_together(
    site: tuple[SiteClient, dict[str, str]], dev_faces: Path, fingerprints: Path
) -> None:
    sc, people = site
    db1 = fingerprints / "fvc2002-db1_b"

    def identify(face: str, finger: tuple[str, bytes, str]) -> Any:
        return sc.client.post(
            "/v1/identify",
            files={"image": photo(dev_faces, face), "finger_image": finger},
            data={"roles": ["inmate"], "finger_position": str(POSITION)},
            headers=sc.as_role("enrolment_officer"),
        )

    found = identify("deepface-img26/5.jpg", _print(db1, FINGERS["inmate"], 6)).json()
    assert [c["identity_id"] for c in found["candidates"]] == [people["inmate"]]
    assert found["fused"]["people"][0]["used"] == ["face", "finger"]
    stranger = identify("facerec-guido_van_rossum/1.jpg", _print(db1, FINGERS["inmate"], 6)).json()
    assert stranger["result"] == "unknown"  # the inmate's finger does not outvote another face
    assert stranger["fused"]["people"][0]["veto"] == "face_against"
    blank = ("blank.png", encode(np.zeros((300, 300), np.uint8), "PNG"), "image/png")
    refused = identify("deepface-img26/5.jpg", blank)
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "fingerprint_unusable")


def test_a_hidden_face_with_an_inmates_finger_still_raises_the_alarm(
    site: tuple[SiteClient, dict[str, str]], fingerprints: Path
) -> None:
    sc, people = site
    db1 = fingerprints / "fvc2002-db1_b"
    no_face = ("wall.jpg", encode(np.full((480, 640, 3), 90, np.uint8)), "image/jpeg")
    escape = _pass(sc, "visitor-exit", no_face, _print(db1, FINGERS["inmate"], 5))
    assert (escape["result"], escape["reason"]) == ("alarm", "inmate_leaving")
    assert escape["person"]["identity_id"] == people["inmate"]
    assert escape["evidence"]["fused:inmate/active"]["people"][0]["used"] == ["finger"]
    stranger = _pass(sc, "visitor-exit", no_face, _print(db1, 106, 5))
    assert (stranger["result"], stranger["reason"]) == ("deny", "face_unusable")


def test_a_required_finger_is_checked_against_the_person_admitted(
    site: tuple[SiteClient, dict[str, str]], dev_faces: Path, fingerprints: Path
) -> None:
    sc, _ = site
    db1 = fingerprints / "fvc2002-db1_b"
    # staff with no finger enrolled: a readable print (anyone's) is not the finger required
    _enrol(sc, dev_faces, "staff", "facerec-obama", {
        "full_name": "Pak Barry", "birth_date": "1980-05-15", "sex": "M", "nip": "198005152005031002",
    })  # fmt: skip
    staff = _pass(sc, "staff", photo(dev_faces, "facerec-obama/5.jpg"),
                  _print(db1, 106, 1), direction="in")  # fmt: skip
    assert (staff["result"], staff["reason"]) == ("deny", "finger_not_enrolled"), staff
    # visitor entry never requires a finger (here movements do): one with none enrolled who
    # presents a print enters on the face
    _enrol(sc, dev_faces, "visitor", "facerec-paul_allen", {
        "full_name": "Paul", "birth_date": "1990-12-01", "sex": "M", "nik": V2_NIK,
        "consent_purpose": "kunjungan",
    })  # fmt: skip
    entry = _pass(sc, "visitor-entry", photo(dev_faces, "facerec-paul_allen/5.jpg"),
                  _print(db1, 107, 1), nik=V2_NIK)  # fmt: skip
    assert (entry["result"], entry["reason"]) == ("admit", "visitor_verified"), entry
