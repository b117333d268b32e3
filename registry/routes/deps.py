"""What every registry route may ask FastAPI for: the service, and the headers a site signs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from registry.service import RegistryService


def service_of(request: Request) -> RegistryService:
    """The RegistryService the app was built with."""
    service: RegistryService = request.app.state.service
    return service


Service = Annotated[RegistryService, Depends(service_of)]

# Missing site headers arrive as "" so the refusal is 401 sync_unauthenticated, not a 422.
SiteHeader = Annotated[str, Header(alias="X-Gerbang-Site", max_length=40)]
SignatureHeader = Annotated[str, Header(alias="X-Gerbang-Signature", max_length=200)]
TimestampHeader = Annotated[str, Header(alias="X-Gerbang-Timestamp", max_length=60)]


def signed_path(request: Request) -> str:
    """The path with its query, as the site signed it."""
    url = request.url
    return url.path + (f"?{url.query}" if url.query else "")


SignedPath = Annotated[str, Depends(signed_path)]
