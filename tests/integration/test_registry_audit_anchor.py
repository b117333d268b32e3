"""The registry's own audit chain, anchored by signed checkpoints, against the attacks a bare
chain misses (with the append-only trigger switched off, as a database owner can): the newest
events deleted, and an event edited with every later hash recomputed. Both backends."""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from registry.audit_chain import canonical_details, event_hash, time_text
from registry.audit_cli import audit_checkpoints, audit_verify
from registry.service import RegistryService
from registry.settings import RegistrySettings
from tests.integration.test_registry import ADMIN_URL, PASSWORD, _require_postgres


@pytest.fixture(params=["postgresql", "sqlite"])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RegistryService]:
    """A fresh registry with a few audited accounts and one signed checkpoint."""
    if request.param == "sqlite":
        url, name = f"sqlite:///{tmp_path / 'registry.db'}", None
    else:
        _require_postgres()
        name = f"gerbang_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}".encode())
        url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    settings = RegistrySettings(database_url=url, audit_key_file=tmp_path / "audit.key")
    registry = RegistryService(settings)
    registry.db.migrate()
    for n in range(5):
        registry.add_account(f"officer{n}", "adjudicator", PASSWORD, None)
    assert registry.checkpoint_audit() is not None
    assert registry.checkpoint_audit() is None  # nothing new: no second checkpoint
    yield registry
    if name:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)".encode())


def unprotected(service: RegistryService, sql: str, *params: object) -> None:
    """What a database owner can do: the append-only triggers off, then a write."""
    with service.db.transaction() as tx:
        if service.settings.database_url.startswith("sqlite"):
            tx.execute("DROP TRIGGER IF EXISTS audit_no_update")
            tx.execute("DROP TRIGGER IF EXISTS audit_no_delete")
        else:
            tx.execute("ALTER TABLE audit DISABLE TRIGGER USER")
        tx.execute(sql, params)


def rehash_all(service: RegistryService) -> None:
    with service.db.transaction() as tx:
        rows = tx.execute(
            "SELECT id, at, actor, action, subject, details FROM audit ORDER BY id"
        ).fetchall()
    prev = "0" * 64
    for row in rows:
        details = row["details"]
        details = canonical_details(json.loads(details) if isinstance(details, str) else details)
        digest = event_hash(time_text(row["at"]), row["actor"], row["action"], row["subject"],
                            details, prev)  # fmt: skip
        unprotected(service, "UPDATE audit SET prev_hash = %s, hash = %s WHERE id = %s",
                    prev, digest, row["id"])  # fmt: skip
        prev = digest


def test_deleting_the_newest_events_is_found_against_the_checkpoint(
    service: RegistryService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kept = tmp_path / "kept.jsonl"
    assert audit_checkpoints(service, argparse.Namespace(out=kept)) == 0
    with service.db.transaction() as tx:
        newest = tx.execute("SELECT max(id) AS id FROM audit").fetchone()["id"]
    unprotected(service, "DELETE FROM audit WHERE id > %s", newest - 2)
    unprotected(service, "DELETE FROM audit_checkpoints")  # the intruder wipes ours too
    assert service.verify_audit().ok  # the bare chain is fooled

    assert audit_verify(service, argparse.Namespace(checkpoints=None)) == 0
    capsys.readouterr()
    assert audit_verify(service, argparse.Namespace(checkpoints=kept)) == 1
    printed = capsys.readouterr().out
    assert f"BROKEN at event {newest}" in printed and "truncated" in printed


def test_an_edit_with_every_hash_recomputed_breaks_at_the_checkpoint(
    service: RegistryService,
) -> None:
    unprotected(service, "UPDATE audit SET subject = %s WHERE id = (SELECT min(id) FROM audit)",
                "someone-else")  # fmt: skip
    rehash_all(service)
    assert service.verify_audit().ok
    report = service.verify_checkpoints([])
    assert report.broken is not None and "rewritten" in report.broken.reason


def test_a_forged_checkpoint_is_refused_and_an_intact_chain_holds_them_all(
    service: RegistryService,
) -> None:
    [checkpoint] = service.audit_checkpoints()
    kept = service.verify_checkpoints([checkpoint])  # the auditor's copy of the stored one
    assert kept.broken is None and kept.checked == 1
    forged = {**checkpoint, "event_id": checkpoint["event_id"] + 5}
    report = service.verify_checkpoints([forged])
    assert report.broken is not None and "not signed" in report.broken.reason
    service.add_account("late", "adjudicator", PASSWORD, None)
    assert service.checkpoint_audit() is not None
    assert (
        service.verify_checkpoints([]).checked == 2
        and service.verify_checkpoints([]).broken is None
        and service.verify_checkpoints(service.audit_checkpoints()).checked == 2
    )
