"""The central registry's page (/pusat) in a real Chromium against a real registry on PostgreSQL,
served by uvicorn on a loopback port, with sites pushing signed batches over HTTP.

An adjudicator signs in, sees the duplicate case the same real face at two sites opened, asks
the owning site for a photo, sees it arrive after the site's next push, and merges with a reason.
A regional monitor sees only its own region's sites, the silent one marked, and no cases.
A central admin bans a face nationally from a photo, with a reason, and lifts the ban; then bans
a person from two fingerprint images (a face photo in a finger's place is refused first).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from registry.app import create_registry_app
from registry.service import RegistryService
from registry.settings import RegistrySettings
from tests.e2e.conftest import CHROMIUM_FLAGS, PAGE_WAIT_MS, _chromium, _playwright, expect
from tests.e2e.guide_shots import save_for_guide
from tests.integration import test_registry as shared
from tests.integration import test_registry_fingers as finger_shared
from tests.integration.test_registry import PASSWORD, Registry, _random_unit
from tests.integration.test_registry_fingers import _finger
from tests.integration.test_registry_photos import provided, requested

ID_MONTHS = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
             "September", "Oktober", "November", "Desember")  # fmt: skip
EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December")  # fmt: skip

# The registry module's fixtures, used here by name (a fresh database for this module).
database_url, face_vectors = shared.database_url, shared.face_vectors
prints = finger_shared.prints

pytestmark = [pytest.mark.model, pytest.mark.e2e]

PHOTO = "facerec-obama"  # the person whose templates face_vectors holds


class RegistryServer:
    """The registry app on a loopback port, run by uvicorn in a background thread."""

    def __init__(self, service: RegistryService) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        app = create_registry_app(service.settings, service)
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def __enter__(self) -> RegistryServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "registry did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()


@pytest.fixture(scope="module")
def registry(
    database_url: str, model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    """A registry with one account per role and the face models, reached over real HTTP."""
    cache = tmp_path_factory.mktemp("registry-model-cache")
    settings = RegistrySettings(
        database_url=database_url, model_dir=model_dir, model_cache_dir=cache
    )
    service = RegistryService(settings)
    with RegistryServer(service) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        tokens = {}
        for user, role, region in (("admin", "central_admin", None), ("judge", "adjudicator", None),
                                   ("jabar", "kanwil_monitor", "KW-JABAR")):  # fmt: skip
            service.add_account(user, role, PASSWORD, region)
            login = client.post("/v1/auth/login", json={"username": user, "password": PASSWORD})
            tokens[user] = {"Authorization": f"Bearer {login.json()['token']}"}
        yield Registry(client, service, database_url, tokens)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def page(registry: Registry) -> Iterator[Any]:
    sync_api = _playwright()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(_chromium()), args=CHROMIUM_FLAGS)
        context = browser.new_context(base_url=str(registry.client.base_url))
        page = context.new_page()
        page.set_default_timeout(PAGE_WAIT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        yield page
        browser.close()
        assert errors == [], errors


def sign_in(page: Any, username: str) -> None:
    page.goto("/pusat")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()


def test_an_adjudicator_asks_for_a_photo_sees_it_and_merges(
    registry: Registry,
    page: Any,
    face_vectors: dict[str, Any],
    dev_faces: Path,
) -> None:
    site_a, site_b = registry.site("KW-JABAR"), registry.site("KW-JATIM")
    budi, enrolled_a = site_a.enrol("Budi Santoso", [face_vectors["a"]])
    bambang, enrolled_b = site_b.enrol("Bambang", [face_vectors["b"]])
    enrolled_b.payload["national_decisions"] = [  # what B's desk answered when shown Budi
        {"national_identity_id": budi, "decision": "same_person", "reason": "same scar",
         "officer": "desk-b", "score": face_vectors["score"]},
    ]  # fmt: skip
    assert registry.push(site_a, site_a.batch([enrolled_a])).status_code == 200
    assert registry.push(site_b, site_b.batch([enrolled_b])).status_code == 200

    sign_in(page, "judge")
    card = page.get_by_test_id("case-card")
    expect(card).to_have_count(1)
    expect(card.get_by_test_id("person-name")).to_have_text(["Budi Santoso", "Bambang"])
    expect(card.get_by_test_id("case-modality")).to_have_text(
        "Ditemukan lewat wajah (skor kemiripan wajah)."
    )
    expect(card.get_by_test_id("site-decisions")).to_contain_text(
        f"{site_b.id} (desk-b) menilai: orang yang sama. Alasan: same scar"
    )
    people = card.get_by_test_id("case-person")
    budi_slot = people.filter(has_text="Budi Santoso")
    budi_slot.get_by_test_id("request-photo").click()
    expect(budi_slot.get_by_test_id("photo-state")).to_contain_text(f"diminta dari {site_a.id}")

    [asked] = requested(registry, site_a)  # the site's next pull, then its answer in a push
    image = sorted((dev_faces / PHOTO).glob("*.jpg"))[0].read_bytes()
    answer = provided(site_a, budi, asked["request_id"], image)
    assert registry.push(site_a, site_a.batch([answer])).json()["applied"] == 1
    page.get_by_test_id("refresh").click()
    photo = budi_slot.get_by_test_id("person-photo")
    expect(photo).to_be_visible()
    assert photo.evaluate("img => img.naturalWidth") > 0  # the real JPEG, decoded
    save_for_guide(page, "registry-case", card)

    card.get_by_test_id("decide-same").click()  # no reason yet: refused on the page
    expect(page.get_by_test_id("error-message")).to_contain_text("alasan")
    card.get_by_test_id("case-reason").fill("same face, same birth date")
    card.get_by_test_id("decide-same").click()
    expect(page.get_by_test_id("notice")).to_contain_text("digabung")
    expect(page.get_by_test_id("no-cases")).to_be_visible()
    [(status,)] = registry.query("SELECT status FROM national_identities WHERE id = %s", bambang)
    assert status == "merged"
    page.get_by_test_id("lang-toggle").click()
    expect(page.get_by_test_id("no-cases")).to_have_text("No open cases.")
    page.get_by_test_id("sign-out").click()
    expect(page.get_by_test_id("login-form")).to_be_visible()
    signed_out = registry.query(
        "SELECT count(*) FROM audit WHERE action = 'officer.signed_out' AND actor = 'judge'"
    )
    assert signed_out == [(1,)]  # the page ended the session at the registry, not just locally


def test_a_regional_monitor_sees_its_own_sites_and_the_silent_one_stands_out(
    registry: Registry, page: Any
) -> None:
    quiet = registry.site("KW-JABAR")  # registered, never heard from
    elsewhere = registry.site("KW-BALI")
    sign_in(page, "jabar")
    expect(page.get_by_test_id("tab-cases")).to_be_hidden()
    rows = page.get_by_test_id("site-row")
    expect(rows.first).to_be_visible()
    shown = rows.evaluate_all("rows => rows.map(r => r.dataset.siteId)")
    assert quiet.id in shown and elsewhere.id not in shown
    regions = {r[0] for r in registry.query("SELECT region FROM sites WHERE id = ANY(%s)", shown)}
    assert regions == {"KW-JABAR"}
    quiet_row = page.locator(f"[data-site-id='{quiet.id}']")
    expect(quiet_row).to_have_class("silent")
    expect(quiet_row).to_contain_text("SILENT")  # the page is in English since the last test
    page.get_by_test_id("lang-toggle").click()  # the guide is in Indonesian
    expect(page.get_by_test_id("tab-cases")).to_be_hidden()
    # the first test's site A (the region's first) enrolled Budi: its day, in words
    expect(rows.first).to_contain_text("Pendaftaran: 1 Warga Binaan, 0 petugas, 0 pengunjung")
    expect(quiet_row).to_contain_text("Penolakan di gerbang: 0")
    save_for_guide(page, "registry-monitor")


def test_an_admin_bans_a_face_nationally_from_a_photo_and_lifts_it(
    registry: Registry, page: Any, dev_faces: Path
) -> None:
    page.get_by_test_id("sign-out").click()
    expect(page.get_by_test_id("login-form")).to_be_visible()  # signed out before the next sign-in
    sign_in(page, "admin")
    page.get_by_test_id("tab-watchlist").click()
    page.get_by_test_id("watchlist-name").fill("Buronan Foto")
    page.get_by_test_id("watchlist-reason").fill("melarikan diri saat sidang")
    page.get_by_test_id("watchlist-photos").set_input_files(str(dev_faces / PHOTO / "2.jpg"))
    page.get_by_test_id("watchlist-add").click()
    row = page.get_by_test_id("watchlist-row").filter(has_text="Buronan Foto")
    expect(row).to_contain_text("melarikan diri saat sidang")
    wanted = row.get_attribute("data-identity-id")
    [(status, templates)] = registry.query(
        "SELECT i.status, count(t.id) FROM national_identities i LEFT JOIN national_templates t"
        " ON t.identity_id = i.id WHERE i.id = %s GROUP BY i.status", wanted,
    )  # fmt: skip
    assert (status, templates) == ("banned", 1)
    month = date.today().month - 1
    expect(row).to_contain_text(ID_MONTHS[month])  # the date in the page's language
    page.get_by_test_id("lang-toggle").click()
    expect(row).to_contain_text(EN_MONTHS[month])
    page.get_by_test_id("lang-toggle").click()
    row.get_by_test_id("watchlist-remove-reason").fill("surat perintah dicabut")
    row.get_by_test_id("watchlist-remove").click()
    expect(page.get_by_test_id("notice")).to_contain_text("Buronan Foto")
    expect(page.get_by_test_id("watchlist-row").filter(has_text="Buronan Foto")).to_have_count(0)
    removed = registry.query(
        "SELECT actor, details->>'reason' FROM audit WHERE action = 'watchlist.removed' AND subject = %s",
        wanted,
    )
    assert removed == [("admin", "surat perintah dicabut")]


def test_an_admin_bans_a_person_nationally_from_fingerprint_images(
    registry: Registry, page: Any, dev_faces: Path, fingerprints: Path, nbis_library: Path
) -> None:
    """Signed in as the admin since the last test: two fingers, no photo; a face in a finger's
    place is refused with its number and finger named, and nothing is added."""
    page.get_by_test_id("watchlist-name").fill("Buronan Jari")
    page.get_by_test_id("watchlist-reason").fill("berkas kepolisian: DPO")
    rows = page.get_by_test_id("watchlist-finger")
    rows.nth(0).get_by_test_id("watchlist-finger-position").select_option("7")
    rows.nth(0).get_by_test_id("watchlist-finger-image").set_input_files(str(dev_faces / PHOTO / "2.jpg"))  # fmt: skip
    page.get_by_test_id("watchlist-add").click()
    expect(page.get_by_test_id("error-message")).to_contain_text("ke-1 (Telunjuk kiri)")
    expect(page.get_by_test_id("watchlist-row").filter(has_text="Buronan Jari")).to_have_count(0)

    db1 = fingerprints / "fvc2002-db1_b"
    rows.nth(0).get_by_test_id("watchlist-finger-image").set_input_files(str(db1 / "101_1.tif"))
    page.get_by_test_id("watchlist-add-finger").click()
    expect(rows.nth(1).get_by_test_id("watchlist-finger-position")).to_have_value("8")
    rows.nth(1).get_by_test_id("watchlist-finger-image").set_input_files(str(db1 / "102_1.tif"))
    page.get_by_test_id("watchlist-add").click()
    row = page.get_by_test_id("watchlist-row").filter(has_text="Buronan Jari")
    expect(row.get_by_test_id("watchlist-finger-count")).to_have_text("2 jari")
    wanted = row.get_attribute("data-identity-id")
    stored = registry.query(
        "SELECT position, extractor FROM national_fingers WHERE identity_id = %s ORDER BY position",
        wanted,
    )
    assert [position for position, _ in stored] == [7, 8]
    assert all(extractor.startswith("leader") for _, extractor in stored)  # the sites' default
    expect(rows).to_have_count(1)  # the form starts again from one finger
    row.get_by_test_id("watchlist-remove-reason").fill("uji selesai")  # leaves the finger index
    row.get_by_test_id("watchlist-remove").click()
    expect(page.get_by_test_id("watchlist-row").filter(has_text="Buronan Jari")).to_have_count(0)


def test_an_adjudicator_sees_that_fingers_found_a_case(
    registry: Registry, page: Any, prints: dict[str, Any]
) -> None:
    page.get_by_test_id("sign-out").click()
    expect(page.get_by_test_id("login-form")).to_be_visible()
    site_a, site_b = registry.site(), registry.site()
    cahya, enrolled_a = site_a.enrol("Cahya Jari", [_random_unit(301)])
    dimas, enrolled_b = site_b.enrol("Dimas Jari", [_random_unit(302)])  # faces nothing alike
    finger_a = _finger(site_a, cahya, prints["a"], 2, 1)
    assert registry.push(site_a, site_a.batch([enrolled_a, finger_a])).status_code == 200
    finger_b = _finger(site_b, dimas, prints["b"], 7, 1)
    assert registry.push(site_b, site_b.batch([enrolled_b, finger_b])).status_code == 200

    sign_in(page, "judge")
    card = page.get_by_test_id("case-card").filter(has_text="Cahya Jari")
    expect(card.get_by_test_id("person-name")).to_have_text(["Cahya Jari", "Dimas Jari"])
    modality = card.get_by_test_id("case-modality")
    expect(modality).to_contain_text(": 1).")  # one finger record compared: Cahya's
    shown = {modality.inner_text()}
    page.get_by_test_id("lang-toggle").click()  # either language first: earlier tests toggle it
    expect(modality).not_to_have_text(next(iter(shown)))
    shown.add(modality.inner_text())
    assert shown == {
        "Ditemukan lewat sidik jari (skor MCC; rekaman jari yang dibandingkan: 1).",
        "Found by a fingerprint (MCC score; finger records compared: 1).",
    }
