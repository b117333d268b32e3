"""The national gallery's change feed: how every registry replica keeps its in-memory index
current with the writes the others commit, without rebuilding it.

A write that moves the gallery (a site's batch, a merge, a watchlist entry added or removed)
appends one row per person it touched, with the template ids that person gained, in its own
transaction. Writers take the journal's lock first (journal.serialise_writers), so feed seqs
commit in the order they were drawn: a replica that has applied everything up to seq N can
never later find a committed row below N (the change log's argument, journal.py).

Each replica keeps a cursor: `rows_after(cursor)` gives what it has not applied; it re-reads
each person's status and its new templates from the tables (`NationalGallery.follow`), so the
feed carries ids only and stays the same whatever columns the templates are stored in. Applying
a row twice changes nothing (templates already held are skipped), so a rebuild may start from
a cursor read just before its snapshot.
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from registry.db import Connection
from registry.journal import serialise_writers

FEED_BATCH = 5000  # rows applied per read: a replica back from a long pause catches up in steps


def record(tx: Connection, touched: dict[str, list[int]]) -> None:
    """Append one row per touched person (with the template ids it gained) to the feed."""
    if not touched:
        return
    serialise_writers(tx)
    for identity_id, template_ids in touched.items():
        tx.execute(
            "INSERT INTO gallery_feed (identity_id, template_ids) VALUES (%s, %s)",
            (identity_id, Jsonb([int(t) for t in template_ids])),
        )


def head(tx: Connection) -> int:
    """The newest seq committed (0 on an empty feed)."""
    row = tx.execute("SELECT COALESCE(max(seq), 0) AS head FROM gallery_feed").fetchone()
    return int(row["head"]) if row else 0


def rows_after(tx: Connection, cursor: int, limit: int = FEED_BATCH) -> list[dict[str, Any]]:
    """Feed rows after a cursor, oldest first: {seq, identity_id, template_ids}."""
    rows = tx.execute(
        "SELECT seq, identity_id, template_ids FROM gallery_feed WHERE seq > %s ORDER BY seq LIMIT %s",
        (cursor, limit),
    ).fetchall()
    return [
        {"seq": int(r["seq"]), "identity_id": str(r["identity_id"]),
         "template_ids": [int(t) for t in r["template_ids"]]}
        for r in rows
    ]  # fmt: skip


def touched_by(rows: list[dict[str, Any]]) -> dict[str, list[int]]:
    """The rows merged per person, in feed order: what `NationalGallery.follow` takes."""
    touched: dict[str, list[int]] = {}
    for row in rows:
        touched.setdefault(row["identity_id"], []).extend(row["template_ids"])
    return touched
