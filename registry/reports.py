"""The daily consolidation report: per site what it did (enrolments by role, visits, alarms,
denials by reason: registry/activity.py), what arrived, what is pending, what failed and why,
and when it was last heard from, and the changes it withheld after they were refused here (an
alarm until the site resolves them). A regional (Kanwil) monitor gets only its own region's sites.

Contact (`sites.last_contact`) is a request the site proved with an accepted key: an applied
batch or a pull. A site whose every key is revoked, or whose requests were refused (401) since
its last contact, cannot be in touch, however recent that contact: its report says so in
`access_refused` (why, since when, how many refused batches) instead of waiting a day to call
it silent.
"""

from __future__ import annotations

import ast
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from registry.activity import site_activity
from registry.db import Connection

RECENT_PROBLEMS = 5  # failures listed per site; the counts cover them all


def site_reports(
    tx: Connection,
    region: str | None,
    period: timedelta,
    silent_after: timedelta,
    site_id: str | None = None,
) -> list[dict[str, Any]]:
    """One report per site of a region (None: every region), optionally only one site."""
    now = datetime.now(UTC)  # cutoffs are computed here: interval arithmetic differs per backend
    sites = tx.execute(
        "SELECT id, name, region, last_seq, last_contact,"
        " (last_contact IS NULL OR last_contact < %s) AS silent FROM sites"
        " WHERE (%s::text IS NULL OR region = %s) AND (%s::text IS NULL OR id = %s)"
        " ORDER BY region, id",
        (now - silent_after, region, region, site_id, site_id),
    ).fetchall()
    ids = [s["id"] for s in sites]
    since = now - period
    arrived, refused = _arrivals(tx, ids, since), _refusals(tx, ids, since)
    quarantined, cases = _quarantined(tx, ids, since), _pending_cases(tx, ids)
    withheld, activity = _withheld(tx, ids), site_activity(tx, ids, since)
    access = _access_refused(tx, ids)
    return [
        {**site, "last_contact": site["last_contact"] and site["last_contact"].isoformat(),
         "silent": bool(site["silent"]),
         "arrived": arrived.get(site["id"], {}), "refused": refused.get(site["id"], []),
         "quarantined": quarantined.get(site["id"], {"count": 0, "recent": []}),
         "pending_cases": cases.get(site["id"], 0), "withheld": withheld.get(site["id"], []),
         "access_refused": access.get(site["id"]),
         "activity": activity[site["id"]].as_json()}
        for site in sites
    ]  # fmt: skip


def _arrivals(tx: Connection, ids: list[str], since: datetime) -> dict[str, dict[str, Any]]:
    """site → {kind: {outcome: count}} of the changes applied in the period."""
    rows = tx.execute(
        "SELECT site_id, kind, outcome, count(*) AS n FROM applied_changes"
        " WHERE site_id = ANY(%s) AND applied_at > %s GROUP BY 1, 2, 3",
        (ids, since),
    ).fetchall()
    out: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        out[r["site_id"]][r["kind"]][r["outcome"]] = r["n"]
    return {site: dict(kinds) for site, kinds in out.items()}


def _refusals(tx: Connection, ids: list[str], since: datetime) -> dict[str, list[dict[str, Any]]]:
    """site → its latest changes that were refused or ignored, with the reason."""
    rows = tx.execute(
        "SELECT site_id, seq, kind, outcome, note FROM ("
        "  SELECT *, row_number() OVER (PARTITION BY site_id ORDER BY seq DESC) AS rank"
        "  FROM applied_changes WHERE site_id = ANY(%s) AND outcome <> 'applied'"
        "  AND applied_at > %s) recent WHERE rank <= %s ORDER BY site_id, seq DESC",
        (ids, since, RECENT_PROBLEMS),
    ).fetchall()
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        out[r.pop("site_id")].append(r)
    return out


def _quarantined(tx: Connection, ids: list[str], since: datetime) -> dict[str, dict[str, Any]]:
    """site → {count, recent: [{received_at, reason, detail}]} of batches refused in the period."""
    rows = tx.execute(
        "SELECT site_id, received_at, reason, detail FROM quarantine"
        " WHERE site_id = ANY(%s) AND received_at > %s ORDER BY received_at DESC",
        (ids, since),
    ).fetchall()
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        entry = out.setdefault(r["site_id"], {"count": 0, "recent": []})
        entry["count"] += 1
        if len(entry["recent"]) < RECENT_PROBLEMS:
            entry["recent"].append({**r, "received_at": r["received_at"].isoformat()})
            del entry["recent"][-1]["site_id"]
    return out


