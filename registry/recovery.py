"""What the registry holds for one site, handed back when the site's disk died.

A site rebuilt from its last backup lacks what it enrolled and pushed after that backup. The
registry has it: every person the site owns now (enrolled there or transferred in), with their
record as last pushed, their status and version, their face templates and finger records (as a
transfer carries them: registry/transfers.py), and the last outbox seq it applied from the site.
The site pulls these pages once (`gerbang recover`, site_sync/recovery.py), restores the people
it lacks, and moves its outbox sequence past that seq so nothing it writes next reuses a number
the registry already holds. Photos never travel; finger records do, without their images.

Central facts about the site's people (merges, transfers, the watchlist) are not here: they are in
the change log, which the restored site pulls again from its restored cursor.
"""

from __future__ import annotations

from typing import Any

from registry.db import Connection
from registry.journal import audit
from registry.transfers import fingers_payload, templates_payload

NO_ID = "00000000-0000-0000-0000-000000000000"  # sorts before every identity id


def holdings(
    tx: Connection, site_id: str, after: str | None, limit: int, vault: Any = None
) -> dict[str, Any]:
    """One page of the site's own people after an identity id, and the site's pushed cursor."""
    site = tx.execute("SELECT last_seq FROM sites WHERE id = %s", (site_id,)).fetchone()
    assert site is not None  # the caller authenticated the site
    rows = tx.execute(
        "SELECT id, status, version, record FROM national_identities"
        " WHERE site_id = %s AND id > %s::uuid ORDER BY id LIMIT %s",
        (site_id, after or NO_ID, limit),
    ).fetchall()
    people = [_person(tx, row, vault) for row in rows]
    next_after = str(rows[-1]["id"]) if len(rows) == limit else None
    audit(tx, site_id, "site.recovery_read", site_id, {"after": after, "people": len(people)})
    return {"last_seq": int(site["last_seq"]), "people": people, "next_after": next_after}


def _person(tx: Connection, row: Any, vault: Any) -> dict[str, Any]:
    """One person as recovery hands it back: an erased one without biometrics."""
    identity_id, kept = str(row["id"]), row["status"] != "erased"
    return {"identity": row["record"], "status": row["status"], "version": int(row["version"]),
            "templates": templates_payload(tx, identity_id, vault) if kept else [],
            "fingers": fingers_payload(tx, identity_id, vault) if kept else []}  # fmt: skip
