"""The live gallery checked against the database and repaired; re-embedding with another pack,
and what a process started before the switch does afterwards."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from edge import wiring
from edge.gate.cli import follow_database
from edge.settings import Settings
from edge.site import Site
from enrollment.reembed import active_pack, reembed
from models.engine import FaceAnalysis
from models.obtain import ensure_converted
from tests.integration.conftest import SiteClient, error_code, make_site_client, photo
from tests.integration.test_enrolment_api import INMATE, capture, commit

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def enrolled(model_dir: Path, dev_faces: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A site with two enrolled inmates."""
    for sc in make_site_client(model_dir, tmp_path_factory.mktemp("admin")):
        for number, folder in enumerate(("deepface-img26", "facerec-obama")):
            session = capture(sc, dev_faces, "inmate", [f"{folder}/{n}.jpg" for n in range(1, 5)])
            identity = {
                **INMATE,
                "full_name": folder,
                "registration_number": f"B.I-{number + 1}/2024",
            }
            decisions = [
                {
                    "candidate_identity_id": c["identity_id"],
                    "decision": "different_person",
                    "reason": "test",
                }
                for c in sc.client.get(
                    f"/v1/captures/{session}/duplicates", headers=sc.as_role("enrolment_officer")
                ).json()["candidates"]
            ]
            assert commit(sc, session, identity, decisions).status_code == 201
        yield sc


def test_a_template_missing_from_the_live_gallery_is_found_and_repaired(
    enrolled: SiteClient,
) -> None:
    admin = enrolled.as_role("site_admin")
    assert enrolled.client.get("/v1/admin/gallery", headers=admin).json()["ok"] is True
    gallery = enrolled.site.gallery()
    lost = sorted(gallery.snapshot())[0]
    gallery.remove([lost])
    check = enrolled.client.get("/v1/admin/gallery", headers=admin).json()
    assert check["ok"] is False and check["differences"]["missing_in_index"] == [lost]
    ready = enrolled.client.get("/ready")
    assert (ready.status_code, ready.json()["problem"]["code"]) == (503, "gallery_inconsistent")
    said = ready.json()["problem"]["message"]
    assert "gerbang gallery rebuild" in said["id"] and "gerbang gallery rebuild" in said["en"]
    refused = enrolled.client.post(
        "/v1/admin/gallery/rebuild", headers=enrolled.as_role("gate_officer")
    )
    assert (refused.status_code, error_code(refused)) == (403, "forbidden")
    rebuilt = enrolled.client.post("/v1/admin/gallery/rebuild", headers=admin)
    assert rebuilt.status_code == 200
    assert enrolled.client.get("/v1/admin/gallery", headers=admin).json()["ok"] is True
    assert enrolled.client.get("/ready").status_code == 200


class _Interrupting:
    """A real engine that is 'killed' after a number of images."""

    def __init__(self, engine, after: int) -> None:  # type: ignore[no-untyped-def]
        self.engine, self.left, self.pack_id = engine, after, engine.pack_id

    def analyse_bytes(self, data: bytes) -> FaceAnalysis:
        if self.left == 0:
            raise KeyboardInterrupt
        self.left -= 1
        return self.engine.analyse_bytes(data)


def test_reembed_is_resumable_and_switches_the_site_only_when_complete(
    enrolled: SiteClient, model_dir: Path, dev_faces: Path
) -> None:
    site = enrolled.site
    settings = site.settings
    spec = wiring.engine_spec(settings, "scrfd-dlib")
    ensure_converted(spec.store, spec.pack)
    new_engine = spec.build()
    with pytest.raises(KeyboardInterrupt):
        reembed(
            site.db, site.vault, _Interrupting(new_engine, after=3), actor="test", progress=False
        )
    assert active_pack(site.db, settings.pack) == "open-yunet-dlib"
    report = reembed(site.db, site.vault, new_engine, actor="test", progress=False)
    assert report.switched and report.failed == {} and report.remaining == 0
    with site.db.reading() as tx:
        per_image = tx.execute(
            "SELECT image_id, COUNT(*) FROM templates WHERE pack_id = 'scrfd-dlib' GROUP BY image_id"
        ).fetchall()
        images = tx.execute("SELECT COUNT(*) FROM images WHERE data IS NOT NULL").fetchone()[0]
    assert len(per_image) == images and {n for _, n in per_image} == {1}
    assert reembed(site.db, site.vault, new_engine, actor="test", progress=False).embedded == 0
    restarted = Site(Settings(model_dir=model_dir, data_dir=settings.data_dir))
    restarted.start()
    assert restarted.engine().pack_id == "scrfd-dlib"
    found = restarted.matcher.identify(photo(dev_faces, "deepface-img26/8.jpg")[1])
    assert found.pack_id == "scrfd-dlib" and found.candidates
    restarted.close()


def test_after_a_switch_the_running_service_refuses_to_enrol_and_a_gate_process_follows(
    enrolled: SiteClient, dev_faces: Path
) -> None:
    """The service started before the switch above still holds the old pack: it must not enrol
    anyone the new gallery would not know. A gate process (no desk) reloads instead."""
    assert active_pack(enrolled.site.db, enrolled.site.settings.pack) == "scrfd-dlib"
    desk = enrolled.as_role("enrolment_officer")
    session = enrolled.client.post("/v1/captures", json={"role": "inmate"}, headers=desk).json()
    frame = enrolled.client.post(
        f"/v1/captures/{session['session_id']}/frames",
        files={"image": photo(dev_faces, "facerec-paul_allen/1.jpg")},
        headers=desk,
    )
    assert (frame.status_code, error_code(frame)) == (503, "pack_changed")
    assert frame.json()["error"]["details"]["active_pack"] == "scrfd-dlib"
    ready = enrolled.client.get("/ready")
    assert (ready.status_code, ready.json()["problem"]["code"]) == (503, "pack_changed")
    admin = enrolled.as_role("site_admin")
    rebuilt = enrolled.client.post("/v1/admin/gallery/rebuild", headers=admin)
    assert (rebuilt.status_code, error_code(rebuilt)) == (503, "pack_changed")

    stop = threading.Event()
    follower = threading.Thread(target=follow_database, args=(enrolled.site, 0.05, stop))
    follower.start()
    try:
        deadline = time.monotonic() + 120  # loading the new pack's models, on a busy machine
        while enrolled.site.engine().pack_id != "scrfd-dlib" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        follower.join()
    assert enrolled.site.engine().pack_id == "scrfd-dlib"
    assert enrolled.client.get("/ready").status_code == 200
    found = enrolled.site.matcher.identify(photo(dev_faces, "deepface-img26/8.jpg")[1])
    assert found.pack_id == "scrfd-dlib" and found.candidates
