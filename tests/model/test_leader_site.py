"""A site whose fingerprint templates are made by LEADER (EDGE_MATCH__FINGER_EXTRACTOR=leader):
the model is converted and loaded at start, enrolment stores LEADER templates and sends them to
the registry, and 1:1 and 1:N decide at LEADER's own calibration (finger-leader-mcc.json)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.settings import MatchSettings
from models.calibration import SHIPPED_CALIBRATIONS
from models.fingerprint.identify import fmr_for_fpir
from models.fingerprint.leader import EXTRACTOR
from models.fingerprint.tail import FingerTail
from tests.integration.conftest import SiteClient, make_site_client, photo
from tests.integration.test_enrolment_api import INMATE, capture, commit

pytestmark = [pytest.mark.model, pytest.mark.slow]


def _tif(folder: Path, name: str) -> tuple[str, bytes, str]:
    return (name, (folder / name).read_bytes(), "image/tiff")


@pytest.fixture(scope="module")
def leader_site(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteClient]:
    match = MatchSettings(open_set_fallback="fmr-points", finger_extractor="leader")
    yield from make_site_client(model_dir, tmp_path_factory.mktemp("leader-site"), match=match)


@pytest.fixture(scope="module")
def enrolled(leader_site: SiteClient, dev_faces: Path, fingerprints: Path) -> str:
    """An inmate with fingers 101 (right thumb) and 102 (right index), 3 impressions each."""
    photos = [f"facerec-steve_wozniak/{n}.jpg" for n in (1, 2, 3)]
    session = capture(leader_site, dev_faces, "inmate", photos)
    body = {**INMATE, "registration_number": "B.I-901/2024"}
    identity_id = str(commit(leader_site, session, body).json()["identity_id"])
    db1, headers = fingerprints / "fvc2002-db1_b", leader_site.as_role("enrolment_officer")
    for position, finger in ((1, 101), (2, 102)):
        for impression in (1, 2, 3):
            response = leader_site.client.post(
                f"/v1/identities/{identity_id}/fingers", files={"image": _tif(db1, f"{finger}_{impression}.tif")},
                data={"position": position}, headers=headers,
            )  # fmt: skip
            assert response.status_code == 200 and response.json()["accepted"], response.text
    return identity_id


def test_the_site_is_ready_with_leader_and_stores_and_sends_its_templates(
    leader_site: SiteClient, enrolled: str
) -> None:
    assert leader_site.client.get("/ready").json()["ready"] is True
    assert leader_site.site.finger_problem is None
    with leader_site.site.db.reading() as tx:
        labels = {r[0] for r in tx.execute("SELECT extractor FROM finger_templates")}
        sent = [json.loads(r[0]) for r in tx.execute(
            "SELECT payload FROM outbox WHERE kind = 'finger.enrolled'"
        )]  # fmt: skip
    assert labels == {EXTRACTOR} and len(sent) == 6
    assert {p["extractor"] for p in sent} == {EXTRACTOR}


def test_leader_decides_1_to_1_and_1_to_n_at_its_own_calibration(
    leader_site: SiteClient, enrolled: str, fingerprints: Path
) -> None:
    db1, headers = fingerprints / "fvc2002-db1_b", leader_site.as_role("device")

    def verify(name: str) -> dict:
        response = leader_site.client.post(
            f"/v1/identities/{enrolled}/fingers/verify", files={"image": _tif(db1, name)},
            data={"position": 1}, headers=headers,
        )  # fmt: skip
        assert response.status_code == 200, response.text
        return dict(response.json())

    same, other = verify("101_6.tif"), verify("105_6.tif")
    assert same["match"] is True and other["match"] is False
    shipped = leader_site.site.finger_calibration()
    assert shipped.recogniser_id == "finger-leader-mcc"  # not NBIS's finger-mcc.json
    found = leader_site.client.post(
        "/v1/fingers/identify", files={"image": _tif(db1, "102_7.tif")}, headers=headers
    ).json()
    assert [m["person"] for m in found["matches"]] == [enrolled]
    # the threshold is LEADER's fitted impostor tail's for this gallery
    per_comparison = fmr_for_fpir(0.01, found["templates_searched"])
    tail = FingerTail.load(SHIPPED_CALIBRATIONS / "finger-leader-mcc.openset.json")
    assert found["threshold"] == pytest.approx(tail.threshold_at_fmr(per_comparison))
    stranger = leader_site.client.post(
        "/v1/fingers/identify", files={"image": _tif(db1, "108_2.tif")}, headers=headers
    ).json()
    assert stranger["matches"] == []


def test_the_desk_fuses_face_and_a_leader_finger_with_leader_s_fusion_model(
    leader_site: SiteClient, enrolled: str, dev_faces: Path, fingerprints: Path
) -> None:
    db1 = fingerprints / "fvc2002-db1_b"

    def identify(face: str, finger: str) -> dict:
        response = leader_site.client.post(
            "/v1/identify",
            files={"image": photo(dev_faces, face), "finger_image": _tif(db1, finger)},
            data={"roles": ["inmate"], "finger_position": "1"},
            headers=leader_site.as_role("enrolment_officer"),
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    found = identify("facerec-steve_wozniak/4.jpg", "101_7.tif")
    assert [c["identity_id"] for c in found["candidates"]] == [enrolled]
    assert found["fused"]["people"][0]["used"] == ["face", "finger"]
    assert found["fused"]["fusion"] == "fusion-open-yunet-dlib-leader-mcc"
    stranger = identify("facerec-guido_van_rossum/1.jpg", "101_7.tif")
    assert stranger["result"] == "unknown"  # a genuine finger does not outvote another face


def test_ready_names_a_finger_calibration_that_cannot_be_read(
    model_dir: Path, tmp_path: Path
) -> None:
    """A site's own finger calibration wins over the shipped one; a damaged one leaves faces
    working and /ready saying what is wrong with the fingers, not the first finger at the gate."""
    data = tmp_path / "site"
    (data / "calibrations").mkdir(parents=True)
    (data / "calibrations" / "finger-leader-mcc.json").write_text("{not json", encoding="utf-8")
    match = MatchSettings(open_set_fallback="fmr-points", finger_extractor="leader")
    for site in make_site_client(model_dir, data, match=match):
        ready = site.client.get("/ready")
        assert ready.status_code == 503
        problem = ready.json()["problem"]
        assert problem["code"] == "model_not_ready" and "finger" in json.dumps(problem)
        assert site.site.problem is None  # the face side loaded
