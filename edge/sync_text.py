"""The site's sync state in words for an officer: `gerbang sync status` and the sync line of
`gerbang report`, each sentence in Indonesian, then in English (`--json` keeps the raw summary).

The summary is `site_sync.state.summary`: cursors, backlog, the conflict alarm, the last refused
pull, what stopped pushing or pulling (site_sync.problems: the registry refuses this site, or
cannot be reached) and the open dead letters. The same problems become `/ready`'s warnings here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from site_sync.problems import UNREACHABLE, Direction, is_alarm

Said = tuple[str, str]  # (Indonesian, English)
_WHO: dict[str, Said] = {
    "push": ("Pengiriman", "Pushing"),
    "pull": ("Penerimaan", "Pulling"),
    "both": ("Pengiriman dan penerimaan", "Pushing and pulling"),
}


def unsent(sync: dict[str, Any], registry_url: str | None) -> Said:
    """What the outbox holds: waiting for the registry, or kept here when there is none."""
    waiting = sync["waiting"]
    if registry_url is None and sync["pushed_through"] == 0:
        return (
            f"{waiting} perubahan disimpan di situs ini: belum ada registri yang diatur"
            " (EDGE_SYNC__REGISTRY_URL) dan belum ada yang pernah dikirim",
            f"{waiting} changes kept at this site: no registry is configured"
            " (EDGE_SYNC__REGISTRY_URL) and nothing was ever sent",
        )
    return (
        f"{waiting} perubahan menunggu dikirim ke registri",
        f"{waiting} changes waiting to be sent to the registry",
    )


def _alarm(alarm: dict[str, Any]) -> Said:
    span = f"seq {alarm.get('first_seq')}-{alarm.get('last_seq')}"
    return (
        f"** Pengiriman berhenti: registri menyimpan isi lain untuk {span} (sejak"
        f" {alarm.get('at')}). Selesaikan di registri, lalu `gerbang sync clear-alarm`.",
        f"** Pushing stopped: the registry holds other content for {span} (since"
        f" {alarm.get('at')}). Resolve it at the registry, then `gerbang sync clear-alarm`.",
    )


def _pull_error(error: dict[str, Any]) -> Said:
    return (
        f"Halaman terakhir dari registri ditolak (sejak {error.get('at')}); penerimaan dicoba"
        " lagi. Lihat `gerbang sync status --json`.",
        f"The last page from the registry was refused (since {error.get('at')}); receiving is"
        " tried again. See `gerbang sync status --json`.",
    )


def _dead_letters(letters: list[dict[str, Any]]) -> list[str]:
    if not letters:
        return []
    lines = [
        f"  {len(letters)} perubahan ditahan (ditolak registri): kirim lagi dengan"
        " `gerbang sync retry SEQ`, atau lepaskan dengan `gerbang sync drop SEQ`",
        f"  {len(letters)} changes withheld (refused by the registry): send again with"
        " `gerbang sync retry SEQ`, or give up with `gerbang sync drop SEQ`",
    ]
    lines += [f"    seq {d['seq']} {d['kind']} {d['entity_id']}: {d['code']} ({d['dead_at']})"
              for d in letters]  # fmt: skip
    return lines


def _when(iso: Any) -> str:
    """An ISO time as an officer reads it (UTC, to the minute)."""
    try:
        return f"{datetime.fromisoformat(str(iso)):%Y-%m-%d %H:%M} UTC"
    except ValueError:
        return str(iso)


def stopped(sync: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(who, problem) for what stopped pushing and pulling; one entry when both stopped alike."""
    push, pull = sync.get("push_problem"), sync.get("pull_problem")
    same = ("code", "status", "registry_code", "reason")
    if push and pull and all(push.get(k) == pull.get(k) for k in same):
        both = {**push, "since": min(push["since"], pull["since"]), "at": max(push["at"], pull["at"]),
                "count": None}  # rounds refuse both; attempts per direction are in --json  # fmt: skip
        return [("both", both)]
    return [(who, p) for who, p in (("push", push), ("pull", pull)) if p]


