"""The registry's HTTP application: `create_registry_app(settings)` builds it once.

Sites: `POST /v1/sync/batches` (signed batch), `GET /v1/sync/changes`, `POST /v1/sync/search` and
`POST /v1/sync/keys` (signed requests, see site_auth).
Officers: bearer tokens from `POST /v1/auth/login`; each use case checks the role itself
(`accounts.PERMISSIONS`), so the policy holds whatever calls it. Their page is `/pusat`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from httpkit.errors import install_error_handlers
from httpkit.pages import mount_assets, page
from httpkit.tls import StrictTransportSecurity
from kernel.errors import Unauthenticated
from registry.accounts import Officer
from registry.errors import RegistryNotFound
from registry.schemas import (
    DecisionRequest,
    LoginRequest,
    LoginResponse,
    PhotoRequestBody,
    SiteKeyRequest,
    SiteKeyRevocation,
    SiteRequest,
    TransferRequest,
)
from registry.service import RegistryService
from registry.settings import RegistrySettings
from registry.watchlist import WatchlistEntry, WatchlistRemoval

WEB_DIR = Path(__file__).resolve().parent / "web"

# Missing site headers arrive as "" so the refusal is 401 sync_unauthenticated, not a 422.
SiteHeader = Annotated[str, Header(alias="X-Gerbang-Site", max_length=40)]
SignatureHeader = Annotated[str, Header(alias="X-Gerbang-Signature", max_length=200)]
TimestampHeader = Annotated[str, Header(alias="X-Gerbang-Timestamp", max_length=60)]


def service_of(request: Request) -> RegistryService:
    """The RegistryService the app was built with."""
    service: RegistryService = request.app.state.service
    return service


Service = Annotated[RegistryService, Depends(service_of)]


def current_officer(request: Request, service: Service) -> Officer:
    """The officer behind `Authorization: Bearer <token>`."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        raise Unauthenticated.because("no bearer token")
    return service.officer(header[7:].strip())


OfficerDep = Annotated[Officer, Depends(current_officer)]


def _sync_routes(app: FastAPI) -> None:
    @app.post("/v1/sync/batches")
    async def push_batch(
        request: Request,
        service: Service,
        site: SiteHeader = "",
        signature: SignatureHeader = "",
    ) -> dict[str, Any]:
        """Apply a signed, gzipped batch exactly once."""
        body = await request.body()
        receipt = await run_in_threadpool(service.apply_batch, site, signature, body)
        return receipt.as_dict()

    @app.get("/v1/sync/changes")
    def pull_changes(
        request: Request,
        service: Service,
        site: SiteHeader = "",
        signature: SignatureHeader = "",
        timestamp: TimestampHeader = "",
        after: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    ) -> dict[str, Any]:
        """The changes for the calling site after its cursor."""
        path = _signed_path(request)
        service.sites.authenticate_request(site, request.method, path, timestamp, signature)
        return service.changes_for(site, after, limit)

    @app.post("/v1/sync/search")
    async def national_search(
        request: Request,
        service: Service,
        site: SiteHeader = "",
        signature: SignatureHeader = "",
        timestamp: TimestampHeader = "",
    ) -> dict[str, Any]:
        """National candidates at or above the threshold for an enrolment desk's probes."""
        body = await request.body()
        path = _signed_path(request)
        return await run_in_threadpool(
            service.search_for_site, site, path, timestamp, signature, body
        )

    @app.post("/v1/sync/keys")
    async def rotate_key(
        request: Request,
        service: Service,
        site: SiteHeader = "",
        timestamp: TimestampHeader = "",
        signature: SignatureHeader = "",
    ) -> dict[str, Any]:
        """The site's new key, signed with its current key and proved by the new one."""
        body = await request.body()
        path = _signed_path(request)
        return await run_in_threadpool(
            service.sites.rotate_key, site, path, timestamp, signature, body
        )


def _signed_path(request: Request) -> str:
    """The path with its query, as the site signed it."""
    url = request.url
    return url.path + (f"?{url.query}" if url.query else "")


