"""`gerbang search-batch` and a running site service (real models, dev photos) give the same
scores and decisions: people enrolled at the desk, then the same captures as GALLERY.csv."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.settings import MatchSettings
from enrollment.captures import CaptureStore
from tests.integration.conftest import SiteClient, make_site_client, photo

pytestmark = pytest.mark.model

PEOPLE = ["deepface-img26", "facerec-obama", "deepface-img13"]
PROBES = ["deepface-img26/7.jpg", "deepface-img26/8.jpg", "faceapi-howard/1.jpg"]


@pytest.fixture(scope="module")
def site(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteClient]:
    # the shipped configuration, as `gerbang search-batch` runs it by default
    yield from make_site_client(
        model_dir, tmp_path_factory.mktemp("batch-site"), match=MatchSettings()
    )


SNORM = {"EDGE_MATCH__OPEN_SET_MIN_PEOPLE": "3", "EDGE_MATCH__COHORT_SIZE": "1000",
         "EDGE_MATCH__COHORT_K": "1"}  # fmt: skip


@pytest.fixture(scope="module")
def snorm_site(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteClient]:
    # a site on its own calibration with cohort S-norm from three people (a cohort of three
    # needs k = 1): the same settings the batch command gets through SNORM
    yield from make_site_client(
        model_dir,
        tmp_path_factory.mktemp("batch-snorm"),
        match=MatchSettings(open_set_min_people=3, cohort_size=1000, cohort_k=1),
    )


def _photos(dev_faces: Path, person: str) -> list[str]:
    return sorted(f"{person}/{p.name}" for p in (dev_faces / person).glob("*.jpg"))[:6]


def _enrol(sc: SiteClient, dev_faces: Path, person: str, folder: Path) -> list[str]:
    """Enrol a person at the desk; return the photos of the captures the desk kept."""
    headers = sc.as_role("enrolment_officer")
    session = sc.client.post("/v1/captures", json={"role": "inmate"}, headers=headers).json()[
        "session_id"
    ]
    uploads: dict[int, str] = {}  # capture id -> the photo uploaded (the desk embeds the upload)
    for relative in _photos(dev_faces, person):
        feedback = sc.client.post(
            f"/v1/captures/{session}/frames",
            files={"image": photo(dev_faces, relative)},
            headers=headers,
        ).json()
        if feedback["capture_id"] is not None:
            uploads[feedback["capture_id"]] = relative
        if feedback["ready"]:
            break
    with sc.site.db.reading() as tx:
        kept = CaptureStore(tx, sc.site.vault).kept(session)
    draft = {"full_name": person, "birth_date": "1990-01-01", "sex": "M",
             "registration_number": f"B.I-{PEOPLE.index(person) + 1}/2024"}  # fmt: skip
    response = sc.client.post(
        f"/v1/captures/{session}/commit", json={"identity": draft, "decisions": []}, headers=headers
    )
    assert response.status_code == 201, response.text
    identity = response.json()["identity_id"]
    # The desk keeps each frame re-encoded (EXIF stripped) but embedded the upload itself: the
    # batch is given the uploads, so both score the same pixels.
    return [identity, *(str(dev_faces / uploads[capture.id]) for capture in kept)]


def test_batch_command_decides_as_the_service(
    site: SiteClient, dev_faces: Path, model_dir: Path, tmp_path: Path
) -> None:
    _batch_against_service(site, dev_faces, model_dir, tmp_path, {})


def test_batch_command_decides_as_the_service_with_cohort_snorm(
    snorm_site: SiteClient, dev_faces: Path, model_dir: Path, tmp_path: Path
) -> None:
    _batch_against_service(snorm_site, dev_faces, model_dir, tmp_path, SNORM)
    current = snorm_site.site.thresholds().open_set.current  # type: ignore[union-attr]
    assert current.source == "site" and current.scale == "s-norm"


def _batch_against_service(
    site: SiteClient, dev_faces: Path, model_dir: Path, tmp_path: Path, extra: dict[str, str]
) -> None:
    gallery_rows = []
    for person in PEOPLE:
        identity, *files = _enrol(site, dev_faces, person, tmp_path)
        gallery_rows += [(f, identity) for f in files]
    # the service calibrates as its gallery changes; the batch on its whole gallery at once
    site.site.thresholds().open_set.refresh_now()  # type: ignore[union-attr]
    with (tmp_path / "gallery.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([("path", "person"), *gallery_rows])
    with (tmp_path / "probes.csv").open("w", newline="") as handle:
        rows = [("path",)] + [(str(dev_faces / p),) for p in PROBES] + [("missing-face.png",)]
        csv.writer(handle).writerows(rows)
    (tmp_path / "missing-face.png").write_bytes(b"not an image")
    env = {**os.environ, "EDGE_MODEL_DIR": str(model_dir), "EDGE_DATA_DIR": str(tmp_path / "d"),
           **extra}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "console.main", "search-batch", "--gallery",
         str(tmp_path / "gallery.csv"), "--probes", str(tmp_path / "probes.csv"),
         "--out", str(tmp_path / "results.csv"), "--top", "3", "--kind", "identify",
         "--workers", "1"],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    with (tmp_path / "results.csv").open(newline="") as handle:
        results = list(csv.DictReader(handle))
    assert list(results[0]) == ["probe", "rank", "person", "score", "threshold", "above"]
    missing = [r for r in results if r["probe"].endswith("missing-face.png")]
    assert missing == [{"probe": missing[0]["probe"], "rank": "0", "person": "", "score": "",
                        "threshold": "", "above": "0"}]  # fmt: skip
    for relative in PROBES:
        rows = [r for r in results if r["probe"] == str(dev_faces / relative)]
        assert [r["rank"] for r in rows] == ["1", "2", "3"]
        answer = site.client.post(
            "/v1/identify",
            files={"image": photo(dev_faces, relative)},
            data={"roles": ["inmate"]},
            headers=site.as_role("enrolment_officer"),
        ).json()
        assert float(rows[0]["threshold"]) == pytest.approx(answer["threshold"], abs=2e-6)
        returned = {c["identity_id"]: c["score"] for c in answer["candidates"]}
        above = {r["person"]: float(r["score"]) for r in rows if r["above"] == "1"}
        assert above.keys() == returned.keys()
        for person, score in above.items():
            assert score == pytest.approx(returned[person], abs=1e-4)
    # the enrolled person's other photos are found, the stranger is not
    assert any(r["above"] == "1" for r in results if "img26" in r["probe"])


def test_ready_reports_what_each_target_costs_on_this_population(site: SiteClient) -> None:
    body = site.client.get("/ready").json()
    open_set = body["open_set"]
    assert open_set["calibration"] == "shipped"  # fewer than 100 people enrolled
    costs = {c["kind"]: c for c in open_set["costs"]}
    assert set(costs) == {
        "gate_inmate", "banned_visitor", "visitor_exit", "staff", "identify", "desk_duplicate",
    }  # fmt: skip
    inmate = costs["gate_inmate"]
    assert inmate["target_fpir"] == 0.01 and inmate["people"] >= 1
    # the threshold is the one a gate search over that many inmates would use
    setting = site.site.thresholds().open_set.for_search("gate_inmate", inmate["people"])  # type: ignore[union-attr]
    assert inmate["threshold"] == pytest.approx(setting.threshold, abs=1e-6)
    assert 0 <= inmate["false_alarms_per_100"] <= 1.0 + 1e-9
    assert 0 <= inmate["expected_fnir"] <= 1
    unusable = [c["kind"] for c in open_set["costs"] if not c["usable"]]
    assert [w["kind"] for w in open_set["warnings"]] == unusable
    for warning in open_set["warnings"]:
        assert warning["code"] == "open_set_target_unreachable"
        assert warning["message"]["id"] and warning["message"]["en"]
