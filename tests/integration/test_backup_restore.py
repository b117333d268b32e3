"""A running site, people enrolled through its HTTP API, backed up while the desk keeps enrolling;
restored into a fresh folder, a site started there holds every person, template and audit event
of the snapshot, finds them at identify, and its audit chain verifies."""

from __future__ import annotations

import base64
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from console.main import main
from edge.app import create_app
from edge.settings import EnrolmentSettings, ImageSettings, MatchSettings, Settings
from edge.site import Site
from tests.integration.conftest import PASSWORD, make_site_client, photo
from tests.integration.test_enrolment_api import capture, commit

pytestmark = pytest.mark.model

PEOPLE = {
    "deepface-img26": ("Budi Santoso", "B.I-201/2024"),
    "facerec-obama": ("Agus Salim", "B.I-202/2024"),
    "facerec-kit_harington": ("Dedi Kurnia", "B.I-203/2024"),
}


def _inmate(name: str, number: str) -> dict[str, str]:
    return {
        "full_name": name,
        "birth_date": "1990-12-01",
        "sex": "M",
        "registration_number": number,
    }


def _enrol(sc, dev_faces: Path, folder: str) -> str:  # type: ignore[no-untyped-def]
    photos = sorted(p.name for p in (dev_faces / folder).glob("*.jpg"))[:-1]  # the last: identify
    session = capture(sc, dev_faces, "inmate", [f"{folder}/{name}" for name in photos])
    response = commit(sc, session, _inmate(*PEOPLE[folder]))
    assert response.status_code == 201, response.text
    return str(response.json()["identity_id"])


def _last(dev_faces: Path, folder: str) -> str:
    return sorted(p.name for p in (dev_faces / folder).glob("*.jpg"))[-1]


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as connection:
        return [tuple(r) for r in connection.execute(sql).fetchall()]


AUDIT = "SELECT * FROM audit_events ORDER BY seq"
TEMPLATES = "SELECT identity_id, COUNT(*) FROM templates GROUP BY identity_id ORDER BY 1"


def test_a_backup_taken_while_the_site_runs_restores_every_person_and_event(
    model_dir: Path,
    dev_faces: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source, restored = tmp_path / "site", tmp_path / "restored"
    key = tmp_path / "offsite" / "backup.key"
    key.parent.mkdir()
    key.write_bytes(base64.b64encode(bytes(range(32))))
    monkeypatch.setenv("EDGE_DATA_DIR", str(source))
    monkeypatch.setenv("EDGE_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("EDGE_BACKUP__KEY_FILE", str(key))
    out = tmp_path / "usb" / "site.gbk"
    running = make_site_client(model_dir, source)
    sc = next(running)
    assert main(["tls", "init"]) == 0  # files under the data folder that a backup must carry
    try:
        before = [_enrol(sc, dev_faces, "deepface-img26"), _enrol(sc, dev_faces, "facerec-obama")]
        desk = threading.Thread(target=_enrol, args=(sc, dev_faces, "facerec-kit_harington"))
        desk.start()  # the desk goes on enrolling while the backup is taken
        assert main(["backup", "--out", str(out)]) == 0
        desk.join()
    finally:
        running.close()

    assert main(["restore", str(out), "--to", str(restored)]) == 0
    kek = source / "vault-dev.key"  # encryption at rest: the KEK travels apart from backups
    if kek.exists():
        shutil.copy2(kek, restored / kek.name)
    for name in ("tls/ca.pem", "tls/ca.key", "tls/server.pem", "tls/server.key"):
        assert (restored / name).read_bytes() == (source / name).read_bytes()
    snapshot_audit = _rows(restored / "gerbang.db", AUDIT)
    assert snapshot_audit == _rows(source / "gerbang.db", AUDIT)[: len(snapshot_audit)]
    templates = _rows(restored / "gerbang.db", TEMPLATES)
    assert {identity for identity, _ in templates} >= set(before)
    source_templates = dict(_rows(source / "gerbang.db", TEMPLATES))
    assert all(source_templates[identity] == count for identity, count in templates)

    monkeypatch.setenv("EDGE_DATA_DIR", str(restored))
    assert main(["audit", "verify"]) == 0
    settings = Settings(
        model_dir=model_dir,
        data_dir=restored,
        images=ImageSettings(max_bytes=2 * 1024 * 1024),
        enrolment=EnrolmentSettings(min_captures=2, keep_best=3),
        # Two Western dev faces: the strict shipped fallback (East-Asian) would find neither.
        match=MatchSettings(open_set_fallback="fmr-points"),
    )
    with TestClient(create_app(settings, Site(settings))) as client:
        token = client.post(
            "/v1/auth/login", json={"username": "gate_officer", "password": PASSWORD}
        ).json()["token"]
        for identity, folder in zip(before, ("deepface-img26", "facerec-obama"), strict=True):
            found = client.post(
                "/v1/identify",
                files={"image": photo(dev_faces, f"{folder}/{_last(dev_faces, folder)}")},
                data={"roles": ["inmate"]},
                headers={"Authorization": f"Bearer {token}"},
            ).json()
            assert found["candidates"][0]["identity_id"] == identity, found


def test_restoring_a_path_with_no_file_says_so_not_that_the_key_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "usb" / "site.gbk"
    assert main(["restore", str(missing), "--to", str(tmp_path / "restored")]) == 2
    err = capsys.readouterr().err
    assert "error [backup_unreadable]: Berkas cadangan tidak ditemukan" in err
    assert "There is no backup file at that path" in err and "wrong key" not in err
    assert not (tmp_path / "restored").exists()  # nothing made before the check
