"""`gerbang doctor` on real folders: a fresh one fails on what is missing, by name, and each
check turns when its cause is fixed or broken."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from console.main import main
from edge import doctor, wiring
from edge.settings import Settings, SyncSettings
from edge.site import Site
from enrollment.db import Database
from enrollment.keyring import KekMissing, KeyUnavailable, write_key_file
from httpkit.tls import init_tls
from kernel.errors import Message
from models.obtain import convert
from models.store import CONVERTER_VERSIONS


def _by_check(settings: Settings) -> dict[str, doctor.Finding]:
    return {f.check: f for f in doctor.run(settings)}


def test_a_fresh_data_folder_without_models_fails_on_the_models_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EDGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("EDGE_MODEL_DIR", str(tmp_path / "no-models"))
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] models" in out and "gerbang models install" in out
    assert "perbaiki:" in out and "fix:" in out
    assert "[WARN] database" in out and "[WARN] tls" in out
    assert "[OK  ] clock" in out and "[OK  ] disk" in out and "[OK  ] registry" in out
    assert out.count("[") == len(doctor.checks("0"))  # one line per check, none crashed unseen


def test_a_ready_folder_passes_models_tls_and_database(tmp_path: Path, model_dir: Path) -> None:
    data = tmp_path / "data"
    Database(data / "gerbang.db")
    init_tls(data / "tls", ["localhost"], label="UPT-T")
    found = _by_check(Settings(model_dir=model_dir, data_dir=data))
    assert found["models"].status == "WARN"  # the recogniser is converted at first start
    assert found["tls"].status == "OK" and "days" in found["tls"].seen
    assert found["database"].status == "OK"


def test_a_conversion_by_an_old_converter_warns_names_the_versions_and_is_converted_again(
    tmp_path: Path,
    model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = Settings(model_dir=model_dir, data_dir=tmp_path)
    store = wiring.model_store(settings)
    recogniser = wiring.pack_named(settings).file_for("recogniser")
    convert(store, recogniser)
    store.write_sidecar(recogniser, store.path_of(recogniser), 0)  # as an older release made it
    current = CONVERTER_VERSIONS["dlib_resnet"]
    stale = (
        f"converted by converter dlib_resnet v0, this release converts with dlib_resnet v{current}"
    )
    found = doctor.models(settings)
    assert found.status == "WARN" and stale in found.seen
    monkeypatch.setenv("EDGE_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("EDGE_DATA_DIR", str(tmp_path))
    assert main(["models", "verify"]) == 1
    assert stale in capsys.readouterr().out
    assert main(["models", "convert"]) == 0
    assert main(["models", "verify"]) == 0
    assert doctor.models(settings).status == "OK"


def test_a_certificate_near_or_past_its_end_is_named(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    init_tls(tmp_path / "tls", ["localhost"], label="UPT-T")
    from cryptography import x509

    end = x509.load_pem_x509_certificate((tmp_path / "tls/server.pem").read_bytes())
    ends = end.not_valid_after_utc
    assert doctor.tls(settings, today=ends - dt.timedelta(days=10)).status == "WARN"
    assert doctor.tls(settings, today=ends + dt.timedelta(days=1)).status == "FAIL"
    assert doctor.tls(settings, today=ends - dt.timedelta(days=90)).status == "OK"


def test_no_certificate_on_a_network_address_fails(tmp_path: Path) -> None:
    assert doctor.tls(Settings(data_dir=tmp_path, host="0.0.0.0")).status == "FAIL"


def test_a_damaged_database_fails(tmp_path: Path) -> None:
    (tmp_path / "gerbang.db").write_bytes(b"this is not SQLite" * 100)
    found = _by_check(Settings(data_dir=tmp_path))["database"]
    assert found.status == "FAIL" and "DatabaseError" in found.seen


def test_a_syncing_site_without_its_key_or_its_registry_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(
        data_dir=tmp_path, sync=SyncSettings(registry_url="http://127.0.0.1:9", poll_seconds=1)
    )
    assert doctor.registry(settings).status == "FAIL"
    assert "keygen" in (doctor.registry(settings).fix or Message("", "")).en
    monkeypatch.setenv("EDGE_DATA_DIR", str(tmp_path))
    assert main(["sync", "keygen"]) == 0
    unreachable = doctor.registry(settings)
    assert unreachable.status == "FAIL" and "127.0.0.1:9" in unreachable.seen
    assert unreachable.fix is not None and "EDGE_SYNC__REGISTRY_URL" in unreachable.fix.en


def test_the_development_key_is_a_warning_and_a_supplied_key_is_ok(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    data = tmp_path / "data"
    found = doctor.keys(Settings(data_dir=data))
    assert found.status == "WARN" and "vault-dev.key" in found.seen
    assert found.fix is not None and "keys rewrap" in found.fix.en
    assert not (data / "vault-dev.key").exists()  # the check creates nothing
    kek = tmp_path / "site.kek"
    kek.write_bytes(bytes(range(32)))
    supplied = doctor.keys(Settings(data_dir=data, key={"kek_file": kek}))
    assert supplied.status == "OK" and "key_file" in supplied.seen


def test_finger_templates_of_another_extractor_are_a_warning_naming_reextract(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    settings = Settings(data_dir=data)
    assert doctor.finger_templates(settings).status == "OK"  # no database yet
    db = Database(data / "gerbang.db")
    with db.transaction() as tx:
        tx.execute(
            "INSERT INTO identities (id, role, full_name, origin_site, created_at, updated_at)"
            " VALUES ('ana', 'inmate', 'Ana', 'UPT-T', 'now', 'now')"
        )
        for impression, (data_bytes, extractor) in enumerate(
            [(b"png", "an older extractor"), (None, "an older extractor"), (b"png", "x")], 1
        ):
            image = tx.execute(
                "INSERT INTO finger_images (identity_id, position, impression, sha256, data, width,"
                " height, resolution_ppi, captured_at) VALUES ('ana', 2, ?, 'x', ?, 400, 400, 500,"
                " 'now')",
                (impression, data_bytes),
            ).lastrowid
            tx.execute(
                "INSERT INTO finger_templates (image_id, identity_id, position, extractor,"
                " iso_record, minutiae, quality, created_at) VALUES (?, 'ana', 2, ?, x'00', 20,"
                " 50, 'now')",
                (image, extractor),
            )
    found = doctor.finger_templates(settings)
    assert found.status == "WARN" and found.fix is not None
    # the one without an image (pulled from the registry) is counted apart: it cannot be redone
    assert "2 by another extractor" in found.seen and "1 from the registry" in found.seen
    assert "gerbang finger reextract" in found.fix.en and "gerbang finger reextract" in found.fix.id


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_kek_that_does_not_unwrap_the_data_keys_fails_as_the_service_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    data, right, wrong = tmp_path / "data", tmp_path / "right.kek", tmp_path / "wrong.kek"
    write_key_file(right)
    write_key_file(wrong)
    Site(Settings(model_dir=tmp_path / "models", data_dir=data, key={"kek_file": right})).close()
    wrong_settings = Settings(model_dir=tmp_path / "models", data_dir=data, key={"kek_file": wrong})
    with pytest.raises(KeyUnavailable) as service:
        Site(wrong_settings)
    before = _files(data)
    found = doctor.keys(wrong_settings)
    assert found.status == "FAIL" and found.seen.startswith(f"{service.value.code}: ")
    assert found.fix == service.value.message  # the same fix, in both languages
    assert str(wrong) in found.seen and "does not unwrap" in found.seen
    monkeypatch.setenv("EDGE_DATA_DIR", str(data))
    monkeypatch.setenv("EDGE_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("EDGE_KEY__KEK_FILE", str(wrong))
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] keys" in out and "vault_key_unavailable" in out
    assert out.splitlines()[-1].endswith("keys)")  # counted in the summary: exit 1
    assert _files(data) == before  # read only: no key file, no data key, no change
    fits = doctor.keys(Settings(data_dir=data, key={"kek_file": right}))
    assert fits.status == "OK" and "unwraps 1 data key" in fits.seen


def test_a_missing_or_wrong_development_key_beside_wrapped_data_keys_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    data = tmp_path / "data"
    settings = Settings(model_dir=tmp_path / "models", data_dir=data)
    Site(settings).close()
    dev = data / "vault-dev.key"
    assert doctor.keys(settings).status == "WARN"  # it fits: the development warning only
    dev.unlink()
    missing = doctor.keys(settings)
    assert missing.status == "FAIL" and missing.seen.startswith("vault_kek_missing: ")
    assert missing.fix == KekMissing.message and "vault-dev.key" in missing.fix.id
    assert not dev.exists()  # nothing made: a new key could never open the data
    write_key_file(dev)  # another site's, or one a first start made after a restore
    wrong = doctor.keys(settings)
    assert wrong.status == "FAIL" and wrong.seen.startswith("vault_key_unavailable: ")
    assert wrong.fix == KeyUnavailable.message
