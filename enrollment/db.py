"""The site database: SQLite in WAL mode, versioned migrations applied on start, one transaction
per use case.

WAL lets other processes (the camera loop, the sync agent, the CLI) read while the service
writes; inside one process a single connection behind a lock serialises everything, which on a
2-core box costs little and keeps transactions simple. `synchronous=FULL` makes a committed
enrolment survive a power cut (the gate box has no UPS guarantee). A write transaction starts with
BEGIN IMMEDIATE so two writers queue on the busy timeout instead of failing half-way.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from kernel.errors import GerbangError, Message

BUSY_TIMEOUT_MS = 10_000
_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


class StorageError(GerbangError):
    code = "storage_failed"
    status = 503
    message = Message(
        "Basis data situs tidak dapat diakses. Coba lagi atau hubungi admin situs.",
        "The site database cannot be reached. Try again or call the site administrator.",
    )


def migrations() -> list[tuple[int, str]]:
    """(version, SQL) of every migration shipped with the package, in order."""
    folder = resources.files("enrollment") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    return sorted(found)


def _private_files(path: Path) -> None:
    """The data folder 0700 and the database 0600 from its first byte: SQLite gives its -wal and
    -shm files the database file's mode, so creating the file first covers them too."""
    folder = path.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if folder.stat().st_uid == os.getuid():
        folder.chmod(0o700)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if name.exists() and name.stat().st_uid == os.getuid():
            name.chmod(0o600)


class Database:
    """One SQLite file, one connection guarded by a lock (SQLite serialises writers anyway)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        _private_files(path)
        try:
            self._connection = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StorageError(reason=f"cannot open {path}: {exc}") from exc
        self._connection.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        # secure_delete: deleted rows and erased biometrics are overwritten, not left in free pages.
        pragmas = ("secure_delete=ON", "journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON")
        for pragma in pragmas:
            self._connection.execute(f"PRAGMA {pragma}")
        self.migrate()

    def migrate(self) -> list[int]:
        """Apply every migration not yet applied, each in its own transaction; return them."""
        with self._lock:
            self._connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            done = {
                row[0] for row in self._connection.execute("SELECT version FROM schema_migrations")
            }
            applied = []
            for version, sql in migrations():
                if version not in done:
                    self._apply(version, sql)
                    applied.append(version)
            return applied

    def _apply(self, version: int, sql: str) -> None:
        # executescript commits implicitly, so the script carries its own BEGIN/COMMIT.
        script = f"BEGIN IMMEDIATE;\n{sql}\nINSERT INTO schema_migrations VALUES ({version}, datetime('now'));\nCOMMIT;"
        try:
            self._connection.executescript(script)
        except sqlite3.Error as exc:
            if self._connection.in_transaction:
                self._connection.execute("ROLLBACK")
            raise StorageError(reason=f"migration {version} failed: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: everything inside commits together or not at all."""
        with self._lock:
            try:
                self._connection.execute("BEGIN IMMEDIATE")
                yield self._connection
                self._connection.execute("COMMIT")
            except BaseException:
                if self._connection.in_transaction:
                    self._connection.execute("ROLLBACK")
                raise

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A consistent read (a deferred transaction sees one snapshot)."""
        with self._lock:
            self._connection.execute("BEGIN")
            try:
                yield self._connection
            finally:
                self._connection.execute("COMMIT")

    def query(self, sql: str, args: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        """Rows of one statement, inside whatever transaction this thread has open (or none)."""
        with self._lock:
            return self._connection.execute(sql, args).fetchall()

    def checkpoint(self) -> bool:
        """Move the WAL into the database and empty it; False if a reader elsewhere held it back.

        After an erasure the WAL still holds the pages as they were before it, so the erased
        (sealed) values stay in the -wal file until a checkpoint rewrites them away.
        """
        with self._lock:
            busy = self._connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        return busy == 0

    def close(self) -> None:
        """Close the connection (checkpointing the WAL)."""
        with self._lock:
            self._connection.close()