def _withheld(tx: Connection, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """site → the changes it set aside (refused here one by one) that no officer resolved yet.

    Whatever their age: each stays an alarm until the site sends `sync.withheld_resolved`.
    """
    rows = tx.execute(
        "SELECT site_id, seq, kind, entity_id, payload, created_at FROM site_events"
        " WHERE site_id = ANY(%s) AND kind IN ('sync.withheld', 'sync.withheld_resolved')"
        " ORDER BY site_id, seq",
        (ids,),
    ).fetchall()
    open_: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    for r in rows:
        payload = r["payload"] if isinstance(r["payload"], dict) else json.loads(r["payload"])
        if r["kind"] == "sync.withheld":
            open_[r["site_id"]][r["seq"]] = {"seq": r["seq"], "entity_id": r["entity_id"],
                                             "created_at": r["created_at"], **payload}  # fmt: skip
        else:
            open_[r["site_id"]].pop(int(payload.get("withheld_seq") or 0), None)
    return {site: list(by_seq.values()) for site, by_seq in open_.items() if by_seq}


def _access_refused(tx: Connection, ids: list[str]) -> dict[str, dict[str, Any]]:
    """site → {reason, since, refused_batches} when the registry refuses it now: no key of it
    is current (revoked), or its batches were refused as unauthenticated after its last contact.

    A refused batch may come from anyone naming the site (a bad signature proves nothing), but
    the site's own next pull or push is contact and ends it; one whose key was revoked proved it
    held that key.
    """
    keys: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in tx.execute(
        "SELECT site_id, retired_at, revoked_at FROM site_keys WHERE site_id = ANY(%s)", (ids,)
    ).fetchall():
        keys[row["site_id"]].append(row)
    out: dict[str, dict[str, Any]] = {}
    for site_id, rows in keys.items():
        if all(r["retired_at"] is not None or r["revoked_at"] is not None for r in rows):
            revoked = [r["revoked_at"] for r in rows if r["revoked_at"] is not None]
            out[site_id] = {"reason": "key revoked" if revoked else "no current key",
                            "since": _iso(max(revoked)) if revoked else None, "refused_batches": 0}  # fmt: skip
    refused = tx.execute(  # per site: the latest refusal since its last contact, the first, how many
        "SELECT site_id, detail, first, n FROM ("
        "  SELECT q.site_id, q.detail, min(q.received_at) OVER (PARTITION BY q.site_id) AS first,"
        "  count(*) OVER (PARTITION BY q.site_id) AS n, row_number() OVER (PARTITION BY q.site_id"
        "  ORDER BY q.received_at DESC, q.id DESC) AS rank FROM quarantine q"
        "  JOIN sites s ON s.id = q.site_id WHERE q.site_id = ANY(%s)"
        "  AND q.reason = 'sync_unauthenticated'"
        "  AND (s.last_contact IS NULL OR q.received_at > s.last_contact)) latest WHERE rank = 1",
        (ids,),
    ).fetchall()
    for row in refused:
        entry = out.setdefault(
            row["site_id"], {"reason": _reason(row["detail"]), "since": _iso(row["first"])}
        )
        entry["refused_batches"] = int(row["n"])
    return out


def _reason(detail: str | None) -> str:
    """The reason in a refusal's stored details (the error's details as Python wrote them)."""
    try:
        details = ast.literal_eval(detail or "")
    except (ValueError, SyntaxError):
        return str(detail or "")[:200]
    return str(details.get("reason") if isinstance(details, dict) else details)[:200]


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _pending_cases(tx: Connection, ids: list[str]) -> dict[str, int]:
    """site → open duplicate cases involving someone it holds."""
    rows = tx.execute(
        "SELECT h.site_id, count(DISTINCT c.id) AS n FROM duplicate_cases c"
        " JOIN identity_holders h ON h.identity_id IN (c.identity_a, c.identity_b)"
        " WHERE c.state = 'open' AND h.site_id = ANY(%s) GROUP BY 1",
        (ids,),
    ).fetchall()
    return {r["site_id"]: r["n"] for r in rows}
