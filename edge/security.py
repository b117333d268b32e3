"""Who may call what: operator tokens and device keys, checked against one permission map.

Every route names the permission it needs; `PERMISSIONS` is the whole policy in one table, so a
reviewer can read what each role can do, and the tests walk the table to prove every refusal.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Request

from edge.site import Site
from enrollment.unit_of_work import reading, unit_of_work
from kernel.access import Principal
from kernel.errors import Forbidden, Unauthenticated

OPERATORS = frozenset({"enrolment_officer", "gate_officer", "supervisor", "site_admin"})
PERMISSIONS: dict[str, frozenset[str]] = {
    "face.analyse": OPERATORS | {"device"},
    "face.verify": OPERATORS | {"device"},
    "face.identify": OPERATORS | {"device"},
    "identity.read": OPERATORS | {"device"},
    "identity.enrol": frozenset({"enrolment_officer", "supervisor", "site_admin"}),
    "identity.update": frozenset({"enrolment_officer", "supervisor", "site_admin"}),
    "identity.status": frozenset({"supervisor", "site_admin"}),
    "identity.erase": frozenset({"site_admin"}),
    "gallery.admin": frozenset({"site_admin"}),
    "finger.enrol": frozenset({"enrolment_officer", "supervisor", "site_admin"}),
    "finger.verify": OPERATORS | {"device"},
    "finger.shortlist": OPERATORS,
    "finger.identify": OPERATORS | {"device"},
    "gate.pass": frozenset({"gate_officer", "supervisor", "site_admin", "device"}),
    # An inmate leaves or comes back on an order an officer answers for: never the kiosk alone.
    "gate.move": frozenset({"gate_officer", "supervisor", "site_admin"}),
    "gate.read": OPERATORS | {"device"},
    "gate.override": frozenset({"supervisor", "site_admin"}),
    "gate.admin": frozenset({"site_admin"}),
    "reader.read": OPERATORS | {"device"},
    "reader.capture": OPERATORS | {"device"},  # a device only at its own gate's readers
}


def site_of(request: Request) -> Site:
    """The Site the app was built with."""
    site: Site = request.app.state.site
    return site


def authenticate(request: Request) -> Principal:
    """The caller, from `Authorization: Bearer <token>` or `X-Device-Key: <key>`."""
    site = site_of(request)
    header = request.headers.get("authorization", "")
    device_key = request.headers.get("x-device-key")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
        with reading(site.db, site.vault) as uow:
            principal, touch_due = uow.accounts.operator_session(token)
        if touch_due:  # at most once a minute per token: the idle clock (kernel.access)
            with unit_of_work(site.db, site.vault) as uow:
                uow.accounts.touch(token)
        return principal
    if device_key:
        with reading(site.db, site.vault) as uow:
            return uow.accounts.device_for_key(device_key.strip())
    raise Unauthenticated.because("no bearer token or device key")


def allow(permission: str) -> Callable[..., Principal]:
    """A dependency that lets the caller through only if their role has the permission."""
    roles = PERMISSIONS[permission]

    def check(principal: Principal = Depends(authenticate)) -> Principal:  # noqa: B008 - FastAPI idiom
        if principal.role not in roles:
            raise Forbidden.for_action(permission, principal.role)
        return principal

    return check
