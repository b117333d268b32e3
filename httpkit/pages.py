"""Serving the officers' pages: the headers every page carries and the assets both services share.

Everything a page needs ships in the packages, so a site without internet serves it whole; the
Content-Security-Policy keeps the browser from loading anything from elsewhere. The pages are
native ES modules with no build step (`<script type="module">`, no inline script): the shared ones
(API client, i18n, vocabulary, camera and DOM helpers, common style) are served at `/web/shared/`,
each app's own at `/web/`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

SHARED_WEB_DIR = Path(__file__).resolve().parent / "web"

# Same origin only; photos of record arrive as blob: URLs and the camera as a MediaStream.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob:; media-src 'self' blob: mediastream:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def page(path: Path) -> FileResponse:
    """An HTML page with the house headers."""
    return FileResponse(path, media_type="text/html", headers=PAGE_HEADERS)


# Modules import each other by name, so after an upgrade a browser must not mix cached and new
# ones: it revalidates every asset (a cheap 304 when unchanged).
ASSET_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


class Assets(StaticFiles):
    """Static files with the asset headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(ASSET_HEADERS)
        return response


def mount_assets(app: FastAPI, own_dir: Path) -> None:
    """Serve the shared assets at /web/shared/ and the app's own at /web/ (shared first)."""
    app.mount("/web/shared", Assets(directory=SHARED_WEB_DIR), name="web-shared")
    app.mount("/web", Assets(directory=own_dir), name="web")
