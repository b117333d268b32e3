"""The registry's HTTP application: `create_registry_app(settings)` assembles it once.

The routes live in registry/routes, one APIRouter per concern. Sites call `/v1/sync/*` with
signed requests (see site_auth); officers sign in at `/v1/auth/login` and every other officer
operation passes the one route policy (registry/routes/access.py). Their page is `/pusat`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from httpkit.access_log import redact_access_log
from httpkit.errors import install_error_handlers
from httpkit.front_door import install_front_door, offline_docs_app
from httpkit.head import HeadAsGet
from httpkit.limits import RequestLimits
from httpkit.metrics import MetricsMiddleware
from httpkit.pages import mount_assets
from httpkit.tls import StrictTransportSecurity
from registry.metrics import RegistryMetrics
from registry.routes import access, auth, cases, health, identities, reports, sites, sync, watchlist
from registry.routes.health import PAGES, TITLE, WEB_DIR
from registry.service import RegistryService
from registry.settings import RegistrySettings

log = logging.getLogger(__name__)
ROUTERS = (health, sync, auth, cases, identities, watchlist, sites, reports)


async def _checkpoint_periodically(service: RegistryService) -> None:
    """Sign an audit checkpoint at start and then every REGISTRY_AUDIT_CHECKPOINT_MINUTES."""
    while True:
        try:
            await run_in_threadpool(service.checkpoint_audit)
        except Exception:  # a failed checkpoint must not stop the registry; the next one retries
            log.exception("audit checkpoint failed")
        await asyncio.sleep(service.settings.audit_checkpoint_minutes * 60)


def create_registry_app(
    settings: RegistrySettings | None = None, service: RegistryService | None = None
) -> FastAPI:
    """The registry service, configured once from settings."""
    service = service or RegistryService(settings or RegistrySettings())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(service.start)
        service.follow_replicas()
        checkpoints = asyncio.create_task(_checkpoint_periodically(service))
        yield
        checkpoints.cancel()
        await run_in_threadpool(service.stop)

    routers = [module.router for module in ROUTERS]
    access.check_policy(routers)
    redact_access_log()  # a secret typed into a query must not reach the server's log
    app = offline_docs_app(
        title="Gerbang central registry",
        version="0.1.0",
        lifespan=lifespan,
        generate_unique_id_function=access.operation_id,
    )
    app.state.service = service
    app.state.metrics = RegistryMetrics()
    install_error_handlers(app)
    for router in routers:
        app.include_router(router)
    app.add_middleware(StrictTransportSecurity)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(RequestLimits, limits=service.body_limits())  # outermost: before reading
    app.add_middleware(HeadAsGet)  # probes sending HEAD get the GET answer's status, no body
    install_front_door(app, *TITLE, PAGES)  # `/` and the icon
    mount_assets(app, WEB_DIR)  # the page's script and style, after the API routes
    return app
