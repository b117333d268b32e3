"""After `gerbang reembed` switched a site's pack, everything that means "the pack in use" says
the one the service runs on, not EDGE_PACK: `doctor`, `models list`, `models verify`, `models
bundle` (a USB bundle for the site must hold the detector it actually uses) and `/ready`. The
switch is recorded as the re-embed records it (`site_state.active_pack`, enrollment/reembed.py),
on a real SQLite database, and the commands run as separate processes, as at the console."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from edge import doctor
from edge.settings import Settings
from enrollment.db import Database
from tests.integration.conftest import make_site_client
from tests.integration.test_admin_commands import gerbang

CONFIGURED, SWITCHED = "open-yunet-dlib", "scrfd-dlib"
SCRFD = "buffalo_sc/det_500m.onnx"  # scrfd-dlib's detector; the configured pack has YuNet


def _switch(data: Path, pack: str) -> None:
    """Record the switch as `gerbang reembed` does once every image has the new pack's template."""
    db = Database(data / "gerbang.db")
    with db.transaction() as tx:
        tx.execute(
            "INSERT INTO site_state (key, value) VALUES ('active_pack', ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (pack,),
        )
    db.close()


@pytest.fixture
def switched(tmp_path: Path, model_dir: Path) -> dict[str, str]:
    """The console's environment on a data folder whose site re-embedded onto SWITCHED."""
    data = tmp_path / "data"
    _switch(data, SWITCHED)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_")}
    return env | {"EDGE_DATA_DIR": str(data), "EDGE_MODEL_DIR": str(model_dir),
                  "EDGE_PACK": CONFIGURED}  # fmt: skip


def test_models_list_marks_the_switched_pack_in_use_and_verify_checks_it(
    switched: dict[str, str],
) -> None:
    listed = gerbang(switched, "models", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"\n{SWITCHED} (in use): " in listed.stdout
    assert f"{CONFIGURED} (in use)" not in listed.stdout
    verified = gerbang(switched, "models", "verify")
    assert SCRFD in verified.stdout, verified.stdout
    assert "face_detection_yunet" not in verified.stdout


def test_models_bundle_carries_the_detector_the_site_uses(
    switched: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "site.tar"
    made = gerbang(switched, "models", "bundle", "--out", str(out))
    assert made.returncode == 0, made.stdout + made.stderr
    assert f"packs ['{SWITCHED}']" in made.stdout
    with tarfile.open(out) as bundle:
        names = bundle.getnames()
    assert any(name.endswith(SCRFD) for name in names), names


def test_doctor_checks_the_switched_pack(switched: dict[str, str]) -> None:
    settings = Settings(data_dir=Path(switched["EDGE_DATA_DIR"]),
                        model_dir=Path(switched["EDGE_MODEL_DIR"]), pack=CONFIGURED)  # fmt: skip
    finding = doctor.models(settings)
    assert f"pack {SWITCHED}" in finding.seen and CONFIGURED not in finding.seen, finding


def test_a_fresh_folder_without_a_database_uses_the_configured_pack_and_creates_nothing(
    tmp_path: Path, model_dir: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_")}
    env |= {"EDGE_DATA_DIR": str(tmp_path / "data"), "EDGE_MODEL_DIR": str(model_dir)}
    listed = gerbang(env, "models", "list")
    assert f"\n{CONFIGURED} (in use): " in listed.stdout, listed.stdout + listed.stderr
    assert not (tmp_path / "data" / "gerbang.db").exists()  # looking created no database


def test_ready_names_the_switched_pack_while_its_files_are_missing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _switch(data, SWITCHED)
    for site in make_site_client(tmp_path / "no-models", data, fetch_models=False):
        body = site.client.get("/ready").json()
        assert body["pack"] == SWITCHED, body
        assert SCRFD in body["problem"]["details"]["path"], body


def test_the_wording_of_unpinned_packs_reads_as_sentences(switched: dict[str, str]) -> None:
    listed = gerbang(switched, "models", "list", "--pack", "buffalo_l").stdout
    assert "see `gerbang models list`" not in listed  # said inside `models list` itself
    assert "here into" not in listed and "none was verified here)" in listed, listed
