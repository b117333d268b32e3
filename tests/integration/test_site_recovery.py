"""A site whose disk died, rebuilt from its last backup plus what the registry holds for it.

Real processes over loopback HTTP: `gerbang registry serve` on PostgreSQL and a `gerbang serve`
site syncing with it. A is enrolled and pushed, `gerbang backup` runs while the service does, B
is enrolled and pushed, then the site is stopped and its data folder deleted. `gerbang recover`
restores the backup into a new folder and takes B back from the registry; the rebuilt site
identifies A and B, lets B through a gate 1:1 against the template that came back, its audit
chain verifies, and its next change is pushed under a seq the registry has never seen (no
conflict, nothing applied twice).

Locally the module skips when PostgreSQL is unreachable; under CI=true it fails instead.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
from pathlib import Path

import httpx
import pytest

from enrollment.accounts import AccountStore
from enrollment.db import Database
from tests.integration.test_registry import PASSWORD, database_url  # noqa: F401
from tests.integration.test_sync_processes import (
    PERSON,
    REGION_A,
    RegistryProcess,
    SiteProcess,
    _applied,
    _free_port,
    _gerbang,
    _new_site,
    _stop,
    _wait_for,
)

pytestmark = [pytest.mark.model, pytest.mark.slow]

SECOND = "deepface-img8"


def _key_file(path: Path) -> Path:
    path.write_bytes(base64.b64encode(secrets.token_bytes(32)) + b"\n")
    path.chmod(0o600)
    return path


def _registry_holds(registry: RegistryProcess, identity_id: str) -> bool:
    found = registry.query("SELECT site_id FROM national_identities WHERE id = %s", identity_id)
    return found == [("UPT-A",)]


def _pushed_through(site: SiteProcess) -> int:
    return int(site.sync_status()["pushed_through"])


def test_a_dead_site_comes_back_from_its_backup_and_the_registry(
    database_url: str,  # noqa: F811
    model_dir: Path,
    dev_faces: Path,
    tmp_path: Path,
) -> None:
    registry = RegistryProcess(
        {**os.environ, "REGISTRY_DATABASE_URL": database_url},
        _free_port(),
        tmp_path / "registry.log",
    )
    registry.start()
    site = _new_site("UPT-A", REGION_A, registry, tmp_path, model_dir)
    site.env |= {"EDGE_KEY__KEK_FILE": str(_key_file(tmp_path / "kek.key")),  # on its own media
                 "EDGE_BACKUP__KEY_FILE": str(_key_file(tmp_path / "backup.key"))}  # fmt: skip
    try:
        site.start()
        first = sorted((dev_faces / PERSON).glob("*.jpg"))
        second = sorted((dev_faces / SECOND).glob("*.jpg"))
        at_a = site.enrol("Barack", 1, first[:2])
        _wait_for(lambda: _registry_holds(registry, at_a), "A at the registry")
        backup = tmp_path / "site.gbk"
        _gerbang(site.env, "backup", "--out", str(backup))  # while the service runs
        at_b = site.enrol("Dewi", 2, second[:2])
        _wait_for(lambda: _registry_holds(registry, at_b), "B at the registry")
        _wait_for(lambda: _pushed_through(site) == _applied(registry, "UPT-A")[2], "B acknowledged")
        registry_seq = _applied(registry, "UPT-A")[2]
        assert site.process is not None
        _stop(site.process)
        shutil.rmtree(site.data_dir)  # the disk died

        rebuilt = tmp_path / "rebuilt"
        env = {**site.env, "EDGE_DATA_DIR": str(rebuilt)}
        out = _gerbang(env, "recover", str(backup), "--to", str(rebuilt))
        assert '"restored": [\n    "' + at_b in out, out
        assert f"pushes from seq {registry_seq + 1} on" in out, out
        assert f"pengirimannya berlanjut dari seq {registry_seq + 1}." in out, out
        db = Database(rebuilt / "gerbang.db")
        with db.transaction() as tx:  # movements are an officer's (gate.move), not a terminal's
            AccountStore(tx).add_operator("admin", "Admin", "site_admin", PASSWORD)
        db.close()
        back = SiteProcess("UPT-A", env, _free_port(), rebuilt)
        back.start()

        assert {c["identity_id"] for c in back.identify(first[5])} >= {at_a}
        assert [c["identity_id"] for c in back.identify(second[4])][:1] == [at_b]
        assert "audit chain intact" in _gerbang(env, "audit", "verify")

        login = {"username": "admin", "password": PASSWORD}
        token = httpx.post(f"{back.url}/v1/auth/login", json=login, timeout=30).json()["token"]
        admin = {"Authorization": f"Bearer {token}"}
        gate = {
            "id": "main",
            "name": "Pintu utama",
            "directions": ["in", "out"],
            "roles": ["inmate"],
        }
        assert (
            httpx.post(f"{back.url}/v1/gates", json=gate, headers=admin, timeout=30).status_code
            == 201
        )
        passage = httpx.post(
            f"{back.url}/v1/gates/main/inmate-movement",
            files={"image": (second[5].name, second[5].read_bytes(), "image/jpeg")},
            data={"inmate_id": at_b, "passage": "court_out", "order_reference": "PN-7/2026"},
            headers=admin, timeout=60,
        )  # fmt: skip
        assert passage.status_code == 200 and passage.json()["result"] == "admit", passage.text

        # The gate event is the rebuilt site's first change: pushed under a new seq, no conflict.
        _wait_for(lambda: _applied(registry, "UPT-A")[2] > registry_seq, "the gate event pushed")
        rows, seqs, top = _applied(registry, "UPT-A")
        assert rows == seqs == top  # every seq applied once, none skipped
        kinds = registry.query("SELECT kind FROM applied_changes WHERE site_id = %s AND seq > %s", "UPT-A", registry_seq)  # fmt: skip
        assert ("gate.event",) in kinds
        _wait_for(lambda: back.sync_status()["waiting"] == 0, "the outbox drained")
        status = back.sync_status()
        assert status["alarm"] is None and not status["dead_letters"], status
        _stop(back.process)  # type: ignore[arg-type]
    finally:
        for process in (site.process, registry.process):
            if process is not None and process.poll() is None:
                _stop(process)
