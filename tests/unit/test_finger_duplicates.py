"""The desk's finger duplicate candidates from fused finger scores: who is named, in which order,
which are inmate look-alikes, and what the audit event keeps (issue 12)."""

from __future__ import annotations

from enrollment.finger_duplicates import FingerDuplicateCheck, duplicates_of
from enrollment.records import Identity
from models.fingerprint.identify import Candidate


def person(identity_id: str, role: str, status: str, number: str | None = None) -> Identity:
    return Identity(identity_id, role, status, f"Nama {identity_id}", None, None, [], None, None,  # type: ignore[arg-type]
                    number, {}, "site-1", None, None, "2026-01-01", "2026-01-01", 1)  # fmt: skip


PEOPLE = {
    "inmate": person("inmate", "inmate", "active", "B.I-7/2026"),
    "released": person("released", "inmate", "released", "B.I-8/2026"),
    "visitor": person("visitor", "visitor", "active"),
}


def test_only_people_at_or_above_the_threshold_are_named_best_first() -> None:
    found = [Candidate("visitor", 0.30, 7, 2), Candidate("inmate", 0.45, 2, 3),
             Candidate("released", 0.10, 1, 1)]  # fmt: skip
    named = duplicates_of(found, 0.30, PEOPLE, "staff")
    assert [(d.identity_id, d.position, d.score) for d in named] == [
        ("inmate", 2, 0.45),
        ("visitor", 7, 0.30),
    ]
    assert named[0].registration_number == "B.I-7/2026" and named[0].full_name == "Nama inmate"
    assert all(d.threshold == 0.30 for d in named)


def test_an_active_inmates_finger_at_a_visitor_or_staff_enrolment_is_a_lookalike() -> None:
    found = [Candidate("inmate", 0.5, 2, 1), Candidate("released", 0.4, 2, 1)]
    for role, expected in (("visitor", True), ("staff", True), ("inmate", False)):
        flags = {d.identity_id: d.inmate_lookalike for d in duplicates_of(found, 0.2, PEOPLE, role)}
        assert flags == {"inmate": expected, "released": False}


def test_a_person_no_longer_on_record_is_left_out() -> None:
    assert duplicates_of([Candidate("gone", 0.9, 2, 1)], 0.2, PEOPLE, "visitor") == []


def test_the_audit_keeps_the_finding_and_its_setting_but_not_the_name() -> None:
    named = duplicates_of([Candidate("inmate", 0.456789, 2, 1)], 0.2, PEOPLE, "visitor")
    check = FingerDuplicateCheck(named, 0.2, 0.05, 0.001, True, 40, 14, 5)
    audit = check.audit()
    assert audit["candidates"] == [{"identity_id": "inmate", "role": "inmate", "status": "active",
                                    "position": 2, "score": 0.4568, "inmate_lookalike": True}]  # fmt: skip
    assert audit["kind"] == "desk_duplicate" and audit["target_fpir"] == 0.05
    assert audit["threshold"] == 0.2 and audit["strict_enough"] is True
    assert [audit[f"{what}_searched"] for what in ("templates", "fingers", "people")] == [40, 14, 5]
    assert "Nama inmate" not in str(audit)
    assert named[0].body()["full_name"] == "Nama inmate"
