"""The site service's HTTP application: `create_app(settings)` builds it once, with its Site.

The models load at start-up; if one is missing the service still starts, answers health,
reports not-ready with the exact fix, and every face endpoint answers 503 `model_not_ready`.
With EDGE_SYNC__REGISTRY_URL set, the site agent runs in a background thread of the service
(gallery_sync.sync_runner), so pulled changes reach the live gallery, and the enrolment desk's
duplicate check also asks the registry (gallery_sync.national_lookup).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from edge.errors import EdgeError, InputError, Message
from edge.metrics import MetricsMiddleware
from edge.routes import admin, captures, faces, fingers, gate, identities, system, web
from edge.settings import Settings
from edge.site import Site
from gallery_sync.national_lookup import NationalLookup
from gallery_sync.sync_cli import site_key
from gallery_sync.sync_runner import SyncRunner


def _error_response(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EdgeError)
    return JSONResponse(exc.to_payload(), status_code=exc.status)


def _validation_response(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    error = InputError(
        Message(
            "Permintaan tidak lengkap atau salah format.", "The request is incomplete or malformed."
        ),
        {"problems": [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]},
    )
    return _error_response(request, error)


def _sync_runner(site: Site) -> SyncRunner | None:
    """With EDGE_SYNC__REGISTRY_URL set, the site agent started in the background; else None."""
    if site.settings.sync.registry_url is None:
        return None
    runner = SyncRunner(site, site.settings.sync)
    runner.start()
    return runner


def _national_lookup(site: Site) -> NationalLookup | None:
    """With EDGE_SYNC__REGISTRY_URL set, the desk's duplicate check also asks the registry."""
    sync = site.settings.sync
    if sync.registry_url is None:
        return None
    key = site_key(site.settings)
    lookup = NationalLookup.connect(
        sync.registry_url, site.settings.site_id, key, sync.search_timeout_seconds
    )
    site.enrolment.national = lookup
    return lookup


def create_app(settings: Settings | None = None, site: Site | None = None) -> FastAPI:
    """The service, configured once from settings."""
    settings = settings or Settings()
    site = site or Site(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(site.start)
        runner = _sync_runner(site)
        lookup = _national_lookup(site)
        yield
        if lookup is not None:
            site.enrolment.national = None
            lookup.close()
        if runner is not None:
            await run_in_threadpool(runner.stop)
        site.close()

    app = FastAPI(title="Gerbang site service", version="0.2.0", lifespan=lifespan)
    app.state.site = site
    app.state.metrics = site.metrics
    app.add_middleware(MetricsMiddleware)
    app.add_exception_handler(EdgeError, _error_response)
    app.add_exception_handler(RequestValidationError, _validation_response)
    for module in (system, faces, identities, captures, admin, gate, fingers, web):
        app.include_router(module.router)
    return app
