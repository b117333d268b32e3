"""The site service's HTTP application: `create_app(settings)` builds it once, with its Site.

The models load at start-up; if one is missing the service still starts, answers health,
reports not-ready with the exact fix, and every face endpoint answers 503 `model_not_ready`.
With EDGE_SYNC__REGISTRY_URL set, the site agent runs in a background thread of the service
(edge.sync_runner), so pulled changes reach the live gallery, and the enrolment desk's
duplicate check also asks the registry (site_sync.national_lookup).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from edge.routes import (
    admin,
    captures,
    faces,
    fingers,
    gate,
    identities,
    imports,
    readers,
    system,
    web,
)
from edge.settings import Settings
from edge.site import Site
from edge.sync_cli import site_key
from edge.sync_runner import SyncRunner
from enrollment.site_identity import claim_site
from httpkit.access_log import redact_access_log
from httpkit.errors import install_error_handlers
from httpkit.front_door import install_front_door, offline_docs_app
from httpkit.head import HeadAsGet
from httpkit.limits import BodyLimits, RequestLimits
from httpkit.metrics import MetricsMiddleware
from httpkit.pages import mount_assets
from httpkit.tls import StrictTransportSecurity
from httpkit.work import WorkQueue
from site_sync.follow import following
from site_sync.national_lookup import NationalLookup


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
        sync.registry_url,
        site.settings.site_id,
        key,
        sync.search_timeout_seconds,
        sync.registry_ca_file,
    )
    site.enrolment.national = lookup
    return lookup


def create_app(settings: Settings | None = None, site: Site | None = None) -> FastAPI:
    """The service, configured once from settings."""
    settings = settings or Settings()
    site = site or Site(settings)
    claim_site(site.db, settings.site_id)  # the service, with the site's settings, records its code

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(site.start)
        runner = _sync_runner(site)
        lookup = _national_lookup(site)
        with following(site.gallery_feed, settings.gallery_follow_seconds):
            yield
        if lookup is not None:
            site.enrolment.national = None
            lookup.close()
        if runner is not None:
            await run_in_threadpool(runner.stop)
        site.close()

    redact_access_log()  # a device key typed as ?key= must not reach the server's log
    app = offline_docs_app(title="Gerbang site service", version="0.2.0", lifespan=lifespan)
    app.state.site = site
    app.state.metrics = site.metrics
    app.state.work = WorkQueue(settings.work.limits())  # heavy work bounded, the gate first
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(StrictTransportSecurity)
    limits = BodyLimits(settings.max_json_bytes, settings.upload_bytes)
    app.add_middleware(RequestLimits, limits=limits)  # outermost: refused before anything reads
    app.add_middleware(HeadAsGet)  # probes sending HEAD get the GET answer's status, no body
    install_error_handlers(app)
    for module in (
        system,
        faces,
        identities,
        captures,
        imports,
        admin,
        gate,
        fingers,
        readers,
        web,
    ):
        app.include_router(module.router)
    install_front_door(app, *web.TITLE, web.PAGES)
    mount_assets(app, web.WEB_DIR)
    return app
