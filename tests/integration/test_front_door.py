"""What a browser meets at each service's own address, on real `gerbang serve` and `gerbang
registry serve` processes over loopback HTTP: the index at `/`, the icon, the API documents
(/docs, /redoc) served from this machine, the page addresses printed at start, and an access log without secrets.

The site runs without models (it serves its pages and answers /health meanwhile) and the registry
on its SQLite default under a scratch folder, so both start in seconds.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.integration.test_admin_commands import gerbang
from tests.integration.test_sync_processes import _free_port, _spawn, _stop, _wait_for

SECRETS = ("S3CRET-DEVICE-KEY", "S3CRET-TOKEN", "S3CRET-PASSWORD")


@dataclass
class Service:
    """One running service: its name, base URL, page paths and the file its output goes to."""

    name: str
    url: str
    pages: tuple[str, ...]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _scratch_env(tmp: Path) -> dict[str, str]:
    """This environment without any EDGE_/REGISTRY_ setting, so the defaults under tmp apply."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EDGE_", "REGISTRY_"))}
    return {**env, "EDGE_DATA_DIR": str(tmp / "site"), "EDGE_MODEL_DIR": str(tmp / "no-models"),
            "EDGE_FETCH_MODELS": "false", "EDGE_SITE_ID": "UPT-FRONT"}  # fmt: skip


def start_services(tmp: Path) -> Iterator[dict[str, Service]]:
    """A site and a registry process; yields them by name and stops them afterwards."""
    env = _scratch_env(tmp)
    site_port, registry_port = _free_port(), _free_port()
    site = Service("site", f"http://127.0.0.1:{site_port}", ("/desk", "/gate", "/ready", "/docs"),
                   tmp / "site.log")  # fmt: skip
    registry = Service("registry", f"http://127.0.0.1:{registry_port}",
                       ("/pusat", "/v1/health", "/docs"), tmp / "registry.log")  # fmt: skip
    registry_args = ["registry", "serve", "--port", str(registry_port)]
    processes = [
        _spawn(env, ["serve", "--port", str(site_port)], f"{site.url}/health", site.log, tmp),
        _spawn(env, registry_args, f"{registry.url}/v1/health", registry.log, tmp),
    ]
    try:
        yield {"site": site, "registry": registry}
    finally:
        for process in processes:
            _stop(process)


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Service]]:
    yield from start_services(tmp_path_factory.mktemp("front-door"))


@pytest.fixture(params=["site", "registry"])
def service(request: pytest.FixtureRequest, services: dict[str, Service]) -> Service:
    return services[request.param]


def test_a_secret_in_the_query_never_reaches_the_access_log(service: Service) -> None:
    target = ("/gate?gate=main&key=S3CRET-DEVICE-KEY" if service.name == "site"
              else "/pusat?Token=S3CRET-TOKEN&x=1&password=S3CRET-PASSWORD")  # fmt: skip
    assert httpx.get(service.url + target, timeout=30).status_code == 200
    logged = re.escape(target.partition("?")[0])
    line = _wait_for(lambda: re.search(f'"GET {logged}\\?[^"]*"', service.output()),
                     "the request's line in the access log")  # fmt: skip
    if service.name == "site":
        assert line.group(0) == '"GET /gate?gate=main&key=REDACTED HTTP/1.1"'
    else:
        assert line.group(0) == '"GET /pusat?Token=REDACTED&x=1&password=REDACTED HTTP/1.1"'
    assert not any(secret in service.output() for secret in SECRETS)


def test_serve_prints_each_page_address_at_start(service: Service) -> None:
    printed = service.output()
    assert "Halaman / Pages:" in printed
    for path in ("/", *service.pages):
        assert re.search(f"^  {re.escape(service.url + path)} ", printed, re.MULTILINE), path


def test_the_root_is_an_index_of_the_pages_in_both_languages(service: Service) -> None:
    index = httpx.get(service.url + "/", timeout=30)
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in index.headers["content-security-policy"]
    assert re.findall(r'<a href="([^"]+)"', index.text) == list(service.pages)
    assert '<html lang="id">' in index.text and 'class="en"' in index.text
    for path in service.pages:  # every link leads somewhere (/ready is 503 without models)
        assert httpx.get(service.url + path, timeout=30).status_code in (200, 503), path
    for sheet in re.findall(r'<link rel="stylesheet" href="([^"]+)"', index.text):
        assert httpx.get(service.url + sheet, timeout=30).status_code == 200, sheet


def test_the_favicon_is_an_icon(service: Service) -> None:
    answer = httpx.get(service.url + "/favicon.ico", timeout=30)
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/x-icon"
    icon = Image.open(io.BytesIO(answer.content))
    assert icon.format == "ICO" and icon.size == (32, 32)


@pytest.mark.parametrize(("path", "script"), [("/docs", "swagger-ui-bundle.js"),
                                              ("/redoc", "redoc.standalone.js")])  # fmt: skip
def test_the_api_document_loads_its_scripts_from_this_machine(
    service: Service, path: str, script: str
) -> None:
    docs = httpx.get(service.url + path, timeout=30)
    assert docs.status_code == 200
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", docs.text)
    assert f"/web/swagger-ui/{script}" in assets and "/favicon.ico" in assets
    assert all(asset.startswith("/") for asset in assets), assets  # no CDN, no other host
    for asset in assets:
        assert httpx.get(service.url + asset, timeout=30).status_code == 200, asset
    assert httpx.get(service.url + "/openapi.json", timeout=30).status_code == 200


def test_a_second_serve_on_a_taken_port_says_so_in_both_languages_before_anything_else(
    service: Service, tmp_path: Path
) -> None:
    port = service.url.rsplit(":", 1)[1]
    command = ["serve"] if service.name == "site" else ["registry", "serve"]
    second = gerbang(_scratch_env(tmp_path), *command, "--port", port)
    assert second.returncode == 2, second.stdout + second.stderr
    assert "error [port_in_use]: Alamat dan port ini sudah dipakai" in second.stderr
    assert "already taken by another program" in second.stderr
    assert "Traceback" not in second.stderr and "http://" not in second.stdout  # no page list


def test_head_gets_the_get_answer_without_its_body(service: Service) -> None:
    """Probes and `curl -I` send HEAD: the same status and headers as GET, no body."""
    for path in ("/", *service.pages[:2], "/favicon.ico"):
        got = httpx.get(f"{service.url}{path}", timeout=30)
        head = httpx.head(f"{service.url}{path}", timeout=30)
        assert (head.status_code, head.content) == (got.status_code, b""), path
        assert head.headers.get("content-type") == got.headers.get("content-type"), path
    missing = httpx.head(f"{service.url}/no-such-page", timeout=30)
    assert (missing.status_code, missing.content) == (404, b"")
