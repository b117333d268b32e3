"""`gerbang devices list`: an admin finds the NAME `gerbang devices rekey` needs, and sees each
terminal's gate, whether its key is accepted and when it was registered, never a key nor a key's
digest. Separate `gerbang` processes on a real SQLite data folder."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.integration.test_admin_commands import gerbang


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_")}
    return kept | {"EDGE_DATA_DIR": str(tmp_path / "site")}


def _database(env: dict[str, str]) -> sqlite3.Connection:
    return sqlite3.connect(Path(env["EDGE_DATA_DIR"]) / "gerbang.db")


def _listed(env: dict[str, str]) -> tuple[list[list[str]], str]:
    """The table as cells (split on its column gaps), and all `devices list` printed."""
    shown = gerbang(env, "devices", "list")
    assert shown.returncode == 0 and "Traceback" not in shown.stderr, shown.stderr
    rows = [
        [c.strip() for c in line.split("  ") if c.strip()] for line in shown.stdout.splitlines()
    ]
    return rows, shown.stdout


def _key(env: dict[str, str], *args: str) -> str:
    done = gerbang(env, "devices", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout.split("X-Device-Key): ")[1].split(maxsplit=1)[0]


def test_an_empty_site_says_how_to_register_a_terminal_in_both_languages(
    env: dict[str, str],
) -> None:
    _, printed = _listed(env)
    assert printed == (
        "belum ada terminal gerbang: gerbang devices add NAMA --gate GATE_ID\n"
        "no gate terminal registered yet: gerbang devices add NAME --gate GATE_ID\n"
    )


def test_every_terminal_is_listed_by_gate_with_its_state_and_never_its_key(
    env: dict[str, str],
) -> None:
    before = datetime.now(UTC).replace(second=0, microsecond=0)
    keys = [
        _key(env, "add", "dapur-1", "--gate", "pintu-2"),
        _key(env, "add", "kiosk-1", "--gate", "main"),
        _key(env, "add", "kiosk-2", "--gate", "main"),
        _key(env, "rekey", "kiosk-1"),
    ]
    with _database(env) as db:  # no command revokes yet; the column is there for one
        db.execute("UPDATE devices SET active = 0 WHERE name = 'kiosk-2'")
        digests = [row[0] for row in db.execute("SELECT key_hash FROM devices")]
    table, printed = _listed(env)
    assert table[0] == ["NAME", "GATE", "STATE", "CREATED (UTC)"]
    assert [row[:3] for row in table[1:]] == [
        ["kiosk-1", "main", "active"],
        ["kiosk-2", "main", "revoked"],
        ["dapur-1", "pintu-2", "active"],
    ]
    for row in table[1:]:
        created = datetime.strptime(row[3], "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        assert before <= created <= datetime.now(UTC), row
    for secret in keys + digests:
        assert secret not in printed


def test_a_name_read_from_the_list_is_the_one_rekey_takes(env: dict[str, str]) -> None:
    _key(env, "add", "gate-east-2", "--gate", "east")
    table, _ = _listed(env)
    [[name, *_]] = table[1:]
    rekeyed = gerbang(env, "devices", "rekey", name)
    assert rekeyed.returncode == 0, rekeyed.stderr
    assert rekeyed.stdout.startswith("terminal gate-east-2: ")
