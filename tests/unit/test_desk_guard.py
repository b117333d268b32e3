"""Who needs a supervisor at the desk (enrollment/desk_guard.py; issue 14)."""

from __future__ import annotations

import pytest

from enrollment.desk_guard import (
    SupervisorRequired,
    is_inmate_lookalike,
    needing_supervisor,
    require_supervisor,
)

INMATE, VISITOR, RELEASED = (
    ("i-1", "inmate", "active"),
    ("v-1", "visitor", "active"),
    ("i-2", "inmate", "released"),
)


@pytest.mark.parametrize(
    ("session_role", "role", "status", "lookalike"),
    [("visitor", "inmate", "active", True), ("staff", "inmate", "active", True),
     ("inmate", "inmate", "active", False), ("visitor", "inmate", "released", False),
     ("visitor", "visitor", "active", False), ("visitor", "staff", "active", False)],
)  # fmt: skip
def test_only_an_active_inmate_at_a_visitor_or_staff_enrolment_is_a_lookalike(
    session_role: str, role: str, status: str, lookalike: bool
) -> None:
    assert is_inmate_lookalike(session_role, role, status) is lookalike


def test_a_lookalike_and_a_join_across_roles_each_need_a_supervisor() -> None:
    assert needing_supervisor("visitor", [VISITOR, RELEASED], ["v-1"]) == []
    assert needing_supervisor("visitor", [INMATE, VISITOR], []) == [
        {"candidate_identity_id": "i-1", "why": "inmate_lookalike"}
    ]
    assert needing_supervisor("visitor", [RELEASED], ["i-2"]) == [
        {"candidate_identity_id": "i-2", "why": "cross_role_merge"}
    ]


def test_without_a_supervisor_a_reason_refuses_and_with_one_it_passes() -> None:
    reasons = needing_supervisor("staff", [INMATE], [])
    with pytest.raises(SupervisorRequired) as refused:
        require_supervisor(reasons, None)
    assert refused.value.status == 403 and refused.value.details["candidates"] == reasons
    require_supervisor(reasons, "kepala-regu")
    require_supervisor([], None)
