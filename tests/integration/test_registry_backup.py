"""`gerbang registry backup|restore` with PostgreSQL's own tools (pg_dump, pg_restore) and, for the
SQLite demo backend, SQLite's online backup: a registry with people and an audit trail is sealed
while it serves, restored into a new database, and carries on (the chain verifies, a site's next
push applies); a wrong key restores nothing, a database that holds a registry is refused."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from console import main as cli
from registry.app import create_registry_app
from registry.backup import read_header
from registry.service import RegistryService
from registry.settings import RegistrySettings
from tests.integration import test_registry as world
from tests.integration.test_registry import ADMIN_URL, Registry, _random_unit

database_url, registry_url, registry = world.database_url, world.registry_url, world.registry
COUNTED = ("national_identities", "national_templates", "applied_changes", "audit", "sites")


@pytest.fixture()
def target(registry: Registry, tmp_path: Path) -> Iterator[str]:
    """A database URL that does not exist yet, on the registry's backend; dropped afterwards."""
    if registry.url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    name = f"gerbang_restore_{uuid.uuid4().hex[:10]}"
    yield ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)".encode())


def _counts(url: str) -> dict[str, int]:
    service = RegistryService(RegistrySettings(database_url=url))
    with service.db.transaction() as tx:
        return {
            t: int(tx.execute(f"SELECT COUNT(*) AS n FROM {t}").fetchone()["n"]) for t in COUNTED
        }


def test_a_sealed_backup_restores_into_a_new_database_and_the_registry_carries_on(
    registry: Registry, target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    site = registry.site()
    changes = [site.enrol(f"Warga Binaan {i}", [_random_unit(100 + i)])[1] for i in range(3)]
    assert registry.push(site, site.batch(changes)).status_code == 200
    key, wrong = tmp_path / "backup.key", tmp_path / "wrong.key"
    key.write_bytes(secrets.token_bytes(32))
    wrong.write_bytes(secrets.token_bytes(32))
    monkeypatch.setenv("REGISTRY_DATABASE_URL", registry.url)
    out = tmp_path / "registry.gbk"
    assert cli.main(["registry", "backup", "--out", str(out)]) == 2  # never unencrypted by default
    assert "registry_backup_key_missing" in capsys.readouterr().err
    assert cli.main(["registry", "backup", "--out", str(out), "--key-file", str(key)]) == 0
    data = out.read_bytes()
    assert b"Warga Binaan" not in data and out.stat().st_mode & 0o777 == 0o600
    header = read_header(out)  # readable without the key: what it is, never what it holds
    assert (
        header["cipher"] == "aes-256-gcm-stream" and header["content"] == "gerbang-registry-backup"
    )
    before = _counts(registry.url)
    late_person, late = site.enrol("Warga Binaan sesudah cadangan", [_random_unit(110)])
    assert registry.push(site, site.batch([late])).status_code == 200  # after the snapshot

    restore = ["registry", "restore", str(out), "--database-url", target]
    assert cli.main([*restore, "--key-file", str(wrong)]) == 2
    assert "registry_backup_unreadable" in capsys.readouterr().err
    assert cli.main([*restore, "--key-file", str(key)]) == 0
    assert _counts(target) == before
    restored = RegistryService(RegistrySettings(database_url=target))
    assert restored.verify_audit().broken is None
    # the registry carries on from the restored database: the site's next change applies
    with TestClient(create_registry_app(restored.settings, restored)) as client:
        moved = Registry(client, restored, target, registry.tokens)
        person, change = site.enrol("Warga Binaan 3", [_random_unit(103)])
        gap = moved.push(site, site.batch([change]))  # the restored registry lacks `late`
        assert gap.status_code == 409 and gap.json()["error"]["code"] == "sync_gap"
        assert gap.json()["error"]["details"]["expected_seq"] == late.seq
        answer = moved.push(site, site.batch([late, change]))  # the site resends from there
        assert answer.status_code == 200, answer.text
        for someone in (late_person, person):
            status = moved.query("SELECT status FROM national_identities WHERE id = %s", someone)
            assert status == [("active",)]
    assert cli.main([*restore, "--key-file", str(key)]) == 2  # it holds a registry now
    assert "registry_restore_not_empty" in capsys.readouterr().err
