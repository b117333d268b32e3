"""The enrolment desk and gate kiosk pages: HTML files with their script and style, served from
the package.

Everything the page needs ships in `edge/web/`, so a site without internet serves it whole; the
Content-Security-Policy keeps the browser from loading anything from elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

WEB_DIR = Path(__file__).resolve().parent.parent / "web"

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

router = APIRouter()
router.mount("/web", StaticFiles(directory=WEB_DIR), name="web")


@router.get("/desk", include_in_schema=False)
def desk() -> FileResponse:
    """The enrolment desk: sign in, capture with live feedback, check duplicates, save."""
    return FileResponse(WEB_DIR / "desk.html", media_type="text/html", headers=PAGE_HEADERS)


@router.get("/gate", include_in_schema=False)
def gate() -> FileResponse:
    """The gate kiosk: visitor entry and exit, staff in/out, results nobody can misread."""
    return FileResponse(WEB_DIR / "gate.html", media_type="text/html", headers=PAGE_HEADERS)
