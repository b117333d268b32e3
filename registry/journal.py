"""What the registry tells sites (the change log) and what it did (the audit trail).

Sites pull the change log by a cursor on its global `seq`. A BIGSERIAL alone is not a safe
cursor: two transactions can take seqs 5 and 6, 6 commit first, a site read through 6 and never
see 5. Every writer therefore takes one transaction-scoped lock (`db.serialise`: an advisory
lock on PostgreSQL, SQLite's single writer) before its insert, so seqs commit in the order they
were drawn. Central decisions are rare; the lock costs nothing.

The audit trail is a hash chain (audit_chain.py): each event reads the newest hash and points to
it, so audit writers take the same lock, or two of them could point to the same event. One lock
for both means no lock-order deadlock between them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb

from registry.audit_chain import (
    canonical_details,
    chain_head,
    event_hash,
    time_text,
)
from registry.db import Connection, serialise

_JOURNAL_LOCK = 0x6765_7262_636C  # any constant; held until the writer's commit


def serialise_writers(tx: Connection) -> None:
    """Wait until no other transaction is writing the change log or the audit trail."""
    serialise(tx, _JOURNAL_LOCK)


def append_change(
    tx: Connection,
    target_site: str | None,
    kind: str,
    payload: dict[str, Any],
    vault: Any = None,
) -> int:
    """Queue a change for one site (or every site when target_site is None); return its seq.
    With the registry's vault, biometric fields wait sealed (opened by `changes_after`)."""
    serialise_writers(tx)
    if vault is not None:
        payload = vault.seal_payload(kind, target_site or "*", payload)
    row = tx.execute(
        "INSERT INTO change_log (target_site, kind, payload) VALUES (%s, %s, %s) RETURNING seq",
        (target_site, kind, Jsonb(payload)),
    ).fetchone()
    assert row is not None
    return int(row["seq"])


def changes_after(
    tx: Connection, site_id: str, after: int, limit: int, vault: Any = None
) -> list[dict[str, Any]]:
    """The changes for one site (its own and those for everyone) after a cursor, oldest first,
    their biometric fields opened."""
    rows = tx.execute(
        "SELECT seq, kind, payload, target_site FROM change_log"
        " WHERE seq > %s AND (target_site = %s OR target_site IS NULL) ORDER BY seq LIMIT %s",
        (after, site_id, limit),
    ).fetchall()

    def opened(r: dict[str, Any]) -> dict[str, Any]:
        payload = r["payload"]
        return vault.open_payload(r["kind"], r["target_site"] or "*", payload) if vault else payload

    return [{"seq": r["seq"], "kind": r["kind"], "payload": opened(r)} for r in rows]


def audit(tx: Connection, actor: str, action: str, subject: str, details: dict[str, Any]) -> str:
    """Append one event to the audit chain (the table refuses updates and deletes); its hash."""
    serialise_writers(tx)
    prev = chain_head(tx)
    now = datetime.now(UTC)  # to the millisecond: the precision both backends store and hash
    at = now.replace(microsecond=now.microsecond // 1000 * 1000)
    body = canonical_details(details)
    digest = event_hash(time_text(at), actor, action, subject, body, prev)
    tx.execute(
        "INSERT INTO audit (at, actor, action, subject, details, prev_hash, hash)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (at, actor, action, subject, Jsonb(json.loads(body)), prev, digest),
    )
    return digest
