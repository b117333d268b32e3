"""The site's unit of work with the gate tables added: what gate use cases and queries open."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from edge.gate.records import GateStore
from enrollment.db import Database
from enrollment.unit_of_work import UnitOfWork
from enrollment.vault import PlainVault, Vault


class GateUnitOfWork(UnitOfWork):
    """Identities, captures, accounts and gates, in one transaction."""

    def __init__(self, connection: sqlite3.Connection, vault: Vault) -> None:
        super().__init__(connection, vault)
        self.gates = GateStore(connection)


@contextmanager
def gate_work(db: Database, vault: Vault | None = None) -> Iterator[GateUnitOfWork]:
    """A write transaction over the site's and the gate's stores."""
    with db.transaction() as tx:
        yield GateUnitOfWork(tx, vault or PlainVault())


@contextmanager
def gate_reading(db: Database, vault: Vault | None = None) -> Iterator[GateUnitOfWork]:
    """One consistent snapshot of the site's and the gate's stores."""
    with db.reading() as tx:
        yield GateUnitOfWork(tx, vault or PlainVault())
