"""The enrolment desk and gate kiosk pages, served from `edge/web/` with the house headers, and
the list of the site's pages that its index at `/` and `gerbang serve` show."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from httpkit.front_door import DOCS_LINK, PageLink
from httpkit.pages import page

WEB_DIR = Path(__file__).resolve().parent.parent / "web"

router = APIRouter()

TITLE = ("Layanan UPT", "Site service")
PAGES = (
    PageLink("/desk", "Meja Pendaftaran", "Enrolment desk",
             "Petugas mendaftarkan Warga Binaan, pengunjung dan petugas: foto, sidik jari, cek duplikat.",
             "Officers enrol inmates, visitors and staff: photos, fingerprints, duplicate check."),
    PageLink("/gate", "Kios Gerbang", "Gate kiosk",
             "Untuk terminal gerbang: /gate?gate=ID-GERBANG#key=KUNCI (kunci dari perintah gerbang devices add, ditulis setelah #).",
             "For a gate terminal: /gate?gate=GATE-ID#key=KEY (the key from the command gerbang devices add, written after #)."),
    PageLink("/ready", "Kesiapan layanan", "Service readiness",
             "JSON: model dan galeri siap, atau apa yang harus diperbaiki.",
             "JSON: models and gallery loaded, or what to fix."),
    DOCS_LINK,
)  # fmt: skip


@router.get("/desk", include_in_schema=False)
def desk() -> FileResponse:
    """The enrolment desk: sign in, capture with live feedback, check duplicates, save."""
    return page(WEB_DIR / "desk.html")


@router.get("/gate", include_in_schema=False)
def gate() -> FileResponse:
    """The gate kiosk: visitor entry and exit, staff in/out, results nobody can misread."""
    return page(WEB_DIR / "gate.html")
