"""`gerbang search-batch` with a `fingers` column decides as a running site's gate does: staff
enrolled with faces and fingers, the same captures and prints as GALLERY.csv, probes with face
and finger, finger only and face only (issue 12)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from enrollment.captures import CaptureStore
from tests.integration.conftest import SiteClient, make_site_client, photo

pytestmark = [pytest.mark.model, pytest.mark.slow]

STAFF = {"facerec-steve_wozniak": 101, "deepface-img26": 102, "facerec-obama": 103}
PROBES = [  # (face, finger): genuine pairs, a stranger's face with a staff finger
    ("facerec-steve_wozniak/4.jpg", "101_6.tif"),
    ("deepface-img26/7.jpg", "102_6.tif"),
    ("facerec-guido_van_rossum/1.jpg", "101_7.tif"),
]


def _enrol(sc: SiteClient, dev_faces: Path, db1: Path, person: str, number: int,
           folder: Path) -> list[list[str]]:  # fmt: skip
    """Enrol a staff member (face at the desk, two prints of one finger); their gallery rows."""
    headers = sc.as_role("enrolment_officer")
    session = sc.client.post("/v1/captures", json={"role": "staff"}, headers=headers).json()
    for n in (1, 2, 3):
        frame = photo(dev_faces, f"{person}/{n}.jpg")
        sc.client.post(f"/v1/captures/{session['session_id']}/frames", files={"image": frame},
                       headers=headers)  # fmt: skip
    with sc.site.db.reading() as tx:
        kept = CaptureStore(tx, sc.site.vault).kept(session["session_id"])
    draft = {"full_name": person, "birth_date": "1980-05-15", "sex": "M",
             "nip": f"19800515200503100{number}"}  # fmt: skip
    response = sc.client.post(f"/v1/captures/{session['session_id']}/commit",
                              json={"identity": draft, "decisions": []}, headers=headers)  # fmt: skip
    assert response.status_code == 201, response.text
    identity = response.json()["identity_id"]
    prints = [f"{STAFF[person]}_{i}.tif" for i in (1, 2)]
    for name in prints:
        sent = sc.client.post(f"/v1/identities/{identity}/fingers", data={"position": 2},
                              files={"image": (name, (db1 / name).read_bytes(), "image/tiff")},
                              headers=headers)  # fmt: skip
        assert sent.json()["accepted"], sent.text
    # The desk keeps each frame re-encoded (EXIF stripped) but embeds the upload itself: the batch
    # is given the uploads, so both score the same pixels.
    assert len(kept) == 3
    rows = []
    for i in range(3):
        path = dev_faces / person / f"{i + 1}.jpg"
        fingers = ";".join(f"2:{db1 / name}" for name in prints) if i == 0 else ""
        rows.append([str(path), identity, fingers])
    return rows


def _gate_evidence(sc: SiteClient, dev_faces: Path, db1: Path, face: str, finger: str) -> Any:
    response = sc.client.post(
        "/v1/gates/main/staff",
        files={"image": photo(dev_faces, face),
               "finger_image": (finger, (db1 / finger).read_bytes(), "image/tiff")},
        data={"direction": "in", "finger_position": "2"}, headers=sc.as_role("device"),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()["evidence"]["fused:staff/active"]


def test_batch_with_fingers_decides_as_the_gate(
    model_dir: Path, dev_faces: Path, fingerprints: Path, nbis_library: Path, tmp_path: Path
) -> None:
    db1 = fingerprints / "fvc2002-db1_b"
    for sc in make_site_client(model_dir, tmp_path / "site"):
        gate = {"id": "main", "name": "Pintu", "directions": ["in"], "roles": ["staff"]}
        assert sc.client.post("/v1/gates", json=gate, headers=sc.as_role("site_admin")).is_success
        rows = [["path", "person", "fingers"]]
        for number, person in enumerate(STAFF, 1):
            rows += _enrol(sc, dev_faces, db1, person, number, tmp_path)
        with (tmp_path / "gallery.csv").open("w", newline="") as handle:
            csv.writer(handle).writerows(rows)
        probes = [["path", "fingers"]] + [[str(dev_faces / f), f"2:{db1 / p}"] for f, p in PROBES]
        probes += [["", f"2:{db1 / '102_7.tif'}"], [str(dev_faces / "deepface-img26/8.jpg"), ""]]
        with (tmp_path / "probes.csv").open("w", newline="") as handle:
            csv.writer(handle).writerows(probes)
        env = {**os.environ, "EDGE_MODEL_DIR": str(model_dir), "EDGE_DATA_DIR": str(tmp_path / "d"),
               "EDGE_MATCH__OPEN_SET_FALLBACK": "fmr-points"}  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "console.main", "search-batch", "--gallery",
             str(tmp_path / "gallery.csv"), "--probes", str(tmp_path / "probes.csv"),
             "--out", str(tmp_path / "results.csv"), "--kind", "staff", "--workers", "1"],
            env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        with (tmp_path / "results.csv").open(newline="") as handle:
            results = list(csv.DictReader(handle))
        for face, finger in PROBES:
            mine = {r["person"]: r for r in results if r["probe"] == str(dev_faces / face)}
            service = _gate_evidence(sc, dev_faces, db1, face, finger)
            assert service["people"], service
            for person in service["people"]:
                row = mine[person["identity_id"]]
                assert row["above"] == str(int(person["match"])), (face, row, person)
                assert row["used"] == "+".join(person["used"])
                assert float(row["face_score"]) == pytest.approx(person["face_score"], abs=1e-4)
                assert float(row["finger_score"]) == pytest.approx(person["finger_score"], abs=1e-6)
                assert float(row["fused_threshold"]) == pytest.approx(
                    person["fused_threshold"], abs=1e-5
                )
                assert row["veto"] == (person["veto"] or "")
        staff_ids = {r[1] for r in rows[1:]}
        genuine = [r for r in results if r["probe"] == str(dev_faces / PROBES[0][0])]
        assert genuine[0]["above"] == "1" and genuine[0]["used"] == "face+finger"
        stranger = [r for r in results if r["probe"] == str(dev_faces / PROBES[2][0])]
        assert all(r["above"] == "0" for r in stranger)  # a genuine finger does not outvote
        assert any(r["veto"] == "face_against" for r in stranger)
        finger_only = [r for r in results if r["probe"] == f"2:{db1 / '102_7.tif'}"]
        assert finger_only[0]["used"] == "finger" and finger_only[0]["above"] == "1"
        face_only = [r for r in results if r["probe"].endswith("deepface-img26/8.jpg")]
        assert face_only[0]["used"] == "face" and face_only[0]["person"] in staff_ids
