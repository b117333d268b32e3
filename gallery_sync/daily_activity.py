"""A day at a site in words an officer reads: enrolments by role, visits, alarms, denials by reason.

The site's own report (`gerbang report`) and the registry's daily report (`gerbang registry
report`) count the same things from different tables; both print them with `activity_lines`, so a
Kanwil monitor and a site's supervisor read one vocabulary (Indonesian first, then English).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gallery_sync.gate_reasons import REASONS

ROLE_WORDS = {  # the directorate's terms, as the desk and the kiosk say them
    "inmate": ("warga binaan", "inmates"),
    "staff": ("petugas", "staff"),
    "visitor": ("pengunjung", "visitors"),
}
OTHER_REASON = ("alasan lain", "other reason")


@dataclass
class DailyActivity:
    """What happened at one site in the period, counted from its gate events and enrolments."""

    enrolled: dict[str, int] = field(default_factory=dict)  # role -> people enrolled
    visits_in: int = 0  # visitor entries admitted (a visit opened)
    visits_out: int = 0  # visitor exits admitted (a visit closed)
    alarms_raised: int = 0
    alarms_cleared: int = 0  # cleared in the period, whenever raised
    alarms_open: int = 0  # raised at any time and not cleared yet
    denials: dict[str, int] = field(default_factory=dict)  # reason code -> count

    def count_gate(
        self, passage: str | None, result: str | None, reason: str | None, n: int
    ) -> None:
        """Add `n` gate decisions of one passage, result and reason."""
        if result == "alarm":
            self.alarms_raised += n
        elif result == "deny":
            code = reason or "unknown"
            self.denials[code] = self.denials.get(code, 0) + n
        elif result == "admit" and passage == "visitor_entry":
            self.visits_in += n
        elif result == "admit" and passage == "visitor_exit":
            self.visits_out += n

    def as_json(self) -> dict[str, Any]:
        """For machines: counts, and each denial's code with its words in both languages."""
        return {
            "enrolled": {role: self.enrolled.get(role, 0) for role in ROLE_WORDS},
            "visits_in": self.visits_in,
            "visits_out": self.visits_out,
            "alarms_raised": self.alarms_raised,
            "alarms_cleared": self.alarms_cleared,
            "alarms_open": self.alarms_open,
            "denials": [
                {"reason": code, "count": n, **reason_words(code)}
                for code, n in sorted(self.denials.items(), key=lambda kv: (-kv[1], kv[0]))
            ],
        }


def reason_words(code: str) -> dict[str, str]:
    """A denial reason in both languages; a code this version does not know says so."""
    message = REASONS.get(code)
    if message is None:
        return {"id": f"{OTHER_REASON[0]} ({code})", "en": f"{OTHER_REASON[1]} ({code})"}
    return message.as_dict()


def activity_lines(activity: DailyActivity, indent: str = "  ") -> list[str]:
    """The activity as short bilingual lines, denials one reason per line, most frequent first."""
    roles = ", ".join(
        f"{activity.enrolled.get(role, 0)} {id_} / {en}" for role, (id_, en) in ROLE_WORDS.items()
    )
    denied = sum(activity.denials.values())
    lines = [
        f"Pendaftaran / enrolments: {roles}",
        f"Kunjungan / visits: {activity.visits_in} masuk / in, {activity.visits_out} keluar / out",
        f"Alarm: {activity.alarms_raised} berbunyi / raised, {activity.alarms_cleared} diselesaikan"
        f" / cleared, {activity.alarms_open} belum diselesaikan / still open",
        f"Penolakan / denials: {denied}" + (":" if denied else ""),
    ]
    lines = [indent + line for line in lines]
    for code, n in sorted(activity.denials.items(), key=lambda kv: (-kv[1], kv[0])):
        words = reason_words(code)
        lines.append(f"{indent}  {n:>4}  {words['id']} / {words['en']}")
    return lines


def total(activities: Iterable[DailyActivity]) -> DailyActivity:
    """Every site's activity added up (the report's closing summary)."""
    out = DailyActivity()
    for a in activities:
        for role, n in a.enrolled.items():
            out.enrolled[role] = out.enrolled.get(role, 0) + n
        for code, n in a.denials.items():
            out.denials[code] = out.denials.get(code, 0) + n
        out.visits_in += a.visits_in
        out.visits_out += a.visits_out
        out.alarms_raised += a.alarms_raised
        out.alarms_cleared += a.alarms_cleared
        out.alarms_open += a.alarms_open
    return out
