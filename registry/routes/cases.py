"""Duplicate cases the national search opened, and an adjudicator's decision on each."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from httpkit.errors import error_responses
from kernel.errors import Forbidden, InputError, Unauthenticated
from registry.errors import CaseClosed, RegistryInputInvalid, RegistryNotFound, RegistryStorageError
from registry.routes.access import AuthorisedOfficer
from registry.routes.deps import Service
from registry.schemas import CaseList, CaseResponse, DecisionRequest

router = APIRouter(prefix="/v1/cases", tags=["cases"])
OFFICER = (Unauthenticated, Forbidden, RegistryStorageError)


@router.get("", response_model=CaseList, responses=error_responses(*OFFICER, RegistryInputInvalid))
def list_cases(_: AuthorisedOfficer, service: Service, state: str = "open") -> dict[str, Any]:
    """Duplicate cases in one state (default: open), highest score first."""
    return {"cases": service.list_cases(state)}


@router.post(
    "/{case_id}/decision",
    response_model=CaseResponse,
    responses=error_responses(
        *OFFICER, InputError, RegistryInputInvalid, RegistryNotFound, CaseClosed
    ),
)
def decide(
    case_id: int, body: DecisionRequest, officer: AuthorisedOfficer, service: Service
) -> dict[str, Any]:
    """Same person (merge) or not."""
    return service.decide_case(case_id, body.decision, officer, body.reason)
