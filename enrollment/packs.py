"""The site's active model pack, and the guard that keeps a process still running an older pack
from enrolling with it after `gerbang reembed` switched the site to a new one.

Until a re-embed first switches it, the active pack is the configured one (`EDGE_PACK`); from
then on it is `site_state.active_pack`, which every process reads when it starts. A process
started before a switch keeps its engine: were it to go on enrolling, the new person would have
templates for the old pack only, and every process restarted on the new pack would not know
them (an inmate enrolled that morning could walk out without an alarm). So a capture or
template made with a pack other than the active one is refused inside the write transaction
that would store it (`pack_changed`, 503: restart the service), and the switch itself is
decided in one write transaction with the check that nothing is left to re-embed
(enrollment/reembed.py): an enrolment committed just before the switch is re-embedded, one
just after it is refused. Such a process keeps deciding at the gate on its old engine and
gallery, which hold everyone enrolled before the switch, until it is restarted; `/ready`
reports `pack_changed` meanwhile.

Whatever means "the pack in use" reads it here: the service (`active_pack`, on its open
database) and the commands that only look (`gerbang doctor`, `gerbang models list/verify/bundle`:
`active_pack_at`, which reads the database file without creating or migrating it).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from enrollment.db import Database
from kernel.errors import Message, Unavailable


class PackChanged(Unavailable):
    code = "pack_changed"
    message = Message(
        "Model wajah situs sudah diganti. Minta admin situs memulai ulang layanan, lalu ulangi.",
        "The site's face model has changed. Ask the site administrator to restart the"
        " service, then try again.",
    )

    @classmethod
    def since_start(cls, loaded: str, active: str) -> PackChanged:
        return cls(loaded_pack=loaded, active_pack=active, fix="restart the site service")


def switched_pack(tx: sqlite3.Connection) -> str | None:
    """The pack a re-embed switched the site to, or None if none ever did."""
    row = tx.execute("SELECT value FROM site_state WHERE key = 'active_pack'").fetchone()
    return str(row[0]) if row else None


def active_pack(db: Database, default: str) -> str:
    """The pack the site's gallery is built with (the configured one until a re-embed switches)."""
    with db.reading() as tx:
        return switched_pack(tx) or default


def active_pack_at(database: Path, default: str) -> str:
    """`active_pack` read from the database file, read-only: the configured pack while there is
    no database yet (a command that only looks must not create one) or no switch recorded."""
    if not database.is_file():
        return default
    try:
        connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    except sqlite3.Error:
        return default  # unreadable: `gerbang doctor`'s database check says so
    try:
        return switched_pack(connection) or default
    except sqlite3.Error:  # a database from before site_state, or not a database
        return default
    finally:
        connection.close()


def require_active(tx: sqlite3.Connection, pack_id: str) -> None:
    """Refuse, inside the caller's transaction, to store anything made with a pack the site has
    switched away from (one cheap read of a one-row table)."""
    active = switched_pack(tx)
    if active is not None and active != pack_id:
        raise PackChanged.since_start(pack_id, active)
