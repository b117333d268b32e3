"""The registry's database to one sealed file and back, with PostgreSQL's own tools.

`pg_dump --format=custom` takes a consistent snapshot while the registry runs (one repeatable-read
transaction: sites keep pushing); its output is sealed as it streams (`kernel.sealed`, AES-256-GCM
under a key file or a passphrase), so no plain copy touches the disk. `restore` opens and checks
the whole file into a private staging folder first (a wrong key or a damaged file restores
nothing), then `pg_restore` loads it in one transaction into an empty database, which it creates
if missing; a database that already holds a registry is refused. The SQLite demo backend is
copied with SQLite's online backup API instead, sealed the same way.

Errors added under kernel/errors.py's tree:
InputError 422
├─ RegistryBackupKeyMissing   registry_backup_key_missing   no key file nor passphrase
├─ RegistryBackupUnreadable   registry_backup_unreadable    wrong key, damaged, not a registry backup
└─ RegistryRestoreNotEmpty    registry_restore_not_empty    the target already holds a registry
Unavailable 503
└─ RegistryBackupToolFailed   registry_backup_tool_failed   pg_dump / pg_restore missing or failed
"""

from __future__ import annotations

import io
import os
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from kernel import sealed
from kernel.errors import InputError, Message, Unavailable
from registry.db import SQLITE_SCHEME, ensure_database, open_database

CONTENT = "gerbang-registry-backup"


class RegistryBackupKeyMissing(InputError):
    code = "registry_backup_key_missing"
    message = Message(
        "Cadangan registri tidak ditulis tanpa enkripsi: beri --key-file atau --passphrase-stdin (atau --insecure-plain bila memang disengaja).",
        "A registry backup is not written unencrypted: give --key-file or --passphrase-stdin (or --insecure-plain if you really mean it).",
    )


class RegistryBackupUnreadable(InputError):
    code = "registry_backup_unreadable"
    message = Message(
        "Berkas cadangan registri tidak dapat dibuka: kunci salah, berkas rusak, atau bukan cadangan registri. Tidak ada yang dipulihkan.",
        "The registry backup cannot be opened: wrong key, a damaged file, or not a registry backup. Nothing was restored.",
    )


class RegistryRestoreNotEmpty(InputError):
    code = "registry_restore_not_empty"
    message = Message(
        "Basis data tujuan sudah berisi registri; pulihkan ke basis data baru yang kosong.",
        "The target database already holds a registry; restore into a new, empty database.",
    )


class RegistryBackupToolFailed(Unavailable):
    code = "registry_backup_tool_failed"
    message = Message(
        "pg_dump atau pg_restore tidak ada atau gagal; pasang klien PostgreSQL (paket postgresql-client) dengan versi server.",
        "pg_dump or pg_restore is missing or failed; install the PostgreSQL client (package postgresql-client) matching the server.",
    )


@dataclass(frozen=True)
class RestoreSummary:
    """What a restore loaded, from the backup's header."""

    created_at: str
    backend: str
    database_url: str


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RegistryBackupToolFailed(tool=name, reason="not installed")
    return path


def write_backup(url: str, out: Path, key: sealed.SealingKey | None) -> dict[str, Any]:
    """Seal a consistent snapshot of the registry at `url` into `out` (0600); its header."""
    meta = {"content": CONTENT, "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
    partial = out.with_name(out.name + ".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an existing file keeps its mode through O_CREAT
    try:
        with os.fdopen(descriptor, "wb") as sink:
            if url.startswith(SQLITE_SCHEME):
                _seal_sqlite(url, sink, key, meta)
            else:
                _seal_pg_dump(url, sink, key, meta)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, out)
    return meta


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The connection string without its password, and the environment that carries it: a
    password on a command line is readable by every local user (`ps`)."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    parts = conninfo_to_dict(url)
    password = parts.pop("password", None)
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = str(password)
    return make_conninfo(**{k: str(v) for k, v in parts.items() if v is not None}), env


def _seal_pg_dump(
    url: str, sink: IO[bytes], key: sealed.SealingKey | None, meta: dict[str, Any]
) -> None:
    conninfo, env = _libpq(url)
    command = [_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
               "--dbname", conninfo]  # fmt: skip
    with (
        tempfile.TemporaryFile() as errors,  # a file: a chatty pg_dump never blocks on a full pipe
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, env=env) as dump,
    ):
        assert dump.stdout is not None
        sealed.seal(
            dump.stdout, sink, key, {**meta, "backend": "postgresql", "format": "pg_dump custom"}
        )
        dump.wait()
        errors.seek(0)
        said = errors.read().decode(errors="replace")
    if dump.returncode != 0:
        raise RegistryBackupToolFailed(tool="pg_dump", reason=said.strip()[-500:])


