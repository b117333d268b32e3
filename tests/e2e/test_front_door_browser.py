"""The services' front doors in Chromium with no route off this machine: `/docs` renders every
operation from local files, the index leads to the pages and nothing they load is missing, and a
key typed into the kiosk's query is refused with what to do about it. (Headless Chromium asks for
no favicon: tests/integration/test_front_door.py checks /favicon.ico.)

The servers are real `gerbang serve` and `gerbang registry serve` processes
(tests/integration/test_front_door.py); every request for another host is aborted and recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import CHROMIUM_FLAGS, PAGE_WAIT_MS, _chromium, _playwright, expect
from tests.integration.test_front_door import Service, start_services

pytestmark = pytest.mark.e2e
LOCAL = "http://127.0.0.1:"


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Service]]:
    yield from start_services(tmp_path_factory.mktemp("front-door-browser"))


class Browser:
    """One page in a Chromium that cannot leave loopback; it records what went wrong."""

    def __init__(self, playwright: Any) -> None:
        self.browser = playwright.chromium.launch(
            executable_path=str(_chromium()), args=CHROMIUM_FLAGS
        )
        self.page = self.browser.new_page()
        self.page.set_default_timeout(PAGE_WAIT_MS)
        self.offsite: list[str] = []
        self.missing: list[str] = []
        self.errors: list[str] = []
        self.page.route("**/*", self._only_local)
        self.page.on("response", self._response)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _only_local(self, route: Any) -> None:
        if route.request.url.startswith(LOCAL):
            route.continue_()
        else:
            self.offsite.append(route.request.url)
            route.abort()

    def _response(self, response: Any) -> None:
        if response.status == 404:
            self.missing.append(response.url)


@pytest.fixture
def browser(services: dict[str, Service]) -> Iterator[Browser]:
    sync_api = _playwright()
    with sync_api.sync_playwright() as playwright:
        opened = Browser(playwright)
        yield opened
        opened.browser.close()
    assert opened.offsite == [], opened.offsite
    assert opened.errors == [], opened.errors


@pytest.mark.parametrize(
    ("name", "operation"), [("site", "/v1/identify"), ("registry", "/v1/cases")]
)
def test_the_api_document_shows_every_operation_without_internet(
    browser: Browser, services: dict[str, Service], name: str, operation: str
) -> None:
    service = services[name]
    browser.page.goto(f"{service.url}/docs")
    paths = browser.page.locator(".opblock-summary-path")
    expect(paths.filter(has_text=operation).first).to_be_visible()
    assert paths.count() > 10
    assert browser.missing == []


@pytest.mark.parametrize("name", ["site", "registry"])
def test_the_index_leads_to_the_officers_page_and_nothing_is_missing(
    browser: Browser, services: dict[str, Service], name: str
) -> None:
    service = services[name]
    browser.page.goto(f"{service.url}/")
    first = service.pages[0]
    browser.page.locator(f'a[href="{first}"]').click()
    browser.page.wait_for_url(f"{service.url}{first}")
    expect(browser.page.get_by_test_id("lang-toggle")).to_be_visible()  # the page is running
    assert browser.missing == []


def test_a_key_typed_into_the_kiosk_query_is_called_exposed_with_the_fix(
    browser: Browser, services: dict[str, Service]
) -> None:
    site = services["site"]
    browser.page.goto(f"{site.url}/gate?gate=main&key=S3CRET-DEVICE-KEY")
    error = browser.page.get_by_test_id("error-message")
    expect(error).to_contain_text("anggap kunci itu bocor")
    expect(error).to_contain_text("gerbang devices rekey")
    assert "S3CRET" not in browser.page.url  # the key is gone from the address bar
    browser.page.get_by_test_id("lang-toggle").click()
    expect(error).to_contain_text("treat it as exposed")
    expect(error).to_contain_text("gerbang devices rekey")
