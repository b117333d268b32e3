"""Who may call what: the registry's whole route policy in one table, enforced by one dependency.

Every officer operation (named like its route function, which is also its OpenAPI operationId)
names the permission it needs; `accounts.PERMISSIONS` says which roles hold it. A route takes `AuthorisedOfficer` and gets the signed-in officer only
when the role holds the operation's permission (401 without a live token, 403 without the role).
Use cases still scope what an officer sees by region; they do not check roles again.
`check_policy(routers)` refuses to build an app whose routes and this table disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kernel.errors import Forbidden, Unauthenticated
from registry.accounts import PERMISSIONS, Officer
from registry.routes.deps import Service

ROUTE_PERMISSIONS: dict[str, str] = {
    # operation (the route function's name, also its OpenAPI operationId) -> permission
    "logout": "session.end",
    "list_cases": "cases.read",
    "decide": "cases.decide",
    "transfer": "transfers.create",
    "request_photo": "photos.request",
    "read_photo": "photos.read",
    "watchlist_add": "watchlist.add",
    "watchlist_add_photos": "watchlist.add",
    "watchlist_list": "cases.read",
    "watchlist_remove": "watchlist.remove",
    "add_site": "sites.admin",
    "replace_site_key": "sites.admin",
    "revoke_site_key": "sites.admin",
    "site_reports": "reports.read",
    "site_report": "reports.read",
}

# Declares the scheme in the OpenAPI; auto_error=False so a missing token is our 401, not Starlette's.
_bearer = HTTPBearer(auto_error=False, description="A token from POST /v1/auth/login")


def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The token of `Authorization: Bearer <token>`, or Unauthenticated."""
    if credentials is None or not credentials.credentials.strip():
        raise Unauthenticated(reason="no bearer token")
    return credentials.credentials.strip()


Token = Annotated[str, Depends(bearer_token)]


def operation_id(route: APIRoute) -> str:
    """A route's operation: its function's name (unique in the registry, checked at build)."""
    return route.name


def authorised(request: Request, token: Token, service: Service) -> Officer:
    """The officer behind the token, if their role may perform this route's operation."""
    officer = service.officer(token)
    permission = ROUTE_PERMISSIONS[operation_id(request.scope["route"])]
    if officer.role not in PERMISSIONS[permission]:
        raise Forbidden(action=permission, role=officer.role)
    return officer


AuthorisedOfficer = Annotated[Officer, Depends(authorised)]


def _uses(dependant: object, call: object) -> bool:
    deps = getattr(dependant, "dependencies", [])
    return any(d.call is call or _uses(d, call) for d in deps)


def check_policy(routers: Iterable[APIRouter]) -> None:
    """Refuse routers in which a guarded route has no permission, or the table names no route."""
    routes = [r for router in routers for r in router.routes if isinstance(r, APIRoute)]
    names = [operation_id(r) for r in routes]
    if len(set(names)) != len(names):
        raise RuntimeError(f"registry operations share a name: {sorted(names)}")
    guarded = {operation_id(r) for r in routes if _uses(r.dependant, authorised)}
    if guarded != set(ROUTE_PERMISSIONS):
        raise RuntimeError(
            f"route policy mismatch: unlisted {sorted(guarded - set(ROUTE_PERMISSIONS))},"
            f" no route for {sorted(set(ROUTE_PERMISSIONS) - guarded)}"
        )
    if unknown := set(ROUTE_PERMISSIONS.values()) - set(PERMISSIONS):
        raise RuntimeError(f"route policy names unknown permissions {sorted(unknown)}")
