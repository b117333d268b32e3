"""Serving the officers' pages: the headers every page carries and the assets both services share.

Everything a page needs ships in the packages, so a site without internet serves it whole; the
Content-Security-Policy keeps the browser from loading anything from elsewhere. Shared modules
(API client, i18n, DOM helpers, common style) are served at `/web/shared/`, each app's own at
`/web/`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

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


def mount_assets(app: FastAPI, own_dir: Path) -> None:
    """Serve the shared assets at /web/shared/ and the app's own at /web/ (shared first)."""
    app.mount("/web/shared", StaticFiles(directory=SHARED_WEB_DIR), name="web-shared")
    app.mount("/web", StaticFiles(directory=own_dir), name="web")