def _officer_routes(app: FastAPI) -> None:
    @app.post("/v1/auth/login", response_model=LoginResponse)
    def login(body: LoginRequest, service: Service) -> LoginResponse:
        """A bearer token for an officer's shift."""
        token, officer = service.login(body.username, body.password)
        return LoginResponse(token=token, role=officer.role, region=officer.region)

    @app.post("/v1/auth/logout", status_code=204)
    def logout(request: Request, officer: OfficerDep, service: Service) -> Response:
        """End this token's session."""
        service.logout(request.headers["authorization"][7:].strip(), officer)
        return Response(status_code=204)

    @app.get("/v1/cases")
    def list_cases(officer: OfficerDep, service: Service, state: str = "open") -> dict[str, Any]:
        """Duplicate cases in one state (default: open), highest score first."""
        return {"cases": service.list_cases(officer, state)}

    @app.post("/v1/cases/{case_id}/decision")
    def decide(
        case_id: int, body: DecisionRequest, officer: OfficerDep, service: Service
    ) -> dict[str, Any]:
        """Same person (merge) or not."""
        return service.decide_case(case_id, body.decision, officer, body.reason)

    @app.post("/v1/transfers")
    def transfer(body: TransferRequest, officer: OfficerDep, service: Service) -> dict[str, Any]:
        """Move an inmate to another site."""
        return service.transfer(body.identity_id, body.to_site, officer, body.reason)

    @app.post("/v1/watchlist")
    def watchlist_add(
        body: WatchlistEntry, officer: OfficerDep, service: Service
    ) -> dict[str, Any]:
        """Add a person to the national watchlist."""
        return service.watchlist_add(body, officer)

    @app.post("/v1/identities/{identity_id}/photo-requests")
    def request_photo(
        identity_id: str,
        officer: OfficerDep,
        service: Service,
        body: PhotoRequestBody | None = None,
    ) -> JSONResponse:
        """Ask the owning site for the photo (201), or the request still open for it (200)."""
        request, created = service.request_photo(
            identity_id, officer, body.reason if body else None
        )
        return JSONResponse(request, status_code=201 if created else 200)

    @app.get("/v1/identities/{identity_id}/photo")
    def read_photo(identity_id: str, officer: OfficerDep, service: Service) -> Response:
        """The delivered photo's bytes, or 404 photo_not_available with the request's state."""
        data, content_type = service.photo(identity_id, officer)
        return Response(data, media_type=content_type, headers={"Cache-Control": "no-store"})

    @app.post("/v1/watchlist/{identity_id}/removal")
    def watchlist_remove(
        identity_id: uuid.UUID, body: WatchlistRemoval, officer: OfficerDep, service: Service
    ) -> dict[str, Any]:
        """Take a person off the national watchlist (a reason is required)."""
        return service.watchlist_remove(str(identity_id), officer, body.reason)

    @app.post("/v1/sites", status_code=201)
    def add_site(body: SiteRequest, officer: OfficerDep, service: Service) -> dict[str, Any]:
        """Register a site and its public key."""
        officer.require("sites.admin")
        service.add_site(body.id, body.name, body.region, body.public_key, officer.username)
        return body.model_dump()

    @app.post("/v1/sites/{site_id}/keys")
    def replace_site_key(
        site_id: str, body: SiteKeyRequest, officer: OfficerDep, service: Service
    ) -> dict[str, Any]:
        """Register a site's new key in its place (after a revocation)."""
        officer.require("sites.admin")
        return service.sites.replace_key(site_id, body.public_key, officer.username, body.reason)

    @app.post("/v1/sites/{site_id}/keys/revocation")
    def revoke_site_key(
        site_id: str, body: SiteKeyRevocation, officer: OfficerDep, service: Service
    ) -> dict[str, Any]:
        """Refuse a site key from now on (default: every key the site still has)."""
        officer.require("sites.admin")
        return service.sites.revoke_key(site_id, body.public_key, officer.username, body.reason)

    @app.get("/v1/reports/sites")
    def site_reports(officer: OfficerDep, service: Service) -> dict[str, Any]:
        """Per site: arrivals, refusals, quarantined batches, pending cases, last contact."""
        return {"sites": service.site_reports(officer)}

    @app.get("/v1/reports/sites/{site_id}")
    def site_report(site_id: str, officer: OfficerDep, service: Service) -> dict[str, Any]:
        """One site's report; a site outside a monitor's region does not exist for it."""
        found = service.site_reports(officer, site_id)
        if not found:
            raise RegistryNotFound.missing("site", site_id)
        return found[0]


def create_registry_app(
    settings: RegistrySettings | None = None, service: RegistryService | None = None
) -> FastAPI:
    """The registry service, configured once from settings."""
    service = service or RegistryService(settings or RegistrySettings())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(service.start)
        yield

    app = FastAPI(title="Gerbang central registry", version="0.1.0", lifespan=lifespan)
    app.state.service = service
    install_error_handlers(app)
    app.add_middleware(StrictTransportSecurity)

    @app.get("/v1/health")
    def health() -> dict[str, Any]:
        """Liveness, and what the national gallery holds."""
        policy = service.policy
        return {"status": "ok", "templates": len(service.gallery.index), "pack": policy.pack_id,
                "threshold": policy.threshold, "target_fmr": policy.target_fmr}  # fmt: skip

    @app.get("/pusat", include_in_schema=False)
    def central_page() -> FileResponse:
        """The central officers' page: duplicate cases with photos on request, site reports."""
        return page(WEB_DIR / "pusat.html")

    _sync_routes(app)
    _officer_routes(app)
    mount_assets(app, WEB_DIR)  # the page's script and style, after the API routes
    return app
