"""A site backup on a small database: what it keeps and leaves out, and each refusal."""

from __future__ import annotations

import base64
import io
import sqlite3
from pathlib import Path

import pytest

from console.main import main
from edge.backup import BackupUnreadable, RestoreTargetNotEmpty, kept_files, restore_backup
from enrollment.db import Database


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data folder with a migrated database, a row, and the files a site keeps beside it."""
    data = tmp_path / "data"
    db = Database(data / "gerbang.db")
    with db.transaction() as tx:
        tx.execute("CREATE TABLE IF NOT EXISTS note (text TEXT)")
        tx.execute("INSERT INTO note VALUES ('before the backup')")
    for name, content in {
        "keys/site_ed25519.pem": b"private key",
        "tls/server.pem": b"certificate",
        "calibrations/open-yunet-dlib.json": b"{}",
        "model-cache/converted/dlib_resnet_v1.onnx": b"derivable",
        "vault-dev.key": b"the development KEK",
    }.items():
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_bytes(content)
    (data / "keys/site_ed25519.pem").chmod(0o600)
    key = tmp_path / "backup.key"
    key.write_bytes(base64.b64encode(bytes(32)))
    monkeypatch.setenv("EDGE_DATA_DIR", str(data))
    monkeypatch.setenv("EDGE_BACKUP__KEY_FILE", str(key))
    return data


def test_kept_files_leave_out_the_database_the_model_cache_and_the_kek(site: Path) -> None:
    assert sorted(p.as_posix() for p in kept_files(site)) == [
        "calibrations/open-yunet-dlib.json",
        "keys/site_ed25519.pem",
        "tls/server.pem",
    ]


def test_what_belongs_to_others_in_the_data_folder_stays_out(site: Path) -> None:
    """The README's demo keeps a registry and two sites under the default data folder."""
    for name in ("registry.db", "registry.db-wal", "registry-keys/vault-dev.key",
                 "site-A/gerbang.db", "site-A/keys/site_ed25519.pem", "site-A/model-cache/x.onnx",
                 "calibrations/model-cache/y.onnx"):  # fmt: skip
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_bytes(b"not this site's")
    assert sorted(p.as_posix() for p in kept_files(site)) == [
        "calibrations/open-yunet-dlib.json",
        "keys/site_ed25519.pem",
        "tls/server.pem",
    ]


def test_backup_and_restore_round_trip_with_modes(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "usb" / "site.gbk"
    assert main(["backup", "--out", str(out)]) == 0
    assert b"private key" not in out.read_bytes() and b"before the backup" not in out.read_bytes()
    target = tmp_path / "restored"
    assert main(["restore", str(out), "--to", str(target)]) == 0
    rows = sqlite3.connect(target / "gerbang.db").execute("SELECT text FROM note").fetchall()
    assert rows == [("before the backup",)]
    assert (target / "keys/site_ed25519.pem").read_bytes() == b"private key"
    assert (target / "keys/site_ed25519.pem").stat().st_mode & 0o777 == 0o600
    assert not (target / "vault-dev.key").exists() and not (target / "model-cache").exists()
    assert not [p for p in target.iterdir() if p.name.startswith(".backup-")]


def test_an_unencrypted_backup_needs_insecure_plain(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("EDGE_BACKUP__KEY_FILE")
    out = tmp_path / "plain.gbk"
    assert main(["backup", "--out", str(out)]) == 2
    assert "backup_key_missing" in capsys.readouterr().err and not out.exists()
    assert main(["backup", "--out", str(out), "--insecure-plain"]) == 0
    assert main(["restore", str(out), "--to", str(tmp_path / "r")]) == 0


def test_a_passphrase_backup_needs_the_same_passphrase(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "p.gbk"
    monkeypatch.setattr("sys.stdin", io.StringIO("frasa sandi cadangan\n"))
    assert main(["backup", "--out", str(out), "--passphrase-stdin"]) == 0
    with pytest.raises(BackupUnreadable):
        restore_backup(out, tmp_path / "r1", None, "frasa sandi keliru!!")
    restore_backup(out, tmp_path / "r2", None, "frasa sandi cadangan")
    assert (tmp_path / "r2" / "gerbang.db").is_file()


def test_restore_refuses_a_non_empty_folder_a_wrong_key_and_a_damaged_file(
    site: Path, tmp_path: Path
) -> None:
    out = tmp_path / "site.gbk"
    assert main(["backup", "--out", str(out)]) == 0
    key = Path(str(site.parent / "backup.key"))
    with pytest.raises(RestoreTargetNotEmpty):
        restore_backup(out, site, key, None)
    other = tmp_path / "other.key"
    other.write_bytes(bytes(range(32)))
    with pytest.raises(BackupUnreadable):
        restore_backup(out, tmp_path / "r1", other, None)
    damaged = bytearray(out.read_bytes())
    damaged[len(damaged) // 2] ^= 0x40
    (tmp_path / "damaged.gbk").write_bytes(bytes(damaged))
    with pytest.raises(BackupUnreadable):
        restore_backup(tmp_path / "damaged.gbk", tmp_path / "r2", key, None)
    assert not (tmp_path / "r2" / "gerbang.db").exists()
    restore_backup(out, site, key, None, force=True)  # over the live folder, when told to
    rows = sqlite3.connect(site / "gerbang.db").execute("SELECT text FROM note").fetchall()
    assert rows == [("before the backup",)]


def test_the_backup_key_and_the_backup_itself_stay_out_when_inside_the_data_folder(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inside = site / "backup.key"
    inside.write_bytes(bytes(range(32)))
    monkeypatch.setenv("EDGE_BACKUP__KEY_FILE", str(inside))
    assert main(["backup", "--out", str(site / "backups" / "one.gbk")]) == 0
    assert main(["backup", "--out", str(site / "backups" / "two.gbk")]) == 0
    restored = tmp_path / "restored"
    assert main(["restore", str(site / "backups" / "two.gbk"), "--to", str(restored)]) == 0
    assert not (restored / "backup.key").exists()
    assert not (restored / "backups").exists()  # backups do not nest
