"""A unit of work at the site: one SQLite transaction and the stores a use case needs inside it.

A use case opens one (`with unit_of_work(db, vault) as uow:`), reads and writes through
`uow.identities`, `uow.captures`, `uow.accounts`, and records what it changed with
`uow.record(...)`: the outbox row the registry will receive and the audit event an inspector
will read, written together, so one never exists without the other. Everything commits when the
block ends, or nothing does. `reading(db, vault)` is the same over one consistent snapshot.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from enrollment.accounts import AccountStore
from enrollment.audit import append_event
from enrollment.captures import CaptureStore
from enrollment.db import Database
from enrollment.repository import IdentityRepository
from enrollment.vault import PlainVault, Vault, seal_payload
from gallery_sync.outbox import append_change


class UnitOfWork:
    """The stores of one transaction, and the one way to record a change in outbox and audit."""

    def __init__(self, connection: sqlite3.Connection, vault: Vault) -> None:
        self.connection = connection
        self.vault = vault
        self.identities = IdentityRepository(connection, vault)
        self.captures = CaptureStore(connection, vault)
        self.accounts = AccountStore(connection)

    def record(
        self,
        kind: str,
        entity_id: str,
        payload: dict[str, Any],
        actor: str,
        details: dict[str, Any],
        action: str | None = None,
        subject: str | None = None,
    ) -> int:
        """A change for the registry (outbox) and its audit event; return the outbox sequence.

        The event's action defaults to the change's kind, its subject to the changed entity.
        """
        # Biometric fields (templates, ISO records, photos) wait sealed under the site's data key.
        sealed = seal_payload(self.vault, kind, entity_id, payload)
        seq = append_change(self.connection, kind, entity_id, sealed)
        append_event(self.connection, actor, action or kind, subject or entity_id, details)
        return seq

    def audit(self, actor: str, action: str, subject: str, details: dict[str, Any]) -> str:
        """An audit event for a change that stays at the site (nothing for the registry)."""
        return append_event(self.connection, actor, action, subject, details)


@contextmanager
def unit_of_work(db: Database, vault: Vault | None = None) -> Iterator[UnitOfWork]:
    """A write transaction: everything done through the unit commits together or not at all."""
    with db.transaction() as tx:
        yield UnitOfWork(tx, vault or PlainVault())


@contextmanager
def reading(db: Database, vault: Vault | None = None) -> Iterator[UnitOfWork]:
    """A consistent read over one snapshot (writing through it is a mistake SQLite allows)."""
    with db.reading() as tx:
        yield UnitOfWork(tx, vault or PlainVault())
