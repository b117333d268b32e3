"""The registry on SQLite: the embedded default for a one-machine demo, never for a real network.

The registry's SQL is written for PostgreSQL in a small common subset; `translate` rewrites the
few spellings SQLite lacks, once per statement text:
- `%s` placeholders become `?` (and `%%` a literal `%`);
- `col = ANY(%s)` becomes `col IN (SELECT value FROM json_each(?))`, the list sent as JSON;
- `FOR UPDATE [SKIP LOCKED]` goes: every transaction here begins IMMEDIATE, so it already holds
  the only write lock there is, which is stronger than a row lock;
- `::type` casts go (SQLite compares by value);
- `now()` becomes a UTC ISO 8601 timestamp with milliseconds, the same text every timestamp
  column holds, so timestamps compare correctly as text.

Values come back as PostgreSQL's driver returns them: the declared column types UUID,
TIMESTAMPTZ, JSONB and BOOLEAN are converted (uuid.UUID, datetime, dict/list, bool).
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from psycopg.types.json import Jsonb

from registry.db import SQLITE_SCHEME
from registry.db_postgres import migrations
from registry.errors import RegistryStorageError

BUSY_TIMEOUT_S = 30.0
NOW_SQL = "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')"
_UNAVAILABLE = ("database is locked", "unable to open", "disk i/o error", "readonly database")

sqlite3.register_converter("UUID", lambda raw: uuid.UUID(raw.decode()))
sqlite3.register_converter("TIMESTAMPTZ", lambda raw: datetime.fromisoformat(raw.decode()))
sqlite3.register_converter("JSONB", json.loads)
sqlite3.register_converter("BOOLEAN", lambda raw: raw not in (b"0", b""))


def timestamp_text(value: datetime) -> str:
    """A datetime as the text `now()` writes: UTC, milliseconds, explicit offset."""
    utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+00:00"


@lru_cache(maxsize=512)
def translate(query: str) -> str:
    """The registry's PostgreSQL-flavoured statement in SQLite's spelling."""
    query = re.sub(r"\s+FOR UPDATE(\s+SKIP LOCKED)?", "", query)
    query = re.sub(r"::\w+(\[\])?", "", query)
    query = re.sub(r"=\s*ANY\(\s*%s\s*\)", "IN (SELECT value FROM json_each(%s))", query)
    query = query.replace("%s", "?").replace("%%", "%")
    return re.sub(r"\bnow\(\)", NOW_SQL, query)


def _value(value: Any) -> Any:
    """A parameter as SQLite stores it."""
    if isinstance(value, Jsonb):
        return json.dumps(value.obj)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return timestamp_text(value)
    if isinstance(value, list | tuple):  # only ever the right side of `= ANY(%s)`
        return json.dumps([str(v) if isinstance(v, uuid.UUID) else v for v in value])
    return value


class _Rows:
    """Every row of a statement, fetched at once (a pending RETURNING would block the commit)."""

    def __init__(self, rows: list[dict[str, Any]], rowcount: int = -1) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount  # rows changed by an INSERT, UPDATE or DELETE, as in psycopg

    def fetchone(self) -> dict[str, Any] | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[dict[str, Any]]:
        rest, self._next = self._rows[self._next :], len(self._rows)
        return rest

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.fetchall())


class SqliteConnection:
    """One transaction's connection, speaking the registry's SQL."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw

    def execute(self, query: str | bytes, params: Sequence[Any] | None = None) -> _Rows:
        text = query.decode() if isinstance(query, bytes) else query
        try:
            cursor = self.raw.execute(translate(text), [_value(p) for p in params or ()])
        except sqlite3.OperationalError as exc:
            raise _storage_error(exc) from exc
        if cursor.description is None:
            return _Rows([], cursor.rowcount)
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        return _Rows(rows, cursor.rowcount)


def statements(script: str) -> Iterator[str]:
    """The statements of a migration script, one by one (triggers' inner `;` included)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    if pending.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in pending.splitlines()
    ):
        raise ValueError(f"unfinished statement at the end of a migration: {pending.strip()[:80]}")


def _storage_error(exc: sqlite3.OperationalError) -> Exception:
    """RegistryStorageError when the file cannot be used; anything else is a bug, kept as is."""
    if any(sign in str(exc).lower() for sign in _UNAVAILABLE):
        return RegistryStorageError(reason=str(exc))
    return exc


def sqlite_path(url: str) -> Path:
    """`sqlite:///var/registry.db` → var/registry.db; `sqlite:////srv/r.db` → /srv/r.db."""
    path = url[len(SQLITE_SCHEME) :]
    if not path:
        raise RegistryStorageError(reason="the database URL names no file")
    return Path(path)


def ensure_sqlite_file(url: str) -> bool:
    """Create the database file (and its folder) in WAL mode; True if it was new."""
    path = sqlite_path(url)
    created = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    with _closing(_connect(path)) as raw:
        raw.execute("PRAGMA journal_mode = WAL")
    return created


def _connect(path: Path) -> sqlite3.Connection:
    try:
        raw = sqlite3.connect(
            path,
            timeout=BUSY_TIMEOUT_S,
            detect_types=sqlite3.PARSE_DECLTYPES,
            isolation_level=None,  # transactions are begun and ended here, explicitly
            check_same_thread=False,
        )
        raw.execute("PRAGMA foreign_keys = ON")
        raw.execute("PRAGMA synchronous = FULL")  # an acknowledged batch survives a power cut
    except sqlite3.OperationalError as exc:
        raise _storage_error(exc) from exc
    return raw


@contextmanager
def _closing(raw: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    try:
        yield raw
    finally:
        raw.close()


class SqliteDatabase:
    """Transactions on a registry kept in one SQLite file."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = sqlite_path(url)

    @contextmanager
    def transaction(self) -> Iterator[SqliteConnection]:
        """Everything inside commits together or not at all; one writer at a time."""
        with _closing(_connect(self.path)) as raw:
            try:
                raw.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise _storage_error(exc) from exc
            try:
                yield SqliteConnection(raw)
                raw.execute("COMMIT")
            except BaseException:
                if raw.in_transaction:
                    raw.execute("ROLLBACK")
                raise

    def migrate(self) -> list[int]:
        """Apply every SQLite migration not yet applied, each in its own transaction."""
        ensure_sqlite_file(self.url)
        applied = []
        for version, script in migrations("sqlite"):
            with self.transaction() as tx:  # IMMEDIATE: a second process waits, then sees it done
                tx.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                    f" applied_at TIMESTAMPTZ NOT NULL DEFAULT ({NOW_SQL}))"
                )
                if tx.execute(
                    "SELECT 1 FROM schema_migrations WHERE version = %s", (version,)
                ).fetchone():
                    continue
                for statement in statements(script):
                    tx.raw.execute(statement)  # as written: the twins are SQLite already
                tx.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
                applied.append(version)
        return applied

    def scalar(self, query: str, params: tuple[Any, ...] = ()) -> Any:
        """The first column of the first row of a read-only query (None if no row)."""
        with self.transaction() as tx:
            row = tx.execute(query, params).fetchone()
        return None if row is None else next(iter(row.values()))
