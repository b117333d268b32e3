"""/ready tells a site without the fingerprint extractor what to do, while faces keep working."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.nbis_build import NbisBuild
from tests.integration.conftest import SiteClient, photo

pytestmark = pytest.mark.model


def test_ready_names_what_fingerprints_lack_and_faces_still_work(
    site_client: SiteClient, dev_faces: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GERBANG_NBIS_LIB", raising=False)
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no compiler on this machine
    site = site_client.site
    kept, site.nbis = site.nbis, NbisBuild(tmp_path / "libafis_lfs.so", build_dir=tmp_path / "nbis")
    try:
        site.nbis.start()
        ready = site_client.client.get("/ready")
        problem = ready.json()["problem"]
        assert (ready.status_code, problem["code"]) == (503, "fingerprint_extractor_missing")
        assert "gcc" in problem["details"]["fix"] and problem["message"]["id"]
        analysed = site_client.client.post(
            "/v1/faces/analyse",
            files={"image": photo(dev_faces, "facerec-obama/1.jpg")},
            headers=site_client.as_role("enrolment_officer"),
        )
        assert analysed.status_code == 200, analysed.text
    finally:
        site.nbis = kept
    assert site_client.client.get("/ready").status_code == 200
