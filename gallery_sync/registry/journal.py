"""What the registry tells sites (the change log) and what it did (the audit trail).

Sites pull the change log by a cursor on its global `seq`. A BIGSERIAL alone is not a safe
cursor: two transactions can take seqs 5 and 6, 6 commit first, a site read through 6 and never
see 5. Every writer therefore takes one transaction-scoped lock (`db.serialise`) before its
insert, so seqs commit in the order they were drawn. Central decisions are rare; the lock costs nothing.
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from gallery_sync.registry.db import Connection, serialise

_CHANGE_LOG_LOCK = 0x6765_7262_636C  # any constant; held until the writer's commit


def append_change(
    tx: Connection, target_site: str | None, kind: str, payload: dict[str, Any]
) -> int:
    """Queue a change for one site (or every site when target_site is None); return its seq."""
    serialise(tx, _CHANGE_LOG_LOCK)
    row = tx.execute(
        "INSERT INTO change_log (target_site, kind, payload) VALUES (%s, %s, %s) RETURNING seq",
        (target_site, kind, Jsonb(payload)),
    ).fetchone()
    assert row is not None
    return int(row["seq"])


def changes_after(tx: Connection, site_id: str, after: int, limit: int) -> list[dict[str, Any]]:
    """The changes for one site (its own and those for everyone) after a cursor, oldest first."""
    rows = tx.execute(
        "SELECT seq, kind, payload FROM change_log"
        " WHERE seq > %s AND (target_site = %s OR target_site IS NULL) ORDER BY seq LIMIT %s",
        (after, site_id, limit),
    ).fetchall()
    return [{"seq": r["seq"], "kind": r["kind"], "payload": r["payload"]} for r in rows]


def audit(tx: Connection, actor: str, action: str, subject: str, details: dict[str, Any]) -> None:
    """Append one event to the audit trail (the table refuses updates and deletes)."""
    tx.execute(
        "INSERT INTO audit (actor, action, subject, details) VALUES (%s, %s, %s, %s)",
        (actor, action, subject, Jsonb(details)),
    )
