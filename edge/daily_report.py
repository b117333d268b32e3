"""`gerbang report [--hours 24] [--json]`: the site's own daily report, in the words the registry's
report uses (gallery_sync/daily_activity.py): enrolments by role, visits, alarms raised, cleared
and still open, denials by reason, and how its sync stands (with what stopped it). Read from the
site database, so it works with the link down; counted by when things happened at this site.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

from edge.settings import site_settings
from edge.site import Site
from edge.sync_text import problem_lines, unsent
from gallery_sync.daily_activity import DailyActivity, activity_lines
from site_sync.state import summary


def site_activity(tx: sqlite3.Connection, since: str) -> DailyActivity:
    """What happened here after `since` (ISO UTC); open alarms whenever raised."""
    activity = DailyActivity()
    for role, n in tx.execute(
        "SELECT role, COUNT(*) FROM identities WHERE created_at > ? GROUP BY role", (since,)
    ):
        activity.enrolled[role] = n
    for passage, result, reason, n in tx.execute(
        "SELECT passage, result, reason, COUNT(*) FROM gate_events WHERE at > ? GROUP BY 1, 2, 3",
        (since,),
    ):
        activity.count_gate(passage, result, reason, n)
    activity.alarms_cleared = tx.execute(
        "SELECT COUNT(*) FROM gate_events WHERE result = 'alarm' AND alarm_cleared_at > ?", (since,)
    ).fetchone()[0]
    activity.alarms_open = tx.execute(
        "SELECT COUNT(*) FROM gate_events WHERE result = 'alarm' AND alarm_cleared_by IS NULL"
    ).fetchone()[0]
    return activity


def sync_lines(sync: dict[str, Any], registry_url: str | None) -> list[str]:
    """The sync backlog and its alarms (a conflict; the registry refusing this site, or out of
    reach for a while), in words."""
    indonesian, english = unsent(sync, registry_url)
    lines = [
        f"  Sinkronisasi / sync: {indonesian} / {english};"
        f" {len(sync['dead_letters'])} ditahan / withheld"
    ]
    if sync["alarm"]:
        lines.append("  ** Sinkronisasi berhenti: konflik, lihat `gerbang sync status` /"
                     " sync stopped on a conflict, see `gerbang sync status` **")  # fmt: skip
    return lines + problem_lines(sync)


def report(args: argparse.Namespace) -> int:
    """Print the site's report for the last `--hours` hours."""
    settings = site_settings()
    now = datetime.now(UTC)
    since = (now - timedelta(hours=args.hours)).isoformat(timespec="microseconds")
    site = Site(settings)
    try:
        with site.db.reading() as tx:
            activity = site_activity(tx, since)
        sync = summary(site.db)
    finally:
        site.close()
    if args.json:
        body = {"site_id": settings.site_id, "since": since, "until": now.isoformat(),
                "activity": activity.as_json(), "sync": sync}  # fmt: skip
        print(json.dumps(body, indent=2, default=str))
        return 0
    print(f"Laporan harian / daily report: {settings.site_id}, {now:%d/%m/%Y %H:%M %Z},"
          f" {args.hours} jam terakhir / last {args.hours} hours")  # fmt: skip
    print("\n".join(activity_lines(activity) + sync_lines(sync, settings.sync.registry_url)))
    return 0


MAX_HOURS = 24 * 31


def _hours(text: str) -> int:
    """A whole number of hours from 1 to a month (argparse's `choices` would print all 744)."""
    try:
        hours = int(text)
    except ValueError:
        hours = 0
    if not 1 <= hours <= MAX_HOURS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_HOURS}")
    return hours


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Attach `report` to the main parser."""
    command = sub.add_parser(
        "report", help="this site's daily report: enrolments, visits, alarms, denials, sync"
    )
    command.add_argument("--hours", type=_hours, default=24, metavar="1..744",
                         help="the period, in hours back from now (default 24)")  # fmt: skip
    command.add_argument("--json", action="store_true", help="the report as JSON, for machines")
    command.set_defaults(handler=report)
