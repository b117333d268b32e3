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
DENIAL_LABELS = {  # short words for a report line; a reason not here reads as the kiosk says it
    "gate_not_for_passage": (
        "gerbang tidak melayani perlintasan ini",
        "gate does not serve the passage",
    ),
    "visitor_not_enrolled": ("pengunjung belum terdaftar", "visitor not enrolled"),
    "visitor_banned": ("pengunjung dilarang berkunjung", "visitor banned"),
    "watchlist_match": ("cocok dengan daftar larangan", "matched the watchlist"),
    "identity_role_mismatch": (
        "identitas bukan untuk perlintasan ini",
        "identity not for this passage",
    ),
    "identity_not_active": ("identitas tidak aktif", "identity not active"),
    "face_mismatch": ("wajah tidak cocok dengan data", "face did not match the record"),
    "face_unusable": ("wajah tidak terbaca", "face could not be read"),
    "face_quality": ("foto wajah kurang baik", "face photo not good enough"),
    "not_live": ("wajah tampak seperti foto atau layar", "face looked like a photo or a screen"),
    "already_inside": ("tercatat sudah di dalam", "already recorded inside"),
    "not_inside": ("tidak tercatat masuk", "no entry on record"),
    "no_open_visit": ("tidak ada kunjungan terbuka", "no open visit"),
    "cooldown": ("terlalu banyak percobaan gagal", "too many failed attempts"),
    "staff_unknown": ("tidak dikenali sebagai petugas", "not recognised as staff"),
    "inmate_not_visitable": ("warga binaan tidak dapat dikunjungi", "inmate cannot be visited"),
    "more_than_one_person": ("lebih dari satu orang", "more than one person"),
}


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
    if code in DENIAL_LABELS:
        return dict(zip(("id", "en"), DENIAL_LABELS[code], strict=True))
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
        f"Penolakan / denials: {denied}",
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
