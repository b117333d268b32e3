"""The registry's KEK: a restored database whose KEK is not there is refused with what to set,
and no development key is made beside it (one could never open its data keys)."""

from __future__ import annotations

from pathlib import Path

import pytest

from enrollment.keyring import DEV_KEK_NAME, KekMissing
from registry.db import open_database
from registry.vault import RegistryKeySettings, RegistryVault


def _vault(database: Path, keys: Path) -> RegistryVault:
    db = open_database(f"sqlite:///{database}")
    db.migrate()
    return RegistryVault(db, RegistryKeySettings(dev_dir=keys))


def test_a_restored_database_without_its_kek_is_refused_and_no_key_is_made(tmp_path: Path) -> None:
    first = _vault(tmp_path / "registry.db", tmp_path / "keys")
    first.ready()
    first.seal(b"template", b"aad")
    (tmp_path / "keys" / DEV_KEK_NAME).unlink()  # the backup restored elsewhere, without the key

    with pytest.raises(KekMissing) as refused:
        _vault(tmp_path / "registry.db", tmp_path / "keys").ready()
    assert refused.value.code == "vault_kek_missing"
    assert "REGISTRY_KEY__KEK_FILE" in refused.value.message.en
    assert "REGISTRY_KEY__KEK_FILE" in refused.value.message.id
    assert not (tmp_path / "keys" / DEV_KEK_NAME).exists()

    fresh = _vault(tmp_path / "new.db", tmp_path / "keys")  # an empty registry still starts
    fresh.ready()
    assert fresh.kek.development and fresh.open(fresh.seal(b"x", b"a"), b"a") == b"x"
