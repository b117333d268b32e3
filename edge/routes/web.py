"""The enrolment desk and gate kiosk pages, served from `edge/web/` with the house headers."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from httpkit.pages import page

WEB_DIR = Path(__file__).resolve().parent.parent / "web"

router = APIRouter()


@router.get("/desk", include_in_schema=False)
def desk() -> FileResponse:
    """The enrolment desk: sign in, capture with live feedback, check duplicates, save."""
    return page(WEB_DIR / "desk.html")


@router.get("/gate", include_in_schema=False)
def gate() -> FileResponse:
    """The gate kiosk: visitor entry and exit, staff in/out, results nobody can misread."""
    return page(WEB_DIR / "gate.html")
