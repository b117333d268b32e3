"""The desk's guard against inmate look-alikes, and "same person" that keeps what was typed (issue 14).

A visitor or a staff member whose face matches an active Warga Binaan is not a routine duplicate:
it may be an inmate about to be enrolled under another name, so that the visitor gate later lets
them walk out. Such a candidate is flagged (`inmate_lookalike`) and every decision about it, "same"
or "different", needs a supervisor's sign-off, checked here, on the server. So does "same person"
across roles (a visitor's captures added to an inmate's record, or the reverse): a desk officer
alone may join captures only to a record of the role being enrolled.

"Same person" adds the captures to a known record; what the officer typed for this person is not
thrown away: the desk shows typed against stored, and the fields the officer chose to keep from
what was typed correct the record in the commit's transaction (audited with both values, sent up
as `identity.updated`). Identity numbers stay fixed, as everywhere at the desk.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from enrollment.records import check_corrections
from enrollment.unit_of_work import UnitOfWork
from kernel.errors import GerbangError, Message

SUPERVISOR_ROLES = frozenset({"supervisor", "site_admin"})


class SupervisorRequired(GerbangError):
    code = "supervisor_required"
    status = 403
    message = Message(
        "Keputusan ini perlu persetujuan supervisor: wajah mirip Warga Binaan aktif, atau"
        " penggabungan lintas peran. Minta supervisor masuk untuk menyetujui.",
        "This decision needs a supervisor's sign-off: the face resembles an active inmate (Warga Binaan),"
        " or it joins records of different roles. Ask a supervisor to sign in and approve.",
    )


def is_inmate_lookalike(session_role: str, role: str, status: str) -> bool:
    """A visitor or staff enrolment that resembles someone held here now."""
    return session_role != "inmate" and role == "inmate" and status == "active"


def needing_supervisor(
    session_role: str,
    candidates: Iterable[tuple[str, str, str]],
    same_person: Iterable[str],
) -> list[dict[str, Any]]:
    """Why a supervisor must sign: (candidate id, why) for each look-alike and cross-role join.

    `candidates` are (identity id, role, status) of every candidate shown, local and national;
    `same_person` the candidate ids the officer said are this person.
    """
    roles = {identity_id: role for identity_id, role, _ in candidates}
    reasons = [
        {"candidate_identity_id": identity_id, "why": "inmate_lookalike"}
        for identity_id, role, status in candidates
        if is_inmate_lookalike(session_role, role, status)
    ]
    reasons += [
        {"candidate_identity_id": identity_id, "why": "cross_role_merge"}
        for identity_id in same_person
        if roles.get(identity_id, session_role) != session_role
    ]
    return reasons


def require_supervisor(reasons: list[dict[str, Any]], supervisor: str | None) -> None:
    """SupervisorRequired when there is a reason and no supervisor signed."""
    if reasons and not supervisor:
        raise SupervisorRequired(candidates=reasons)


def keep_typed(uow: UnitOfWork, identity_id: str, typed: dict[str, Any], officer: str) -> None:
    """Correct the joined record with the typed values the officer chose; both kept in the audit."""
    fields = check_corrections({k: v for k, v in typed.items() if v is not None})
    if not fields:
        return
    stored = uow.identities.get(identity_id)
    before = {name: getattr(stored, name) for name in fields}
    uow.identities.update_fields(identity_id, fields)
    identity = uow.identities.get(identity_id)
    uow.record(
        "identity.updated",
        identity_id,
        {"fields": fields, "version": identity.version},
        officer,
        {"fields": sorted(fields), "typed": fields, "stored": before, "kept": "typed"},
        action="identity.reconciled",
    )
