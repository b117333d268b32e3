"""`gerbang operators list|passwd|disable|enable`: a site admin resets a forgotten password and
switches off an officer who left, and the running service refuses the old sessions at once.

The commands run as separate `gerbang` processes on the real SQLite data folder of a real site
service (TestClient over the app, real models), whose sign-in and token checks are the ones an
officer's browser meets."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import PASSWORD, SiteClient, make_site_client
from tests.integration.test_admin_commands import gerbang

pytestmark = pytest.mark.model

NEW_PASSWORD = "a fresh gate password"


@pytest.fixture
def site(model_dir: Path, tmp_path: Path) -> Iterator[SiteClient]:
    """A site with one signed-in officer of every role (username = role, e.g. gate_officer)."""
    yield from make_site_client(model_dir, tmp_path / "site")


@pytest.fixture
def env(site: SiteClient) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_")}
    return kept | {"EDGE_DATA_DIR": str(site.site.settings.data_dir)}


def _ok(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = gerbang(env, "operators", *args, stdin=stdin)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
    return done.stdout


def _signs_in(site: SiteClient, username: str, password: str) -> int:
    login = site.client.post("/v1/auth/login", json={"username": username, "password": password})
    return login.status_code


def _token_works(site: SiteClient, role: str) -> bool:
    answer = site.client.get("/v1/gates", headers=site.as_role(role))
    assert answer.status_code in (200, 401), answer.text
    return answer.status_code == 200


def _events(env: dict[str, str]) -> list[tuple[str, str]]:
    with sqlite3.connect(Path(env["EDGE_DATA_DIR"]) / "gerbang.db") as db:
        rows = db.execute(
            "SELECT action, details FROM audit_events WHERE action LIKE 'operator.%' ORDER BY seq"
        ).fetchall()
    return [(action, details) for action, details in rows]


def _listed(env: dict[str, str]) -> dict[str, list[str]]:
    lines = _ok(env, "list").splitlines()
    cells = [[c.strip() for c in line.split("  ") if c.strip()] for line in lines]
    assert cells[0] == ["USERNAME", "FULL NAME", "ROLE", "STATE", "CREATED (UTC)"]
    return {row[0]: row[1:4] for row in cells[1:]}


def test_a_disabled_officer_is_refused_at_once_and_enabling_lets_them_sign_in_again(
    site: SiteClient, env: dict[str, str]
) -> None:
    assert _token_works(site, "gate_officer")
    said = _ok(env, "disable", "gate_officer")
    assert "dinonaktifkan" in said and "account gate_officer disabled" in said
    assert not _token_works(site, "gate_officer")  # the live session, refused at once
    assert _signs_in(site, "gate_officer", PASSWORD) == 401
    assert _token_works(site, "enrolment_officer")  # nobody else is touched
    assert _listed(env)["gate_officer"] == ["Gate Officer", "gate_officer", "disabled"]
    again = _ok(env, "disable", "gate_officer")
    assert "sudah nonaktif" in again and "already disabled: nothing changed" in again
    assert "already active: nothing changed" in _ok(env, "enable", "enrolment_officer")
    assert "account gate_officer enabled" in _ok(env, "enable", "gate_officer")
    assert not _token_works(site, "gate_officer")  # an old token does not come back
    assert _signs_in(site, "gate_officer", PASSWORD) == 200
    assert [action for action, _ in _events(env)][-2:] == ["operator.disabled", "operator.enabled"]


def test_a_new_password_ends_the_old_sessions_and_signs_in_where_the_old_one_no_longer_does(
    site: SiteClient, env: dict[str, str]
) -> None:
    said = _ok(env, "passwd", "gate_officer", "--password-stdin", stdin=NEW_PASSWORD + "\n")
    assert "kata sandi baru untuk gate_officer" in said and "1 sessions ended" in said
    assert not _token_works(site, "gate_officer")
    assert _signs_in(site, "gate_officer", PASSWORD) == 401
    assert _signs_in(site, "gate_officer", NEW_PASSWORD) == 200
    assert _token_works(site, "supervisor")
    action, details = _events(env)[-1]
    assert action == "operator.password_set"
    assert json.loads(details) == {"username": "gate_officer", "sessions_ended": 1}
    with sqlite3.connect(Path(env["EDGE_DATA_DIR"]) / "gerbang.db") as db:
        hashes = [h for (h,) in db.execute("SELECT password_hash FROM operators")]
    listed = _ok(env, "list")
    assert all(h not in listed for h in hashes) and "scrypt" not in listed
    assert all(NEW_PASSWORD not in d and h not in d for _, d in _events(env) for h in hashes)


def test_an_officer_locked_out_by_a_forgotten_password_signs_in_at_once_after_a_reset(
    site: SiteClient, env: dict[str, str]
) -> None:
    """The lock lives in the running service's memory; the reset is another process. The lock
    follows the password, so the new one is not made to wait out the old one's failures."""
    for _ in range(6):
        assert _signs_in(site, "gate_officer", "what was it again") == 401
    assert _signs_in(site, "gate_officer", PASSWORD) == 429
    _ok(env, "passwd", "gate_officer", "--password-stdin", stdin=NEW_PASSWORD + "\n")
    assert _signs_in(site, "gate_officer", NEW_PASSWORD) == 200


def test_a_weak_new_password_is_refused_and_the_old_one_still_works(
    site: SiteClient, env: dict[str, str]
) -> None:
    done = gerbang(env, "operators", "passwd", "gate_officer", "--password-stdin", stdin="short\n")
    assert done.returncode == 2 and "error [password_weak]" in done.stderr, done.stderr
    assert _token_works(site, "gate_officer")
    assert _signs_in(site, "gate_officer", PASSWORD) == 200


def test_the_last_active_site_admin_cannot_be_disabled(
    site: SiteClient, env: dict[str, str]
) -> None:
    refused = gerbang(env, "operators", "disable", "site_admin")
    assert refused.returncode == 2
    assert "error [operator_last_site_admin]: Ini admin situs aktif terakhir" in refused.stderr
    assert "This is the last active site admin" in refused.stderr
    assert _token_works(site, "site_admin")
    _ok(env, "add", "kepala", "--role", "site_admin", "--password-stdin", stdin=NEW_PASSWORD)
    _ok(env, "disable", "site_admin")  # another admin is active now
    assert not _token_works(site, "site_admin")
    last = gerbang(env, "operators", "disable", "kepala")
    assert last.returncode == 2 and "operator_last_site_admin" in last.stderr
    assert _signs_in(site, "kepala", NEW_PASSWORD) == 200


@pytest.mark.parametrize("action", ["passwd", "disable", "enable"])
def test_an_unknown_username_is_named_in_both_languages_with_exit_2(
    site: SiteClient, env: dict[str, str], action: str
) -> None:
    stdin_flag = ["--password-stdin"] if action == "passwd" else []
    done = gerbang(env, "operators", action, "nobody", *stdin_flag, stdin="never set 123\n")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert (
        "error [operator_not_found]: Tidak ada akun petugas dengan nama pengguna itu" in done.stderr
    )
    assert "No officer account has that username" in done.stderr
    assert [action for action, _ in _events(env)] == ["operator.added"] * 4  # nothing written
