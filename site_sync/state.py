"""The agent's memory in the site database (`site_state`): cursors, the conflict alarm, what last
stopped pushing or pulling (site_sync.problems), and a summary for `gerbang sync status` (with
the changes set aside, site_sync.dead_letters).

Keeping it in the same SQLite file as the outbox and the records is what makes a pulled page and
its cursor commit together, and what lets a restarted agent resume exactly where it stopped.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict
from typing import Any

from enrollment.audit import append_event
from enrollment.db import Database
from site_sync import dead_letters

PUSHED = "sync.pushed_through"  # highest outbox seq the registry acknowledged
PULLED = "sync.pulled_through"  # highest registry change seq applied here
ALARM = "sync.alarm"  # JSON: a sync_conflict that stopped pushing, until cleared
PULL_ERROR = "sync.pull_error"  # JSON: the last pulled page that was refused, if any
PUSH_PROBLEM = "sync.push_problem"  # JSON: the registry refused pushes, or could not be reached
PULL_PROBLEM = "sync.pull_problem"  # JSON: the same for pulls (site_sync.problems)


def read(tx: sqlite3.Connection, key: str) -> str | None:
    """The stored value, or None."""
    row = tx.execute("SELECT value FROM site_state WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def read_int(tx: sqlite3.Connection, key: str) -> int:
    """A stored cursor (0 when never stored)."""
    value = read(tx, key)
    return int(value) if value is not None else 0


def read_json(tx: sqlite3.Connection, key: str) -> dict[str, Any] | None:
    """A stored JSON object, or None."""
    value = read(tx, key)
    return None if value is None else dict(json.loads(value))


def write(tx: sqlite3.Connection, key: str, value: int | str) -> None:
    """Store a value inside the caller's transaction."""
    tx.execute(
        "INSERT INTO site_state (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, str(value)),
    )


def forget(tx: sqlite3.Connection, key: str) -> None:
    """Remove a value inside the caller's transaction."""
    tx.execute("DELETE FROM site_state WHERE key = ?", (key,))


def clear_alarm(db: Database, actor: str, reason: str) -> dict[str, Any] | None:
    """Let pushing resume after a conflict was resolved centrally; audited. Return the alarm."""
    with db.transaction() as tx:
        alarm = read_json(tx, ALARM)
        if alarm is not None:
            forget(tx, ALARM)
            append_event(
                tx, actor, "sync.alarm_cleared", "sync", {"reason": reason, "alarm": alarm}
            )
    return alarm


def summary(db: Database) -> dict[str, Any]:
    """Cursors, backlog, alarms and what stopped each direction, for an officer or a probe."""
    with db.reading() as tx:
        pushed = read_int(tx, PUSHED)
        newest = tx.execute("SELECT IFNULL(MAX(seq), 0) FROM outbox").fetchone()[0]
        return {
            "pushed_through": pushed,
            "outbox_newest": int(newest),
            "waiting": int(newest) - pushed,
            "pulled_through": read_int(tx, PULLED),
            "alarm": read_json(tx, ALARM),
            "pull_error": read_json(tx, PULL_ERROR),
            "push_problem": read_json(tx, PUSH_PROBLEM),
            "pull_problem": read_json(tx, PULL_PROBLEM),
            "dead_letters": [asdict(d) for d in dead_letters.listed(tx)],
        }
