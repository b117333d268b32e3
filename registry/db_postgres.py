"""The registry on PostgreSQL through psycopg 3: the production backend.

One connection per unit of work: simple and correct first (a pool is an optimisation for later).
Every migration runs in its own transaction under an advisory lock, so two registry processes
starting together apply each migration once. psycopg errors that mean "the database is not
there" become `RegistryStorageError` (503) where they happen.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import DictRow, dict_row

from registry.errors import RegistryStorageError

PgConnection = psycopg.Connection[DictRow]
CONNECT_TIMEOUT_S = 5
_MIGRATION_LOCK = 0x6765_7262_6E67  # "gerbng": any constant shared by every registry process
_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def migrations(dialect: str = "") -> list[tuple[int, str]]:
    """(version, SQL) of every migration shipped for a backend, in order.

    PostgreSQL's live in `migrations/`, SQLite's twins (same versions) in `migrations/sqlite/`.
    """
    folder = resources.files("registry") / "migrations"
    if dialect:
        folder = folder / dialect
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    return sorted(found)


def _connect(url: str, autocommit: bool = False) -> PgConnection:
    """A new connection, or RegistryStorageError saying why there is none."""
    try:
        return psycopg.connect(
            url, row_factory=dict_row, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT_S
        )
    except psycopg.OperationalError as exc:
        raise RegistryStorageError(reason=f"cannot connect: {exc}".strip()) from exc


def ensure_postgres_database(url: str) -> bool:
    """Create the URL's database on its server if it is missing; True if it was created."""
    params = conninfo_to_dict(url)
    name = str(params.get("dbname") or "")
    if not name:
        raise RegistryStorageError(reason="the database URL names no database")
    with _connect(make_conninfo(url, dbname="postgres"), autocommit=True) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


class PostgresDatabase:
    """Transactions on the registry's PostgreSQL database."""

    def __init__(self, url: str) -> None:
        self.url = url

    @contextmanager
    def transaction(self) -> Iterator[PgConnection]:
        """Everything inside commits together or not at all."""
        connection = _connect(self.url)
        try:
            with connection:  # psycopg: commit on success, roll back on exception, then close
                yield connection
        except psycopg.OperationalError as exc:
            raise RegistryStorageError(reason=str(exc).strip()) from exc

    def migrate(self) -> list[int]:
        """Apply every migration not yet applied, each in its own transaction; return them."""
        applied = []
        for version, script in migrations():
            with self.transaction() as tx:
                tx.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                tx.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations"
                    " (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
                )
                if tx.execute(
                    "SELECT 1 FROM schema_migrations WHERE version = %s", (version,)
                ).fetchone():
                    continue
                tx.execute(script.encode())  # no parameters: several statements are allowed
                tx.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
                applied.append(version)
        return applied

    def scalar(self, query: str, params: tuple[Any, ...] = ()) -> Any:
        """The first column of the first row of a read-only query (None if no row)."""
        with self.transaction() as tx:
            row = tx.execute(query.encode(), params).fetchone()
        return None if row is None else next(iter(row.values()))