def _seal_sqlite(
    url: str, sink: IO[bytes], key: sealed.SealingKey | None, meta: dict[str, Any]
) -> None:
    source = sqlite3.connect(url.removeprefix(SQLITE_SCHEME))
    target = sqlite3.connect(":memory:")  # the demo's copy stays in memory: no plain file
    try:
        source.backup(target)  # the online backup API: a consistent copy while it runs
        data = target.serialize()
    finally:
        source.close()
        target.close()
    sealed.seal(io.BytesIO(data), sink, key, {**meta, "backend": "sqlite", "format": "sqlite3"})


def _opened(
    backup: Path, staging: Path, key_file: Path | None, passphrase: str | None
) -> dict[str, Any]:
    """Open and check the whole file into `staging`; its header."""
    try:
        with backup.open("rb") as source, staging.open("wb") as out:
            header = sealed.unseal(
                source, out, lambda kdf: sealed.key_for_header(kdf, key_file, passphrase)
            )
    except (sealed.SealError, OSError) as exc:
        raise RegistryBackupUnreadable(reason=str(exc)) from exc
    if header.get("content") != CONTENT:
        raise RegistryBackupUnreadable(reason=f"not a registry backup: {header.get('content')!r}")
    return header


def _holds_registry(url: str) -> bool:
    database = open_database(url)
    if url.startswith(SQLITE_SCHEME):
        found = database.scalar("SELECT name FROM sqlite_master WHERE name = 'national_identities'")
    else:
        found = database.scalar("SELECT to_regclass('public.national_identities')::text")
    return found is not None


def restore_backup(
    backup: Path, url: str, key_file: Path | None, passphrase: str | None
) -> RestoreSummary:
    """Load a backup into an empty database at `url` (created if missing), all or nothing."""
    with tempfile.TemporaryDirectory() as scratch:
        staging = Path(scratch) / "opened"
        header = _opened(backup, staging, key_file, passphrase)
        backend = str(header.get("backend"))
        if (backend == "sqlite") != url.startswith(SQLITE_SCHEME):
            raise RegistryBackupUnreadable(
                reason=f"a {backend} backup cannot be restored into {url.split(':', maxsplit=1)[0]}"
            )
        ensure_database(url)
        if _holds_registry(url):
            raise RegistryRestoreNotEmpty(database_url=_without_password(url))
        if backend == "sqlite":
            shutil.copyfile(staging, url.removeprefix(SQLITE_SCHEME))
        else:
            _pg_restore(staging, url)
    return RestoreSummary(str(header.get("created_at")), backend, _without_password(url))


def _pg_restore(dump: Path, url: str) -> None:
    conninfo, env = _libpq(url)
    command = [_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
               "--single-transaction", "--dbname", conninfo, str(dump)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RegistryBackupToolFailed(tool="pg_restore", reason=done.stderr.strip()[-500:])


def _without_password(url: str) -> str:
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    return f"{scheme}://{credentials.split(':', 1)[0]}@{host}"


def read_header(backup: Path) -> dict[str, Any]:
    """The readable header of a backup (no key needed): what it is and when it was made."""
    with backup.open("rb") as source:
        try:
            return sealed.read_header(source)[0]
        except sealed.SealError as exc:
            raise RegistryBackupUnreadable(reason=str(exc)) from exc
