"""Officers sign in for a shift and sign out (a shared PC at the centre is left signed out)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from httpkit.errors import error_responses
from kernel.access import SignInThrottled
from kernel.errors import Forbidden, InputError, Unauthenticated
from registry.errors import RegistryStorageError
from registry.routes.access import AuthorisedOfficer, Token
from registry.routes.deps import Service
from registry.schemas import LoginRequest, LoginResponse

router = APIRouter(prefix="/v1/auth", tags=["officers"])


@router.post(
    "/login",
    response_model=LoginResponse,
    responses=error_responses(Unauthenticated, InputError, SignInThrottled, RegistryStorageError),
)
def login(body: LoginRequest, request: Request, service: Service) -> LoginResponse:
    """A bearer token for an officer's shift (throttled per account and per source: 429)."""
    source = request.client.host if request.client else ""
    token, officer = service.login(body.username, body.password, source)
    return LoginResponse(token=token, role=officer.role, region=officer.region)


@router.post(
    "/logout",
    status_code=204,
    response_class=Response,
    responses={
        204: {"description": "Signed out: the token no longer works"},
        **error_responses(Unauthenticated, Forbidden, RegistryStorageError),
    },
)
def logout(token: Token, officer: AuthorisedOfficer, service: Service) -> Response:
    """End this token's session."""
    service.logout(token, officer)
    return Response(status_code=204)
