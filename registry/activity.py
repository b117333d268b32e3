"""What each site did in the report's period, from the changes it sent: people enrolled by role,
visits opened and closed, alarms raised, cleared and still open, and denials by reason.

Counted by when a change arrived here, not when it happened at the gate: a site offline for two
days reports its gate days on the day it comes back (the report says so).
"""

from __future__ import annotations

from datetime import datetime

from gallery_sync.daily_activity import DailyActivity
from registry.db import Connection


def site_activity(tx: Connection, ids: list[str], since: datetime) -> dict[str, DailyActivity]:
    """site → its activity for changes arrived after `since` (open alarms: whenever raised)."""
    out = {site: DailyActivity() for site in ids}
    for r in tx.execute(
        "SELECT a.site_id, n.role, count(*) AS n FROM applied_changes a"
        " JOIN national_identities n ON n.id::text = a.entity_id"
        " WHERE a.site_id = ANY(%s) AND a.kind = 'identity.enrolled' AND a.outcome = 'applied'"
        " AND a.applied_at > %s GROUP BY 1, 2",
        (ids, since),
    ).fetchall():
        out[r["site_id"]].enrolled[r["role"]] = r["n"]
    for r in tx.execute(
        "SELECT e.site_id, e.payload->>'passage' AS passage, e.payload->>'result' AS result,"
        " e.payload->>'reason' AS reason, count(*) AS n FROM site_events e"
        " JOIN applied_changes a ON a.site_id = e.site_id AND a.seq = e.seq"
        " WHERE e.site_id = ANY(%s) AND e.kind = 'gate.event' AND a.applied_at > %s"
        " GROUP BY 1, 2, 3, 4",
        (ids, since),
    ).fetchall():
        out[r["site_id"]].count_gate(r["passage"], r["result"], r["reason"], r["n"])
    for r in tx.execute(
        "SELECT e.site_id, count(*) AS n FROM site_events e"
        " JOIN applied_changes a ON a.site_id = e.site_id AND a.seq = e.seq"
        " WHERE e.site_id = ANY(%s) AND e.kind = 'gate.alarm_cleared' AND a.applied_at > %s"
        " GROUP BY 1",
        (ids, since),
    ).fetchall():
        out[r["site_id"]].alarms_cleared = r["n"]
    for r in tx.execute(
        "SELECT e.site_id, count(*) AS n FROM site_events e"
        " WHERE e.site_id = ANY(%s) AND e.kind = 'gate.event' AND e.payload->>'result' = 'alarm'"
        " AND NOT EXISTS (SELECT 1 FROM site_events c WHERE c.site_id = e.site_id"
        "   AND c.kind = 'gate.alarm_cleared' AND c.entity_id = e.entity_id)"
        " GROUP BY 1",
        (ids,),
    ).fetchall():
        out[r["site_id"]].alarms_open = r["n"]
    return out
