"""The daily report's words: every gate reason reads in both languages, an unknown one says so,
and sites add up in the summary."""

from __future__ import annotations

from gallery_sync.daily_activity import (
    DENIAL_LABELS,
    DailyActivity,
    activity_lines,
    reason_words,
    total,
)
from gallery_sync.gate_reasons import REASONS


def test_every_denial_label_is_a_gate_reason_and_every_reason_has_words() -> None:
    assert set(DENIAL_LABELS) <= set(REASONS)
    for code in REASONS:
        words = reason_words(code)
        assert words["id"] and words["en"] and code not in words["en"]


def test_a_reason_this_version_does_not_know_is_named_as_other() -> None:
    assert reason_words("sign_in_needed") == {
        "id": "alasan lain (sign_in_needed)", "en": "other reason (sign_in_needed)"
    }  # fmt: skip


def test_gate_decisions_count_as_visits_alarms_and_denials_and_sites_add_up() -> None:
    a, b = (
        DailyActivity(enrolled={"inmate": 2}),
        DailyActivity(enrolled={"inmate": 1, "visitor": 4}),
    )
    a.count_gate("visitor_entry", "admit", "visitor_verified", 3)
    a.count_gate("visitor_exit", "admit", "override", 1)  # an override that let a visitor out
    a.count_gate("staff_in", "admit", "staff_verified", 9)  # not a visit
    a.count_gate("visitor_exit", "alarm", "inmate_leaving", 1)
    b.count_gate("visitor_entry", "deny", "face_mismatch", 2)
    a.count_gate("visitor_entry", "deny", "face_mismatch", 1)
    both = total([a, b])
    assert (both.visits_in, both.visits_out, both.alarms_raised) == (3, 1, 1)
    assert both.as_json()["enrolled"] == {"inmate": 3, "staff": 0, "visitor": 4}
    assert both.as_json()["denials"] == [
        {"reason": "face_mismatch", "count": 3, "id": "wajah tidak cocok dengan data",
         "en": "face did not match the record"}
    ]  # fmt: skip
    assert (
        "       3  wajah tidak cocok dengan data / face did not match the record"
        in activity_lines(both)
    )