def _problem(who: str, problem: dict[str, Any], now: datetime | None) -> list[Said]:
    """A stopped direction in words, then what to do."""
    mark = "** " if is_alarm(problem, now) else ""
    name_id, name_en = _WHO[who]
    since, reason = _when(problem["since"]), problem.get("reason") or "-"
    count = problem.get("count")
    times = (
        f"{count} kali, " if count else "",
        f"{count} time{'s' * (count != 1)}, " if count else "",
    )
    last = f"terakhir {_when(problem['at'])}", f"last {_when(problem['at'])}"
    if problem["code"] == UNREACHABLE:
        said = (
            f"{mark}{name_id}: registri tidak dapat dihubungi sejak {since} ({reason});"
            f" {times[0]}{last[0]}; dicoba lagi terus",
            f"{mark}{name_en}: the registry has not been reachable since {since} ({reason});"
            f" {times[1]}{last[1]}; the agent keeps trying",
        )
    else:
        answer = f"{problem.get('status')} {problem.get('registry_code')}: {reason}"
        said = (
            f"{mark}{name_id} berhenti: registri menolak situs ini ({answer}) sejak {since},"
            f" {times[0]}{last[0]}",
            f"{mark}{name_en} stopped: the registry refuses this site ({answer}) since {since},"
            f" {times[1]}{last[1]}",
        )
    fix = problem.get("fix") or {}
    return [said, (f"  Perbaiki: {fix.get('id', '-')}", f"  Fix: {fix.get('en', '-')}")]


def problem_lines(sync: dict[str, Any], now: datetime | None = None) -> list[str]:
    """One line per stopped direction that is an alarm, for `gerbang report`."""
    lines = []
    for who, problem in stopped(sync):
        if not is_alarm(problem, now):
            continue
        name_id, name_en = _WHO[who]
        since = _when(problem["since"])
        if problem["code"] == UNREACHABLE:
            lines.append(f"  ** {name_id}: registri tidak terjangkau sejak {since} / {name_en}:"
                         f" the registry not reachable since {since}; `gerbang sync status` **")  # fmt: skip
        else:
            reason = problem.get("reason") or problem.get("registry_code")
            lines.append(f"  ** {name_id} berhenti: registri menolak situs ini ({reason}) sejak"
                         f" {since} / {name_en} stopped: the registry refuses this site ({reason})"
                         f" since {since}; `gerbang sync status` **")  # fmt: skip
    return lines


def problem_warnings(
    problems: dict[Direction, dict[str, Any] | None], now: datetime | None = None
) -> list[dict[str, Any]]:
    """`/ready`'s warnings for a stopped direction that is an alarm (the gate works meanwhile)."""
    warnings = []
    directions: tuple[Direction, ...] = ("push", "pull")
    for direction in directions:
        problem = problems.get(direction)
        if problem is None or not is_alarm(problem, now):
            continue
        (said_id, said_en), _ = _problem(direction, problem, now)
        fix = problem.get("fix") or {}
        message = {"id": f"{said_id.removeprefix('** ')}. {fix.get('id', '')}".strip(),
                   "en": f"{said_en.removeprefix('** ')}. {fix.get('en', '')}".strip()}  # fmt: skip
        warnings.append(
            {"code": f"sync_{direction}_stopped", "message": message, "details": problem}
        )
    return warnings


def status_lines(
    site_id: str, sync: dict[str, Any], registry_url: str | None, now: datetime | None = None
) -> list[str]:
    """`gerbang sync status` in words."""
    sent, received = sync["pushed_through"], sync["pulled_through"]
    said = [
        unsent(sync, registry_url),
        (f"terkirim sampai seq {sent} dari {sync['outbox_newest']}",
         f"sent through seq {sent} of {sync['outbox_newest']}"),
        (f"diterima dari registri sampai seq {received}",
         f"received from the registry through seq {received}"),
    ]  # fmt: skip
    if sync["alarm"]:
        said.append(_alarm(sync["alarm"]))
    if sync["pull_error"]:
        said.append(_pull_error(sync["pull_error"]))
    for who, problem in stopped(sync):
        said += _problem(who, problem, now)
    lines = [f"Sinkronisasi situs {site_id} / site sync {site_id}"]
    for indonesian, english in said:
        lines += [f"  {indonesian}", f"  {english}"]
    return lines + _dead_letters(sync["dead_letters"])
