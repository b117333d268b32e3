"""The daily report as text, for the console and a daily cron job, in words an officer reads:
per site what it did (enrolments by role, visits, alarms, denials by reason) and how its sync
stands (last contact, refused by the registry, silent or in touch; changes received and refused,
quarantined batches, withheld changes, open duplicate cases), then a summary naming the silent
sites and those the registry refuses. Indonesian first, then English.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gallery_sync.daily_activity import DailyActivity, activity_lines, total

SILENT_MARK = "DIAM / SILENT"
REFUSED_MARK = "DITOLAK / REFUSED"


def _activity(site: dict[str, Any]) -> DailyActivity:
    """The site's activity back from its JSON form."""
    a = site["activity"]
    return DailyActivity(
        enrolled=dict(a["enrolled"]), visits_in=a["visits_in"], visits_out=a["visits_out"],
        alarms_raised=a["alarms_raised"], alarms_cleared=a["alarms_cleared"],
        alarms_open=a["alarms_open"], denials={d["reason"]: d["count"] for d in a["denials"]},
    )  # fmt: skip


def _when(iso: str | None) -> str:
    return (
        "belum pernah / never"
        if iso is None
        else f"{datetime.fromisoformat(iso):%d/%m/%Y %H:%M %Z}"
    )


def _state(site: dict[str, Any], silent_hours: int) -> list[str]:
    """Refused (with what to do), silent, or in touch: after the last contact, on one line."""
    if refused := site.get("access_refused"):
        since = _when(refused["since"]) if refused.get("since") else "-"
        fix_id, fix_en = (("buat kunci baru di UPT (`gerbang sync keygen --new`), lalu",
                           "the site makes a new key (`gerbang sync keygen --new`), then")
                          if refused["reason"] in ("key revoked", "no current key") else
                          ("kunci UPT ditampilkan dengan `gerbang sync keygen`, lalu",
                           "the site prints its key with `gerbang sync keygen`, then"))  # fmt: skip
        return [
            f"** {REFUSED_MARK}: registri menolak situs ini ({refused['reason']}) sejak {since},"
            f" {refused['refused_batches']} kiriman ditolak / the registry refuses this site"
            f" ({refused['reason']}) since {since}, {refused['refused_batches']} batches refused **",
            f"    perbaiki: {fix_id} `gerbang registry sites set-key {site['id']} --public-key"
            f" KUNCI --reason ...` / fix: {fix_en} `gerbang registry sites set-key {site['id']}"
            " --public-key KEY --reason ...`",
        ]
    if site["silent"]:
        return [f"** {SILENT_MARK}: tidak ada kabar lebih dari {silent_hours} jam / not heard"
                f" from for more than {silent_hours} hours **"]  # fmt: skip
    return ["tersambung / in touch"]


def _sync_lines(site: dict[str, Any], silent_hours: int) -> list[str]:
    """How the site's sync stands, in words; problems first named, then counted."""
    state, *fix = _state(site, silent_hours)
    received = sum(sum(outcomes.values()) for outcomes in site["arrived"].values())
    return [
        f"  Sinkronisasi / sync: kontak terakhir / last contact {_when(site['last_contact'])}, {state}",
        *fix,
        f"    {received} perubahan diterima / changes received, {len(site['refused'])} ditolak /"
        f" refused, {site['quarantined']['count']} kiriman dikarantina / batches quarantined,"
        f" {len(site.get('withheld', []))} ditahan di situs / withheld at the site",
        f"    {site['pending_cases']} kasus duplikat terbuka / open duplicate cases",
    ]


def report_lines(sites: list[dict[str, Any]], now: datetime, silent_hours: int) -> list[str]:
    """The report: a heading, one block per site, and a summary naming the silent sites."""
    lines = [
        f"Laporan harian / daily report, {now:%d/%m/%Y %H:%M %Z}, 24 jam terakhir / last 24 hours",
        "(dihitung saat data tiba di pusat / counted when the data reached the registry)",
    ]
    for site in sites:
        lines += ["", f"{site['id']} ({site['name']}), {site['region']}"]
        lines += activity_lines(_activity(site)) + _sync_lines(site, silent_hours)
    silent = [s["id"] for s in sites if s["silent"]]
    refused = [s["id"] for s in sites if s.get("access_refused")]
    lines += ["", f"Ringkasan / summary: {len(sites)} situs / sites"]
    lines += activity_lines(total(_activity(s) for s in sites))
    lines.append(
        f"  {len(silent)} situs diam lebih dari {silent_hours} jam / sites silent for more than"
        f" {silent_hours} hours" + (f": {', '.join(silent)}" if silent else "")
    )
    if refused:
        lines.append(f"  {len(refused)} situs ditolak registri / sites the registry refuses:"
                     f" {', '.join(refused)}")  # fmt: skip
    return lines
