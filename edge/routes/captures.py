"""Capture sessions at the enrolment desk: start, add frames (with live feedback), check, commit."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, UploadFile
from starlette.concurrency import run_in_threadpool

from edge.import_command import archive_service
from edge.responses import (
    CommitResponse,
    DuplicatesResponse,
    FrameFeedback,
    SessionStarted,
)
from edge.routes.documented import UPLOAD, refusals
from edge.routes.uploads import read_upload
from edge.schemas import CommitRequest, IdentityBody, StartSessionRequest
from edge.security import allow, site_of
from edge.site import Site
from edge.work import DESK_WORK
from enrollment import flagged_imports, queries
from enrollment.audit import now_iso
from enrollment.captures import NotEnoughCaptures, SessionClosed, SessionNotFound
from enrollment.desk_guard import SUPERVISOR_ROLES, SupervisorRequired, is_inmate_lookalike
from enrollment.duplicates import InvalidDecision, PossibleDuplicate
from enrollment.identifiers import InvalidNIK, InvalidNIP, InvalidRegistrationNumber
from enrollment.packs import PackChanged
from enrollment.records import Consent, IdentityDraft, MissingField, VisitLink
from enrollment.repository import IdentityNotFound
from enrollment.service import DeskSignOff, IdentityNumberTaken, OfficerDecision
from httpkit.work import Overloaded
from kernel.access import Principal
from kernel.errors import Unauthenticated
from models.errors import ModelNotReady

router = APIRouter(prefix="/v1/captures")


@router.post(
    "", status_code=201, response_model=SessionStarted, responses=refusals(IdentityNotFound)
)
def start_session(
    body: StartSessionRequest,
    site: Annotated[Site, Depends(site_of)],
    principal: Annotated[Principal, Depends(allow("identity.enrol"))],
) -> dict[str, Any]:
    """Open a capture session for a new person, or to re-enrol `identity_id`."""
    session_id = site.enrolment.start_session(body.role, principal.name, body.identity_id)
    return {"session_id": session_id, "needed": site.enrolment.policy.min_captures}


@router.post(
    "/{session_id}/frames",
    response_model=FrameFeedback,
    responses=refusals(
        *UPLOAD, ModelNotReady, PackChanged, SessionNotFound, SessionClosed, Overloaded
    ),
    dependencies=[DESK_WORK],
)
async def add_frame(
    session_id: str,
    image: Annotated[UploadFile, File()],
    site: Annotated[Site, Depends(site_of)],
    _: Annotated[Principal, Depends(allow("identity.enrol"))],
) -> dict[str, Any]:
    """Judge a frame: accepted or the reasons to fix, and how many good captures are kept."""
    feedback = await run_in_threadpool(
        site.enrolment.add_frame, session_id, await read_upload(image, site.settings)
    )
    return {**asdict(feedback), "ready": feedback.ready}


@router.get(
    "/{session_id}/duplicates",
    response_model=DuplicatesResponse,
    responses=refusals(ModelNotReady, SessionNotFound, SessionClosed),
)
async def duplicates(
    session_id: str,
    site: Annotated[Site, Depends(site_of)],
    _: Annotated[Principal, Depends(allow("identity.enrol"))],
) -> dict[str, Any]:
    """Known people the captures resemble, here and (when reachable) at the national registry."""
    check, local = await run_in_threadpool(site.enrolment.check_duplicates, session_id)
    role = queries.session_role(site.db, session_id) or "visitor"
    return {
        "candidates": local,
        "national_candidates": [
            {**c.body(), "inmate_lookalike": is_inmate_lookalike(role, c.role, c.status)}
            for c in check.national
        ],
        "national_search": check.national_search.summary(),
    }


def draft_from(role: str, body: IdentityBody, officer: str) -> IdentityDraft:
    """The use-case draft from the request body."""
    details = {k: v for k, v in {"phone": body.phone, "admission_date": body.admission_date,
               "case_reference": body.case_reference, "cell_block": body.cell_block}.items() if v}  # fmt: skip
    consent = Consent(body.consent_purpose, officer, now_iso()) if body.consent_purpose else None
    return IdentityDraft(
        role=role,  # type: ignore[arg-type]
        full_name=body.full_name,
        birth_date=date.fromisoformat(body.birth_date) if body.birth_date else None,
        sex=body.sex,
        aliases=tuple(body.aliases),
        nik=body.nik,
        nip=body.nip,
        registration_number=body.registration_number,
        details=details,
        visits=tuple(VisitLink(v.inmate_id, v.relationship) for v in body.visits),
        consent=consent,
    )


def signing_supervisor(site: Site, officer: Principal, token: str | None) -> str | None:
    """Who signs the desk's guarded decisions: the officer if a supervisor, else the supervisor
    whose token came with the commit (SupervisorRequired for another role's or a dead token)."""
    if officer.role in SUPERVISOR_ROLES:
        return officer.name
    if not token:
        return None
    try:
        supervisor = queries.operator_for_token(site.db, site.vault, token)
    except Unauthenticated as exc:
        raise SupervisorRequired(reason="the supervisor's sign-in is no longer valid") from exc
    if supervisor.role not in SUPERVISOR_ROLES:
        raise SupervisorRequired(reason=f"{supervisor.name} is not a supervisor")
    return supervisor.name


@router.post(
    "/{session_id}/commit",
    status_code=201,
    response_model=CommitResponse,
    responses=refusals(
        ModelNotReady, PackChanged, SessionNotFound, SessionClosed, NotEnoughCaptures,
        PossibleDuplicate, InvalidDecision, MissingField, InvalidNIK, InvalidNIP, InvalidRegistrationNumber, IdentityNumberTaken,
        IdentityNotFound, SupervisorRequired,
    ),
)  # fmt: skip
async def commit(
    session_id: str,
    body: CommitRequest,
    site: Annotated[Site, Depends(site_of)],
    principal: Annotated[Principal, Depends(allow("identity.enrol"))],
) -> dict[str, Any]:
    """Save: a new identity, or templates added to the identity the officer said it is.

    Refused with 409 `possible_duplicate` until every candidate has an officer decision.
    """
    role = queries.session_role(site.db, session_id) or "visitor"  # unknown: commit says so
    draft = draft_from(role, body.identity, principal.name) if body.identity else None
    decisions = [
        OfficerDecision(d.candidate_identity_id, d.decision, d.reason) for d in body.decisions
    ]
    typed = body.keep_typed.model_dump(exclude_none=True) if body.keep_typed else {}
    guard = DeskSignOff(signing_supervisor(site, principal, body.supervisor_token), typed)
    # A flagged import row's session was captured from archive photos: it saves under the
    # importer's capture rules, and the row is marked imported.
    commit_session = (
        partial(flagged_imports.finish, archive_service(site))
        if flagged_imports.import_row_of(site.db, session_id)
        else site.enrolment.commit
    )
    result = await run_in_threadpool(
        commit_session, session_id, draft, decisions, principal.name,
        body.replace_templates, guard,
    )  # fmt: skip
    return {
        "identity_id": result.identity_id,
        "created": result.created,
        "template_ids": result.template_ids,
        "national_search": result.national_search,
    }


@router.delete("/{session_id}", status_code=204, responses=refusals(SessionNotFound, SessionClosed))
def abandon_session(
    session_id: str,
    site: Annotated[Site, Depends(site_of)],
    principal: Annotated[Principal, Depends(allow("identity.enrol"))],
) -> None:
    """Give up a session: its captures are deleted and nothing is enrolled."""
    site.enrolment.abandon_session(session_id, principal.name)
