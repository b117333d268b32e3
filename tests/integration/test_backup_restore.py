"""A running site, people enrolled through its HTTP API, backed up while the desk keeps enrolling;
restored into a fresh folder, a site started there holds every person, template and audit event
of the snapshot, finds them at identify, and its audit chain verifies. Then the keys a restore
needs: the backup's own (asked for by name when none is given), and the site's KEK, which no
backup holds (a restored site without it refuses to start and makes no key of its own)."""

from __future__ import annotations

import base64
import io
import shutil
import socket
import sqlite3
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from console.main import main
from edge.app import create_app
from edge.settings import EnrolmentSettings, ImageSettings, MatchSettings, Settings
from edge.site import Site
from enrollment.keyring import KekMissing, write_key_file
from tests.integration.conftest import PASSWORD, make_site_client, photo
from tests.integration.test_enrolment_api import capture, commit

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


@pytest.mark.model
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def backed_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A development site (its data key wrapped by vault-dev.key) and its backup, sealed under
    EDGE_BACKUP__KEY_FILE; returns (data folder, backup file)."""
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.delenv("EDGE_KEY__KEK_FILE", raising=False)
    monkeypatch.delenv("EDGE_KEY__PASSPHRASE_FILE", raising=False)
    source, key, out = tmp_path / "site", tmp_path / "usb" / "backup.key", tmp_path / "site.gbk"
    write_key_file(key)
    monkeypatch.setenv("EDGE_DATA_DIR", str(source))
    monkeypatch.setenv("EDGE_MODEL_DIR", str(tmp_path / "models"))  # none needed: no start
    monkeypatch.setenv("EDGE_BACKUP__KEY_FILE", str(key))
    Site(Settings()).close()
    assert (source / "vault-dev.key").is_file()
    assert main(["backup", "--out", str(out)]) == 0
    return source, out


def test_restoring_without_any_key_asks_for_the_backup_key_by_name_not_a_wrong_one(
    backed_up: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, out = backed_up
    monkeypatch.delenv("EDGE_BACKUP__KEY_FILE")
    capsys.readouterr()
    assert main(["restore", str(out), "--to", str(tmp_path / "restored")]) == 2
    err = capsys.readouterr().err
    assert "error [backup_key_missing]: Cadangan ini disegel dengan berkas kunci" in err
    assert "no key was given" in err and "wrong key" not in err
    for named in ("--key-file", "EDGE_BACKUP__KEY_FILE"):
        assert err.count(named) >= 2, named  # in both languages
    assert not (tmp_path / "restored").exists()
    phrase = tmp_path / "by-phrase.gbk"
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery staple\n"))
    assert main(["backup", "--out", str(phrase), "--passphrase-stdin"]) == 0
    capsys.readouterr()
    assert main(["restore", str(phrase), "--to", str(tmp_path / "restored")]) == 2
    err = capsys.readouterr().err
    assert "backup_key_missing" in err and "--ask-passphrase or --passphrase-stdin" in err
    plain = tmp_path / "plain.gbk"
    assert main(["backup", "--out", str(plain), "--insecure-plain"]) == 0
    assert main(["restore", str(plain), "--to", str(tmp_path / "restored")]) == 0  # needs none


def test_a_restored_development_site_without_its_key_file_refuses_to_start_and_makes_none(
    backed_up: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source, out = backed_up
    restored = tmp_path / "restored"
    capsys.readouterr()
    assert main(["restore", str(out), "--to", str(restored)]) == 0
    advice = capsys.readouterr().out
    assert "The backup does not hold the site's KEK (its key file, or vault-dev.key" in advice
    assert f"copy vault-dev.key from the old data folder into {restored}" in advice
    assert "salin vault-dev.key dari folder data lama" in advice
    assert not (restored / "vault-dev.key").exists()

    monkeypatch.setenv("EDGE_DATA_DIR", str(restored))
    assert main(["serve", "--port", str(_free_port())]) == 2
    started = capsys.readouterr()
    assert "error [vault_kek_missing]:" in started.err
    assert "Put back the vault-dev.key the backup was made with" in started.err
    assert "EDGE_KEY__KEK_FILE" in started.err
    assert "http://" not in started.out  # refused before the page list
    assert not (restored / "vault-dev.key").exists()  # no wrong key left to mislead
    with pytest.raises(KekMissing):
        Site(Settings())
    assert main(["keys", "status"]) == 2 and "vault_kek_missing" in capsys.readouterr().err
    assert not (restored / "vault-dev.key").exists()

    shutil.copy2(source / "vault-dev.key", restored / "vault-dev.key")
    Site(Settings()).close()  # the key the backup was made with opens it
    assert main(["restore", str(out), "--to", str(restored), "--force"]) == 0
    assert f"vault-dev.key is in {restored}" in capsys.readouterr().out


def test_the_restore_advice_names_the_kek_setting_of_a_site_on_a_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source, kek, out = tmp_path / "site", tmp_path / "usb" / "gerbang.kek", tmp_path / "s.gbk"
    write_key_file(kek)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.setenv("EDGE_DATA_DIR", str(source))
    monkeypatch.setenv("EDGE_KEY__KEK_FILE", str(kek))
    Site(Settings(model_dir=tmp_path / "models")).close()
    assert main(["backup", "--out", str(out), "--insecure-plain"]) == 0
    capsys.readouterr()
    assert main(["restore", str(out), "--to", str(tmp_path / "restored")]) == 0
    advice = capsys.readouterr().out
    assert "wrapped by a key file: give the service the same KEK (EDGE_KEY__KEK_FILE)" in advice
    assert "copy vault-dev.key" not in advice
