"""Gate passages, officer overrides and alarms, visitors inside now, and gate configuration."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Path, Query, UploadFile
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from edge.gate import queries
from edge.gate.messages import REASONS
from edge.gate.records import (
    Gate,
    GateEvent,
    GateEventNotFound,
    GateNotFound,
    InvalidGateConfig,
    OverrideRefused,
)
from edge.gate.service import GateDecision
from edge.gate.setup import (
    GATE_ID_MAX_LENGTH,
    GATE_ID_PATTERN,
    GATE_NAME_MAX_LENGTH,
    GateExists,
)
from edge.gate.setup import add_gate as configure_gate
from edge.responses import (
    AlarmCleared,
    DecisionResponse,
    GateEventResponse,
    GateListed,
    GateResponse,
    VisitInside,
)
from edge.routes.documented import FINGER, UPLOAD, refusals
from edge.routes.uploads import read_gate_frame, read_upload
from edge.security import allow, site_of
from edge.site import Site
from edge.work import GATE_WORK
from enrollment.fingers import FingerNotEnrolled
from enrollment.fused import FingerProbe
from enrollment.repository import IdentityNotFound
from httpkit.work import Overloaded
from kernel.access import Principal
from kernel.errors import Forbidden, Message
from models.errors import ImageMissing, ImageTooSmall, ModelNotReady
from models.fingerprint import nbis

router = APIRouter(prefix="/v1")
# A passage is refused before any decision only for what it was sent and where: an empty file or
# bytes that are no image record nothing; a real frame whose face cannot be used is a recorded
# denial, not an error.
PASSING = refusals(
    *UPLOAD, ImageMissing, ImageTooSmall, Overloaded, ModelNotReady, GateNotFound, IdentityNotFound
)
PASSING_WITH_FINGER = refusals(
    *UPLOAD,
    *FINGER,
    ImageMissing,
    ImageTooSmall,
    ModelNotReady,
    GateNotFound,
    IdentityNotFound,
    FingerNotEnrolled,
)


# The published schema of POST /v1/gates. edge.gate.setup.check_gate holds the same rules for
# every caller (`gerbang gate add` too); the Literals must equal its DIRECTIONS and ROLES.
class GateBody(BaseModel):
    id: str = Field(min_length=1, max_length=GATE_ID_MAX_LENGTH, pattern=GATE_ID_PATTERN)
    name: str = Field(min_length=1, max_length=GATE_NAME_MAX_LENGTH)
    directions: list[Literal["in", "out"]] = Field(min_length=1)
    roles: list[Literal["inmate", "staff", "visitor"]] = Field(min_length=1)


class ReasonBody(BaseModel):
    reason: str = Field(min_length=3, max_length=500)


async def finger_probe(
    site: Site, upload: UploadFile | None, position: int | None
) -> FingerProbe | None:
    """The fingerprint presented with a claim, if any (500 ppi: the gate readers' resolution)."""
    if upload is None:
        return None
    return FingerProbe(nbis.read_image(await read_upload(upload, site.settings)), 500, position)


def at_own_gate(principal: Principal, gate_id: str) -> None:
    """A terminal's key opens only its own gate; officers may act at any gate of the site."""
    if principal.kind == "device" and principal.gate_id != gate_id:
        own = principal.gate_id
        raise Forbidden(
            Message(
                f"Kunci terminal ini milik gerbang {own}, bukan gerbang {gate_id}: buka kios"
                f" dengan ?gate={own}, atau buat kunci untuk gerbang {gate_id} (gerbang devices"
                " add).",
                f"This terminal's key belongs to gate {own}, not gate {gate_id}: open the kiosk"
                f" with ?gate={own}, or make a key for gate {gate_id} (gerbang devices add).",
            ),
            action=f"gate {gate_id}",
            role=f"device of gate {own}",
        )


def event_body(event: GateEvent) -> dict[str, Any]:
    """A stored decision with the message the kiosk shows for it."""
    return {**asdict(event), "message": REASONS[event.reason].as_dict()}


def decision_body(decision: GateDecision) -> dict[str, Any]:
    """What the kiosk needs to show a result nobody can misread."""
    event, who = decision.event, decision.identity
    return {
        "event_id": event.id,
        "result": event.result,
        "reason": event.reason,
        "message": decision.message.as_dict(),
        "passage": event.passage,
        "gate_id": event.gate_id,
        "at": event.at,
        "visit_id": decision.visit_id,
        "person": None if who is None else {
            "identity_id": who.id, "full_name": who.full_name, "role": who.role, "status": who.status,
            "photo_url": f"/v1/identities/{who.id}/photo" if who.photo_image_id else None,
        },
        "evidence": event.evidence,
    }  # fmt: skip


@router.get("/gates", response_model=list[GateListed], responses=refusals())
def list_gates(
    site: Annotated[Site, Depends(site_of)],
    _: Annotated[Principal, Depends(allow("gate.read"))],
) -> list[dict[str, Any]]:
    """The configured gates, with their directions, roles and active terminals (as `gerbang gate
    list` prints them); a kiosk's setup can check its gate exists."""
    devices = queries.devices_by_gate(site.db)
    return [
        {**asdict(g), "devices": devices.get(g.id, 0)} for g in queries.configured_gates(site.db)
    ]


@router.post(
    "/gates",
    status_code=201,
    response_model=GateResponse,
    responses=refusals(GateExists, InvalidGateConfig),
)
def add_gate(
    body: GateBody,
    site: Annotated[Site, Depends(site_of)],
    principal: Annotated[Principal, Depends(allow("gate.admin"))],
) -> dict[str, Any]:
    """Configure a gate: its directions and the roles that may pass."""
    gate = Gate(body.id, body.name, tuple(body.directions), tuple(body.roles))
    return asdict(configure_gate(site.db, gate, principal.name))


@router.post(
    "/gates/{gate_id}/visitor-entry",
    response_model=DecisionResponse,
    responses=PASSING_WITH_FINGER,
    dependencies=[GATE_WORK],
)
async def visitor_entry(
    gate_id: str, image: Annotated[UploadFile, File()], site: Annotated[Site, Depends(site_of)],
    principal: Annotated[Principal, Depends(allow("gate.pass"))],
    nik: Annotated[str | None, Form(max_length=30)] = None,
    visitor_id: Annotated[str | None, Form(max_length=36)] = None,
    inmate_id: Annotated[str | None, Form(max_length=36)] = None,
    finger_image: Annotated[UploadFile | None, File()] = None,
    finger_position: Annotated[int | None, Form(ge=1, le=10)] = None,
) -> dict[str, Any]:  # fmt: skip
    """A visitor claims who they are (NIK or id); the face (fused with a finger, if one is
    presented) must match them, and the face must match nobody forbidden."""
    at_own_gate(principal, gate_id)
    data = await read_gate_frame(image, site.settings)
    finger = await finger_probe(site, finger_image, finger_position)
    decision = await run_in_threadpool(
        site.gate.visitor_entry, gate_id, data, principal.name, nik, visitor_id, inmate_id, finger
    )
    return decision_body(decision)


@router.post(
    "/gates/{gate_id}/visitor-exit",
    response_model=DecisionResponse,
    responses=PASSING_WITH_FINGER,
    dependencies=[GATE_WORK],
)
async def visitor_exit(
    gate_id: str, image: Annotated[UploadFile, File()], site: Annotated[Site, Depends(site_of)],
    principal: Annotated[Principal, Depends(allow("gate.pass"))],
    finger_image: Annotated[UploadFile | None, File()] = None,
    finger_position: Annotated[int | None, Form(ge=1, le=10)] = None,
) -> dict[str, Any]:  # fmt: skip
    """The person leaving must be a visitor inside now (by face, and by finger when one is
    presented or EDGE_GATE__REQUIRE_FINGER_VISITOR_EXIT asks for one) and no inmate by either
    (an inmate match is an ALARM)."""
    at_own_gate(principal, gate_id)
    data = await read_gate_frame(image, site.settings)
    finger = await finger_probe(site, finger_image, finger_position)
    return decision_body(
        await run_in_threadpool(site.gate.visitor_exit, gate_id, data, principal.name, finger)
    )


@router.post(
    "/gates/{gate_id}/staff",
    response_model=DecisionResponse,
    responses=PASSING_WITH_FINGER,
    dependencies=[GATE_WORK],
)
async def staff_passage(
    gate_id: str, image: Annotated[UploadFile, File()], direction: Annotated[Literal["in", "out"], Form()],
    site: Annotated[Site, Depends(site_of)], principal: Annotated[Principal, Depends(allow("gate.pass"))],
    finger_image: Annotated[UploadFile | None, File()] = None,
    finger_position: Annotated[int | None, Form(ge=1, le=10)] = None,
) -> dict[str, Any]:  # fmt: skip
    """Staff in or out: 1:N among active staff, face fused with a finger when one is presented
    (EDGE_GATE__REQUIRE_FINGER_STAFF makes it required)."""
    at_own_gate(principal, gate_id)
    data = await read_gate_frame(image, site.settings)
    finger = await finger_probe(site, finger_image, finger_position)
    return decision_body(
        await run_in_threadpool(
            site.gate.staff_passage, gate_id, data, principal.name, direction, finger
        )
    )


@router.post(
    "/gates/{gate_id}/inmate-movement",
    response_model=DecisionResponse,
    responses=PASSING_WITH_FINGER,
    dependencies=[GATE_WORK],
)
async def inmate_movement(
    gate_id: str, image: Annotated[UploadFile, File()], inmate_id: Annotated[str, Form(min_length=36, max_length=36)],
    passage: Annotated[Literal["release", "transfer_out", "court_out", "court_in"], Form()],
    order_reference: Annotated[str, Form(min_length=1, max_length=80)],
    site: Annotated[Site, Depends(site_of)], principal: Annotated[Principal, Depends(allow("gate.move"))],
    finger_image: Annotated[UploadFile | None, File()] = None,
    finger_position: Annotated[int | None, Form(ge=1, le=10)] = None,
) -> dict[str, Any]:  # fmt: skip
    """Release, transfer or court movement, verified 1:1 (face, fused with a finger if presented)
    against the inmate's own record, with the order reference; an officer signed in is the actor
    (a kiosk's device key alone cannot move an inmate)."""
    at_own_gate(principal, gate_id)
    data = await read_gate_frame(image, site.settings)
    finger = await finger_probe(site, finger_image, finger_position)
    decision = await run_in_threadpool(
        site.gate.inmate_movement,
        gate_id,
        data,
        principal.name,
        inmate_id,
        passage,
        order_reference,
        finger,
    )
    return decision_body(decision)


@router.post(
    "/gate-events/{event_id}/override",
    response_model=DecisionResponse,
    responses=refusals(GateEventNotFound, OverrideRefused, IdentityNotFound),
)
def override(event_id: Annotated[int, Path(ge=1, le=2**63 - 1)], body: ReasonBody, site: Annotated[Site, Depends(site_of)],
             principal: Annotated[Principal, Depends(allow("gate.override"))]) -> dict[str, Any]:  # fmt: skip
    """A supervisor admits someone the gate denied, with a reason (alarms cannot be overridden)."""
    return decision_body(site.gate.override(event_id, principal.name, body.reason))


@router.post(
    "/gate-events/{event_id}/clear-alarm",
    response_model=AlarmCleared,
    responses=refusals(GateEventNotFound, OverrideRefused),
)
def clear_alarm(event_id: Annotated[int, Path(ge=1, le=2**63 - 1)], body: ReasonBody, site: Annotated[Site, Depends(site_of)],
                principal: Annotated[Principal, Depends(allow("gate.override"))]) -> dict[str, Any]:  # fmt: skip
    """A supervisor acknowledges an alarm; it stays in the log with who cleared it and why."""
    event = site.gate.clear_alarm(event_id, principal.name, body.reason)
    return {
        "event_id": event.id,
        "result": event.result,
        "alarm_cleared_by": event.alarm_cleared_by,
    }


@router.get("/visits/inside", response_model=list[VisitInside], responses=refusals())
def visitors_inside(
    site: Annotated[Site, Depends(site_of)], _: Annotated[Principal, Depends(allow("gate.read"))]
) -> list[dict[str, Any]]:
    """Visitors inside now (open visits), oldest first: at closing time, these are still inside."""
    return queries.visitors_inside(site.db)


@router.get("/gate-events/alarms", response_model=list[GateEventResponse], responses=refusals())
def open_alarms(
    site: Annotated[Site, Depends(site_of)],
    principal: Annotated[Principal, Depends(allow("gate.read"))],
) -> list[dict[str, Any]]:
    """Alarms not yet cleared by a supervisor (a gate device sees its own gate's only)."""
    own = principal.gate_id if principal.kind == "device" else None
    return [event_body(event) for event in queries.open_alarms(site.db, own)]


@router.get(
    "/gates/{gate_id}/events",
    response_model=list[GateEventResponse],
    responses=refusals(GateNotFound),
)
def gate_events(
    gate_id: str,
    site: Annotated[Site, Depends(site_of)],
    principal: Annotated[Principal, Depends(allow("gate.read"))],
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[dict[str, Any]]:
    """Decisions at a gate after an event id, oldest first: how a kiosk follows a camera loop."""
    at_own_gate(principal, gate_id)
    return [event_body(e) for e in queries.events_after(site.db, gate_id, after, limit)]
