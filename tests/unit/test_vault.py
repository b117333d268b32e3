"""Encryption at rest: sealing bound to the row, the KEK that must match, sealing an older
database's clear rows, key rotation and rewrap, private database files."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import numpy as np
import pytest

from edge.settings import KeySettings, Settings
from edge.site import Site
from enrollment.db import Database
from enrollment.keyring import (
    KEK_NOT_SET,
    Kek,
    KekMissing,
    KeyUnavailable,
    SealBroken,
    SealedVault,
    key_id_of,
    read_key_file,
    resolve_kek,
    write_key_file,
)
from enrollment.records import IdentityDraft
from enrollment.repository import IdentityRepository
from enrollment.resealing import SEALED_COLUMNS, reseal_stale, rewrap, rotate, seal_clear_rows
from enrollment.vault import PlainVault, Vault, aad_for, open_payload, seal_payload
from gallery_sync.outbox import append_change

PACK = "test-pack"


def key_file(folder: Path, name: str = "kek.key") -> Kek:
    path = folder / name
    write_key_file(path)
    return Kek("key_file", read_key_file(path), False, str(path))


def enrol(db: Database, vault: Vault, count: int = 3) -> str:
    """A person with images, templates, a finger image and ISO record, and an outbox row."""
    rng = np.random.default_rng(count)
    with db.transaction() as tx:
        repo = IdentityRepository(tx, vault)
        identity_id = repo.insert(IdentityDraft(role="visitor", full_name="Rina"), "UPT-T")
        tx.execute("INSERT OR IGNORE INTO site_state (key, value) VALUES ('pack', ?)", (PACK,))
        for n in range(count):
            image_id, digest = repo.add_image(
                identity_id, b"\xff\xd8\xffJPEG%d" % n, "image/jpeg", "t"
            )
            vector = rng.normal(size=8).astype(np.float32)
            repo.add_template(identity_id, image_id, digest, PACK, vector, 0.5, "t", staged=True)
        image_id = tx.execute(
            "INSERT INTO finger_images (identity_id, position, impression, sha256, data, width,"
            " height, resolution_ppi, captured_at) VALUES (?, 1, 1, 'x', ?, 1, 1, 500, 't')",
            (
                identity_id,
                vault.seal(b"\x89PNG finger", aad_for("finger_images", "data", identity_id)),
            ),
        ).lastrowid
        tx.execute(
            "INSERT INTO finger_templates (image_id, identity_id, position, extractor, iso_record,"
            " minutiae, quality, created_at) VALUES (?, ?, 1, 'nbis', ?, 20, 0.9, 't')",
            (image_id, identity_id, vault.seal(b"FMR\x00 20\x00rec", aad_for("finger_templates", "iso_record", identity_id))),
        )  # fmt: skip
        body = {"templates": [{"vector_f32le_b64": "AAAA"}], "pack_id": PACK}
        if not isinstance(vault, PlainVault):  # an older version wrote the vectors as they are
            body = seal_payload(vault, "identity.enrolled", identity_id, body)
        append_change(tx, "identity.enrolled", identity_id, body)
    return identity_id  # fmt: skip


def stored_values(db: Database) -> list[bytes]:
    values = []
    for table, column, _owner in SEALED_COLUMNS:
        values += [
            r[0] for r in db.query(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL")
        ]
    return values


def outbox_payloads(db: Database) -> list[dict[str, object]]:
    return [json.loads(r[0]) for r in db.query("SELECT payload FROM outbox ORDER BY seq")]


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database(tmp_path / "data" / "gerbang.db")


def test_a_sealed_value_opens_only_in_its_own_row(db: Database, tmp_path: Path) -> None:
    vault = SealedVault(db, key_file(tmp_path))
    sealed = vault.seal(b"template bytes", aad_for("templates", "vector", "person-a"))
    assert b"template bytes" not in sealed
    assert vault.open(sealed, aad_for("templates", "vector", "person-a")) == b"template bytes"
    with pytest.raises(SealBroken) as moved:
        vault.open(sealed, aad_for("templates", "vector", "person-b"))
    assert "moved" in moved.value.details["reason"]


def test_a_flipped_byte_fails_to_open_with_a_clear_error(db: Database, tmp_path: Path) -> None:
    vault = SealedVault(db, key_file(tmp_path))
    aad = aad_for("images", "data", "person-a")
    sealed = bytearray(vault.seal(b"\xff\xd8\xff photo", aad))
    sealed[-20] ^= 0x01
    with pytest.raises(SealBroken) as broken:
        vault.open(bytes(sealed), aad)
    error = broken.value
    assert error.code == "vault_seal_broken" and error.status == 503
    assert "cadangan" in error.message.id and "backup" in error.message.en
    assert error.details["aad"] == "gerbang/images/data/person-a"


def test_a_wrong_kek_refuses_to_start_the_site(tmp_path: Path) -> None:
    write_key_file(tmp_path / "right.key")
    write_key_file(tmp_path / "wrong.key")

    def site_with(name: str) -> Site:
        key = KeySettings(kek_file=tmp_path / name)
        return Site(Settings(model_dir=tmp_path / "models", data_dir=tmp_path / "d", key=key))

    site = site_with("right.key")
    enrol(site.db, site.vault)
    site.close()
    with pytest.raises(KeyUnavailable) as refused:
        site_with("wrong.key")
    assert refused.value.code == "vault_key_unavailable"
    assert "KEK" in refused.value.message.en and "restart" in refused.value.message.en
    assert refused.value.details["wrapped_by"] == "key_file"
    assert site_with("right.key").key_warning is None  # an operator's key: no development warning


def test_a_passphrase_or_a_systemd_credential_unlocks_and_the_default_is_a_dev_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "phrase").write_text("correct horse battery staple\n")
    kek = resolve_kek(tmp_path / "phrase", None, tmp_path)
    assert kek.kind == "passphrase" and kek.wrapping_key(b"s" * 16) != kek.wrapping_key(b"t" * 16)
    (tmp_path / "short").write_text("short\n")
    with pytest.raises(KeyUnavailable):
        resolve_kek(tmp_path / "short", None, tmp_path)
    creds = tmp_path / "creds"
    write_key_file(creds / "gerbang-kek")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert resolve_kek(None, None, tmp_path).kind == "credential"
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    dev = resolve_kek(None, None, tmp_path / "data")
    assert dev.development and stat.S_IMODE(Path(dev.source).stat().st_mode) == 0o600
    assert resolve_kek(None, None, tmp_path / "data").secret == dev.secret  # made once


def test_no_development_key_is_made_for_a_database_whose_keys_an_operator_kek_wraps(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    SealedVault(db, key_file(tmp_path))  # the site's data key, wrapped by a key file
    with pytest.raises(KekMissing) as refused:
        resolve_kek(None, None, db.path.parent, db)  # EDGE_KEY__KEK_FILE forgotten
    assert refused.value.code == "vault_kek_missing" and refused.value.message == KEK_NOT_SET
    assert "EDGE_KEY__KEK_FILE" in KEK_NOT_SET.id and "EDGE_KEY__KEK_FILE" in KEK_NOT_SET.en
    assert refused.value.details["wrapped_by"] == ["key_file"]
    assert not (db.path.parent / "vault-dev.key").exists()
    fresh = Database(tmp_path / "fresh" / "gerbang.db")
    assert resolve_kek(None, None, tmp_path / "fresh", fresh).development  # no key yet: made


def test_an_older_database_in_clear_is_sealed_once_in_batches(db: Database, tmp_path: Path) -> None:
    people = [enrol(db, PlainVault(), count=n + 2) for n in range(3)]
    clear = stored_values(db)
    assert b"\xff\xd8\xffJPEG0" in clear and "templates" in outbox_payloads(db)[0]
    vault = SealedVault(db, key_file(tmp_path))
    assert seal_clear_rows(db, vault, batch=2) == len(clear) + 3
    sealed = stored_values(db)
    assert all(key_id_of(v) == 1 for v in sealed) and not set(clear) & set(sealed)
    payloads = outbox_payloads(db)
    assert all("templates" not in p and "sealed_b64" in p for p in payloads)
    opened = open_payload(vault, "identity.enrolled", people[0], payloads[0])  # type: ignore[arg-type]
    assert opened["templates"] == [{"vector_f32le_b64": "AAAA"}]
    with db.reading() as tx:
        images = [
            IdentityRepository(tx, vault).image_bytes(r[0])
            for r in tx.execute("SELECT id FROM images")
        ]
    assert images[0] == b"\xff\xd8\xffJPEG0"
    assert seal_clear_rows(db, vault) == 0  # done once, recorded


def test_sealing_clear_rows_resumes_after_a_crash(db: Database, tmp_path: Path) -> None:
    enrol(db, PlainVault(), count=6)
    vault = SealedVault(db, key_file(tmp_path))

    class Crashing(SealedVault):
        calls = 0

        def seal(self, plain: bytes, aad: bytes) -> bytes:
            Crashing.calls += 1
            if Crashing.calls == 4:
                raise RuntimeError("power cut")
            return super().seal(plain, aad)

    crashing = Crashing(db, vault.kek)
    with pytest.raises(RuntimeError):
        seal_clear_rows(db, crashing, batch=2)
    done_before = sum(1 for v in stored_values(db) if key_id_of(v) is not None)
    assert done_before == 2  # the first batch committed, the second rolled back
    assert seal_clear_rows(db, vault, batch=2) == len(stored_values(db)) - done_before + 1
    assert all(key_id_of(v) == 1 for v in stored_values(db))


def test_rotation_reseals_everything_and_forgets_the_old_key(db: Database, tmp_path: Path) -> None:
    kek = key_file(tmp_path)
    running = SealedVault(db, kek)  # a service that keeps running through the rotation
    person = enrol(db, running)
    before = stored_values(db)
    assert rotate(db, kek, batch=2, settle=0) == len(before) + 1
    after = stored_values(db)
    assert {key_id_of(v) for v in after} == {2} and not set(before) & set(after)
    assert [r[0] for r in db.query("SELECT id FROM vault_keys")] == [2]
    with db.reading() as tx:  # the running service opens values under the new key
        templates = list(IdentityRepository(tx, running).templates_for_pack(PACK, person))
    assert len(templates) == 3
    payload = outbox_payloads(db)[0]
    assert open_payload(running, "identity.enrolled", person, payload)["templates"]  # type: ignore[arg-type]
    assert key_id_of(running.seal(b"x", b"aad")) == 2  # at once, not after a refresh interval
    assert reseal_stale(db, SealedVault(db, kek)) == 0


def test_an_interrupted_rotation_is_retired_first_then_a_new_key_made(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kek = key_file(tmp_path)
    enrol(db, SealedVault(db, kek))

    def power_cut(*_: object) -> int:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr("enrollment.resealing.reseal_stale", power_cut)
        with pytest.raises(KeyboardInterrupt):
            rotate(db, kek, settle=0)  # flipped, then stopped before any re-seal
    states = [tuple(r) for r in db.query("SELECT id, state FROM vault_keys ORDER BY id")]
    assert states == [(1, "retiring"), (2, "active")]
    rotate(db, kek, settle=0)  # key 1 retired first, then the new key the operator asked for
    assert [tuple(r) for r in db.query("SELECT id, state FROM vault_keys")] == [(3, "active")]
    assert {key_id_of(v) for v in stored_values(db)} == {3}


def test_a_second_rotation_at_once_is_refused(db: Database, tmp_path: Path) -> None:
    import fcntl

    from enrollment.resealing import RotationRunning

    kek = key_file(tmp_path)
    enrol(db, SealedVault(db, kek))
    lock = db.path.with_name(db.path.name + ".rotate.lock")
    with lock.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another `keys rotate` running
        with pytest.raises(RotationRunning) as refused:
            rotate(db, kek, settle=0)
        assert refused.value.status == 409
    assert [r[0] for r in db.query("SELECT id FROM vault_keys")] == [1]  # nothing changed
    rotate(db, kek, settle=0)  # once it is done
    assert [r[0] for r in db.query("SELECT id FROM vault_keys")] == [2]


def test_rewrap_changes_the_kek_and_keeps_the_data(db: Database, tmp_path: Path) -> None:
    old, new = key_file(tmp_path, "old.key"), key_file(tmp_path, "new.key")
    person = enrol(db, SealedVault(db, old))
    values = stored_values(db)
    assert rewrap(db, old, new) == 1
    assert stored_values(db) == values  # the data is not touched
    with pytest.raises(KeyUnavailable):
        SealedVault(db, old)
    with db.reading() as tx:
        assert (
            len(list(IdentityRepository(tx, SealedVault(db, new)).templates_for_pack(PACK, person)))
            == 3
        )


def test_erasure_leaves_no_sealed_copy_in_any_outbox_row(db: Database, tmp_path: Path) -> None:
    vault = SealedVault(db, key_file(tmp_path))
    person = enrol(db, vault)
    db.query("UPDATE outbox SET sent_at = 't'")  # already pushed: the copy must go as well
    with db.transaction() as tx:
        IdentityRepository(tx, vault).erase_biometrics(person)
    assert all("sealed_b64" not in p for p in outbox_payloads(db))
    assert stored_values(db) == []


def test_a_checkpoint_leaves_no_copy_of_deleted_rows_in_the_wal(tmp_path: Path) -> None:
    db = Database(tmp_path / "gerbang.db")
    marker = b"ERASE-ME-" * 64
    with db.transaction() as tx:
        tx.execute("INSERT INTO site_state (key, value) VALUES ('x', ?)", (marker.hex(),))
    with db.transaction() as tx:
        tx.execute("DELETE FROM site_state WHERE key = 'x'")
    files = [tmp_path / "gerbang.db", tmp_path / "gerbang.db-wal"]
    assert any(marker.hex().encode() in f.read_bytes() for f in files if f.exists())
    assert db.checkpoint()
    assert not any(marker.hex().encode() in f.read_bytes() for f in files if f.exists())
    db.close()


def test_database_files_are_private_from_the_first_write(tmp_path: Path) -> None:
    folder = tmp_path / "fresh"
    db = Database(folder / "gerbang.db")
    with db.transaction() as tx:
        tx.execute("INSERT INTO site_state (key, value) VALUES ('x', 'y')")
    for name in ("gerbang.db", "gerbang.db-wal", "gerbang.db-shm"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert db.query("PRAGMA secure_delete")[0][0] == 1
    db.close()
    (folder / "gerbang.db").chmod(0o644)  # a database from an older version: tightened on open
    Database(folder / "gerbang.db").close()
    assert stat.S_IMODE((folder / "gerbang.db").stat().st_mode) == 0o600
    assert sqlite3.sqlite_version


def test_the_keys_commands_move_a_site_off_the_development_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from console.main import main

    monkeypatch.setenv("EDGE_DATA_DIR", str(tmp_path / "var"))
    site = Site(Settings(model_dir=tmp_path / "models"))
    person = enrol(site.db, site.vault)
    site.close()
    usb = tmp_path / "usb" / "gerbang.kek"
    assert main(["keys", "rewrap", "--new-kek-file", str(usb)]) == 0
    assert not (tmp_path / "var" / "vault-dev.key").exists()
    assert main(["keys", "status"]) == 2  # no KEK set: refused, no development key made
    assert "error [vault_kek_missing]" in capsys.readouterr().err
    assert not (tmp_path / "var" / "vault-dev.key").exists()
    monkeypatch.setenv("EDGE_KEY__KEK_FILE", str(usb))
    assert main(["keys", "status"]) == 0
    assert "unwraps the data key" in capsys.readouterr().out
    assert main(["keys", "rotate", "--batch", "2"]) == 0
    site = Site(Settings(model_dir=tmp_path / "models"))
    assert {key_id_of(v) for v in stored_values(site.db)} == {2}
    with site.db.reading() as tx:
        assert len(list(IdentityRepository(tx, site.vault).templates_for_pack(PACK, person))) == 3
