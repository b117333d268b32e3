"""What a browser finds at a service's own address: an index of its pages at `/`, an icon at
`/favicon.ico`, and the API document at `/docs` with Swagger UI served from this machine.

`gerbang serve` prints `http://127.0.0.1:8080`, so `/` is the first thing an installer opens: it
names each page in Indonesian and English with a line on what it is for. FastAPI's own `/docs`
and `/redoc` load Swagger UI and ReDoc from a CDN, which a site without internet cannot reach;
here their files come from the `fastapi-offline` package (MIT; Swagger UI 5, which reads the
OpenAPI 3.1 document FastAPI writes) and are served at `/web/swagger-ui/`.
"""

from __future__ import annotations

import html
import io
import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from PIL import Image, ImageDraw
from starlette.responses import Response

from httpkit.pages import ASSET_HEADERS, PAGE_HEADERS

log = logging.getLogger(__name__)
SWAGGER_UI_PATH = "/web/swagger-ui"
BLUE = (11, 92, 173, 255)  # common.css --blue


@dataclass(frozen=True)
class PageLink:
    """One page of a service, as the index and `serve`'s start-up lines name it."""

    path: str
    name_id: str
    name_en: str
    about_id: str
    about_en: str


# Both services serve their API document offline at the same path (offline_docs_app).
DOCS_LINK = PageLink(
    "/docs", "Dokumen API", "API document",
    "Setiap operasi, jawabannya dan kode kesalahannya; terbuka tanpa internet.",
    "Every operation, its answer and its error codes; opens without internet.",
)  # fmt: skip


def _link_item(link: PageLink) -> str:
    e = html.escape
    return (
        f'<li><a href="{e(link.path)}"><strong>{e(link.name_id)}</strong> '
        f'<span class="en">{e(link.name_en)}</span> <code>{e(link.path)}</code></a>'
        f'<p>{e(link.about_id)}<br><span class="en">{e(link.about_en)}</span></p></li>'
    )


def index_html(title_id: str, title_en: str, links: tuple[PageLink, ...]) -> str:
    """The index page: both languages at once, no script (the page CSP allows none inline)."""
    items = "\n".join(_link_item(link) for link in links)
    return f"""<!doctype html>
<html lang="id">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Gerbang — {html.escape(title_id)}</title>
  <link rel="stylesheet" href="/web/shared/common.css">
  <link rel="stylesheet" href="/web/shared/index.css">
</head>
<body>
  <header class="bar"><h1>{html.escape(title_id)} <span class="en">{html.escape(title_en)}</span></h1></header>
  <main class="card index">
    <ul data-testid="index-pages">
{items}
    </ul>
  </main>
</body>
</html>
"""


@cache
def favicon_ico() -> bytes:
    """A small gate on the house blue, drawn once: 16 and 32 pixels in one ICO."""
    image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, 63, 63), radius=12, fill=BLUE)
    draw.rectangle((12, 14, 52, 20), fill="white")  # the lintel
    for left in (12, 24, 36, 46):  # the bars
        draw.rectangle((left, 14, left + 6, 52), fill="white")
    buffer = io.BytesIO()
    image.save(buffer, format="ICO", sizes=[(16, 16), (32, 32)])
    return buffer.getvalue()


def offline_docs_app(**settings: Any) -> FastAPI:
    """A FastAPI app whose `/docs` and `/redoc` load their scripts from this machine."""
    try:
        from fastapi_offline import FastAPIOffline
    except ImportError:  # an environment installed before the dependency: the CDN, as FastAPI does
        log.warning("fastapi-offline is not installed: /docs needs internet (pip install -e .)")
        return FastAPI(**settings)
    return FastAPIOffline(static_url=SWAGGER_UI_PATH, favicon_url="/favicon.ico", **settings)


def install_front_door(
    app: FastAPI, title_id: str, title_en: str, links: tuple[PageLink, ...]
) -> None:
    """`/` and `/favicon.ico` (the app comes from `offline_docs_app`, which serves `/docs`)."""
    page_text = index_html(title_id, title_en, links)

    @app.get("/", include_in_schema=False)
    def index() -> HTMLResponse:
        """The service's pages, each with a line on what it is for."""
        return HTMLResponse(page_text, headers=PAGE_HEADERS)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        """The icon every browser asks for."""
        return Response(favicon_ico(), media_type="image/x-icon", headers=ASSET_HEADERS)


def start_lines(base_url: str, links: tuple[PageLink, ...]) -> str:
    """What `serve` prints before it starts: the index and each page, full address and names."""
    rows = [(f"{base_url}/", "Daftar halaman / Index of pages")]
    rows += [(base_url + link.path, f"{link.name_id} / {link.name_en}") for link in links]
    width = max(len(address) for address, _ in rows)
    return "\n".join(["Halaman / Pages:", *(f"  {a:<{width}}  {name}" for a, name in rows)])
