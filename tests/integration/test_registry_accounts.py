"""`gerbang registry accounts list|passwd|disable|enable` on the registry's two backends, with
the officers' real sign-in and tokens: each change takes effect at once, is audited without the
password, and the last active central admin stays.

Locally the PostgreSQL case skips when the server is unreachable; under CI=true it fails instead.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from console import main as cli
from gallery_sync.protocol import public_key_text
from tests.integration.test_registry import (
    PASSWORD,
    Registry,
    fresh_postgres_database,
    open_registry,
)

NEW_PASSWORD = "a new long passphrase 7"


@pytest.fixture(params=["postgresql", "sqlite"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty registry database per test (these tests change the accounts), per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
        return
    yield from fresh_postgres_database()


@pytest.fixture
def registry(fresh_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    """A registry with an account per role and their tokens; the console pointed at it."""
    monkeypatch.setenv("REGISTRY_DATABASE_URL", fresh_url)
    opened = open_registry(fresh_url)
    yield next(opened)
    opened.close()


def _console(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str, stdin: str = ""
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    status = cli.main(["registry", "accounts", *args])
    said = capsys.readouterr()
    return status, said.out, said.err


def _sign_in(registry: Registry, username: str, password: str) -> int:
    body = {"username": username, "password": password}
    return registry.client.post("/v1/auth/login", json=body).status_code


def _works(registry: Registry, username: str) -> bool:
    answer = registry.client.get("/v1/reports/sites", headers=registry.tokens[username])
    return answer.status_code == 200


def _audited(registry: Registry, action: str, subject: str) -> list[str]:
    with registry.service.db.transaction() as tx:
        rows = tx.execute(
            "SELECT details FROM audit WHERE action = %s AND subject = %s", (action, subject)
        ).fetchall()
    return [str(row["details"]) for row in rows]


def test_list_shows_every_account_and_never_a_password_hash(
    registry: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, out, _ = _console(capsys, monkeypatch, "list")
    lines = out.splitlines()
    assert status == 0 and lines[0].split() == ["USERNAME", "ROLE", "REGION", "STATE", "CREATED", "(UTC)"]  # fmt: skip
    assert [line.split()[:4] for line in lines[1:]] == [
        ["admin", "central_admin", "-", "active"],
        ["jabar", "kanwil_monitor", "KW-JABAR", "active"],
        ["judge", "adjudicator", "-", "active"],
    ]
    assert "scrypt" not in out and "$" not in out


def test_a_new_password_ends_the_sessions_lifts_a_lock_and_is_audited_without_it(
    registry: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(6):  # a forgotten password, tried until the account is locked
        assert _sign_in(registry, "judge", "not the password") == 401
    assert _sign_in(registry, "judge", PASSWORD) == 429
    status, out, _ = _console(capsys, monkeypatch, "passwd", "judge", "--password-stdin",
                              stdin=NEW_PASSWORD + "\n")  # fmt: skip
    assert status == 0 and "1 sesi berakhir" in out and "1 sessions ended" in out
    assert not _works(registry, "judge")  # the token from before is refused at once
    assert _sign_in(registry, "judge", PASSWORD) == 401
    assert _sign_in(registry, "judge", NEW_PASSWORD) == 200  # no lock left to wait out
    (details,) = _audited(registry, "account.password_set", "judge")
    assert NEW_PASSWORD not in details and "sessions_ended" in details
    assert _works(registry, "admin")  # nobody else's session ended


def test_a_disabled_officer_is_refused_at_once_and_enabling_brings_back_no_old_token(
    registry: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, out, _ = _console(capsys, monkeypatch, "disable", "jabar")
    assert status == 0 and "akun jabar dinonaktifkan" in out and "account jabar disabled" in out
    assert not _works(registry, "jabar") and _sign_in(registry, "jabar", PASSWORD) == 401
    status, out, _ = _console(capsys, monkeypatch, "disable", "jabar")
    assert status == 0 and "already disabled: nothing changed" in out
    status, out, _ = _console(capsys, monkeypatch, "list")
    assert "jabar     kanwil_monitor  KW-JABAR  disabled" in out
    status, out, _ = _console(capsys, monkeypatch, "enable", "jabar")
    assert status == 0 and "account jabar enabled" in out
    assert not _works(registry, "jabar")  # its old token stays dead
    assert _sign_in(registry, "jabar", PASSWORD) == 200
    assert len(_audited(registry, "account.disabled", "jabar")) == 1
    assert len(_audited(registry, "account.enabled", "jabar")) == 1


def test_the_last_central_admin_stays_and_an_unknown_name_is_said_in_both_languages(
    registry: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, _, err = _console(capsys, monkeypatch, "disable", "admin")
    assert status == 2 and err.startswith("error [registry_last_central_admin]: Ini admin pusat")
    assert "This is the last active central admin" in err and "Traceback" not in err
    assert _works(registry, "admin")
    status, _, err = _console(capsys, monkeypatch, "passwd", "nobody", "--password-stdin")
    assert status == 2 and err.startswith("error [registry_account_not_found]: Tidak ada akun")
    assert "gerbang registry accounts list" in err
    registry.service.add_account("admin2", "central_admin", PASSWORD, None)
    status, _, _ = _console(capsys, monkeypatch, "disable", "admin")
    assert status == 0 and not _works(registry, "admin")


def test_the_registry_console_says_what_it_did_and_what_is_wrong_in_both_languages(
    registry: Registry, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, out, _ = _console(capsys, monkeypatch, "add", "rina", "--role", "adjudicator",
                              "--password-stdin", stdin=NEW_PASSWORD + "\n")  # fmt: skip
    assert (
        status == 0
        and out == "akun rina (adjudicator) dibuat\naccount rina (adjudicator) created\n"
    )
    status, _, err = _console(capsys, monkeypatch, "add", "rina", "--role", "adjudicator",
                              "--password-stdin", stdin=NEW_PASSWORD + "\n")  # fmt: skip
    assert status == 2 and err.startswith("error [registry_input_invalid]: Akun 'rina' sudah ada.")
    assert "Account 'rina' already exists." in err
    key = public_key_text(Ed25519PrivateKey.generate().public_key())
    site = ["registry", "sites", "add", "UPT-Z", "--name", "Lapas Z", "--region", "KW-JABAR"]
    assert cli.main([*site, "--public-key", key]) == 0
    assert capsys.readouterr().out.startswith("UPT UPT-Z (Lapas Z, wilayah KW-JABAR) terdaftar\n")
    assert cli.main([*site[:3], "UPT-Y", *site[4:], "--public-key", "not a key"]) == 2
    assert "Ini bukan kunci publik Ed25519" in capsys.readouterr().err
    assert cli.main(["registry", "audit", "verify"]) == 0
    assert capsys.readouterr().out.startswith("rantai audit utuh: ")
