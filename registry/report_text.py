"""The daily consolidation report as text, for the console and a daily cron job: one line per site,
what arrived in the last 24 hours, what was refused or quarantined, open duplicate cases, and
when the site was last heard from. Sites silent for longer than the registry's limit stand out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

COLUMNS = ("site", "region", "last contact", "arrived", "refused", "quarantined", "withheld",
           "open cases")  # fmt: skip
SILENT_MARK = "SILENT / DIAM"


def _arrived(site: dict[str, Any]) -> int:
    """Changes applied in the period, every kind and outcome together."""
    return sum(sum(outcomes.values()) for outcomes in site["arrived"].values())


def _contact(site: dict[str, Any]) -> str:
    when = site["last_contact"]
    text = "never" if when is None else datetime.fromisoformat(when).strftime("%Y-%m-%d %H:%M %Z")
    return f"{text}  ** {SILENT_MARK} **" if site["silent"] else text


def report_lines(sites: list[dict[str, Any]], now: datetime, silent_hours: int) -> list[str]:
    """The report: a heading, an aligned table, and a count of silent sites."""
    rows = [
        (f"{s['id']} ({s['name']})", s["region"], _contact(s), str(_arrived(s)),
         str(len(s["refused"])), str(s["quarantined"]["count"]), str(len(s.get("withheld", []))),
         str(s["pending_cases"]))
        for s in sites
    ]  # fmt: skip
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(COLUMNS)]
    table = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (COLUMNS, *rows)
    ]
    silent = sum(1 for s in sites if s["silent"])
    return [
        f"Laporan konsolidasi harian / daily consolidation report, {now:%Y-%m-%d %H:%M %Z},"
        " last 24 hours",
        "",
        *table,
        "",
        f"{len(sites)} sites; {silent} silent for more than {silent_hours} hours",
    ]
