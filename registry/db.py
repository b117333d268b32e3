"""The registry database seam: PostgreSQL in production, SQLite for a one-machine demo.

`open_database(url)` picks the backend from the URL's scheme (`postgresql://` or `sqlite:///`).
Both hand out connections with one small interface: `execute(sql, params)` with `%s` placeholders,
returning dict rows (`fetchone`, `fetchall`, iteration). The registry's SQL is written once, in a
subset both understand; the SQLite backend translates the few PostgreSQL spellings it keeps
(`= ANY(%s)`, `FOR UPDATE`, `::` casts, `now()`), see `db_sqlite.py`.

Things one backend does and the other cannot express in SQL go through a function here:
`serialise` (an advisory lock on PostgreSQL; SQLite already runs one writer at a time).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol

import psycopg

SQLITE_SCHEME = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")

# A unique or primary key refused an insert, whichever backend said so.
DUPLICATE_KEY_ERRORS: tuple[type[Exception], ...] = (
    psycopg.errors.UniqueViolation,
    sqlite3.IntegrityError,
)


class Rows(Protocol):
    """What `execute` returns: dict rows, fetched or iterated, and how many rows it changed."""

    rowcount: int

    def fetchone(self) -> dict[str, Any] | None: ...

    def fetchall(self) -> list[dict[str, Any]]: ...

    def __iter__(self) -> Iterator[dict[str, Any]]: ...


class Connection(Protocol):
    """One transaction's connection, as every registry module uses it."""

    def execute(self, query: Any, params: Any = None) -> Any: ...


class RegistryDatabase(Protocol):
    """Transactions on the registry's database, whichever backend holds it."""

    url: str

    def transaction(self) -> AbstractContextManager[Any]:
        """Everything inside commits together or not at all."""
        ...

    def migrate(self) -> list[int]:
        """Apply every migration not yet applied; return their versions."""
        ...

    def scalar(self, query: str, params: tuple[Any, ...] = ()) -> Any:
        """The first column of the first row of a read-only query (None if no row)."""
        ...


def open_database(url: str) -> RegistryDatabase:
    """The backend the URL names."""
    if url.startswith(SQLITE_SCHEME):
        from registry.db_sqlite import SqliteDatabase

        return SqliteDatabase(url)
    from registry.db_postgres import PostgresDatabase

    return PostgresDatabase(url)


def ensure_database(url: str) -> bool:
    """Create the URL's database if it is missing; True if it was created."""
    if url.startswith(SQLITE_SCHEME):
        from registry.db_sqlite import ensure_sqlite_file

        return ensure_sqlite_file(url)
    from registry.db_postgres import ensure_postgres_database

    return ensure_postgres_database(url)


def serialise(tx: Connection, key: int) -> None:
    """Hold a lock named by `key` until this transaction ends, so writers keep their order.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: nothing to do, every write
    transaction there begins IMMEDIATE and so already excludes every other writer.
    """
    if isinstance(tx, psycopg.Connection):
        tx.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
