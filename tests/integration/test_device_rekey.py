"""`gerbang devices rekey` and `revoke`: a terminal whose key was exposed (typed as `/gate?key=`, seen in an
address bar) gets a new one, and the old key is refused from then on. Separate `gerbang`
processes on a real SQLite data folder, checked through the store the service's auth uses."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from enrollment.accounts import AccountStore
from kernel.errors import Unauthenticated
from tests.integration.test_admin_commands import gerbang


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_")}
    return kept | {"EDGE_DATA_DIR": str(tmp_path / "site")}


def _printed_key(stdout: str) -> str:
    return stdout.split("X-Device-Key): ")[1].split(maxsplit=1)[0]


def _accounts(env: dict[str, str]) -> tuple[sqlite3.Connection, AccountStore]:
    db = sqlite3.connect(Path(env["EDGE_DATA_DIR"]) / "gerbang.db")
    db.row_factory = sqlite3.Row
    return db, AccountStore(db)


def test_a_rekeyed_terminal_works_with_its_new_key_and_never_its_old_one(
    env: dict[str, str],
) -> None:
    added = gerbang(env, "devices", "add", "kiosk-1", "--gate", "main")
    assert added.returncode == 0, added.stderr
    old = _printed_key(added.stdout)
    rekeyed = gerbang(env, "devices", "rekey", "kiosk-1")
    assert rekeyed.returncode == 0, rekeyed.stderr
    new = _printed_key(rekeyed.stdout)
    assert new != old and "old key is refused" in rekeyed.stdout
    db, accounts = _accounts(env)
    with db:
        assert accounts.device_for_key(new).name == "kiosk-1"
        with pytest.raises(Unauthenticated):
            accounts.device_for_key(old)
        events = db.execute(
            "SELECT action, details FROM audit_events WHERE action LIKE 'device.%' ORDER BY seq"
        ).fetchall()
    assert [event["action"] for event in events] == ["device.added", "device.rekeyed"]
    assert new not in events[1]["details"] and old not in events[1]["details"]


def test_rekeying_an_unknown_terminal_says_so_in_both_languages(env: dict[str, str]) -> None:
    assert gerbang(env, "devices", "add", "kiosk-1", "--gate", "main").returncode == 0
    answer = gerbang(env, "devices", "rekey", "kiosk-9")
    assert answer.returncode != 0
    assert "error [device_not_found]: Tidak ada terminal gerbang dengan nama itu" in answer.stderr
    assert "No gate terminal has that name" in answer.stderr


def test_a_revoked_terminal_is_refused_listed_as_revoked_and_a_rekey_brings_it_back(
    env: dict[str, str],
) -> None:
    key = _printed_key(gerbang(env, "devices", "add", "kiosk-1", "--gate", "main").stdout)
    revoked = gerbang(env, "devices", "revoke", "kiosk-1")
    assert revoked.returncode == 0, revoked.stderr
    assert "dicabut" in revoked.stdout and "revoked: its key is refused" in revoked.stdout
    again = gerbang(env, "devices", "revoke", "kiosk-1")
    assert "already revoked: nothing changed" in again.stdout
    listed = gerbang(env, "devices", "list").stdout
    assert [line.split()[:3] for line in listed.splitlines()[1:]] == [
        ["kiosk-1", "main", "revoked"]
    ]
    db, accounts = _accounts(env)
    with db:
        with pytest.raises(Unauthenticated):
            accounts.device_for_key(key)
        actions = [r[0] for r in db.execute("SELECT action FROM audit_events WHERE action LIKE 'device.%' ORDER BY seq")]  # fmt: skip
    assert actions == ["device.added", "device.revoked"]  # the second revoke wrote nothing
    new = _printed_key(gerbang(env, "devices", "rekey", "kiosk-1").stdout)
    db, accounts = _accounts(env)
    with db:
        assert accounts.device_for_key(new).name == "kiosk-1"
    assert gerbang(env, "devices", "revoke", "kiosk-9").returncode == 2
