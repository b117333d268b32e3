"""The fingerprint reader where people stand, in a real Chromium against a real site service whose
reader is libfprint's virtual_image driver fed real FVC images (tests/virtual_reader.py).

At the desk, an officer saves a person and enrols two fingers from the reader, three presses
each, with the page saying what the reader saw, and a finger already enrolled to someone else
raises the red duplicate warning; at the kiosk, a visitor leaves pressing a finger
that goes with the exit; a reader pulled out mid-capture says so instead of hanging; and an
inmate's movement waits for an escorting officer to sign in, who the record then names.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from edge.gate.records import Gate, GateStore
from edge.settings import EnrolmentSettings, MatchSettings, ReaderSettings, Settings
from edge.site import Site
from enrollment.accounts import AccountStore
from enrollment.audit import now_iso
from enrollment.fingers import png_bytes
from enrollment.records import Consent, IdentityDraft
from tests.e2e.conftest import PASSWORD, SiteServer, _playwright, expect, write_y4m_clip
from tests.e2e.test_gate_browser import ENROL_PHOTOS, _enrol, expect_result, kiosk
from tests.virtual_reader import VirtualSensor, fprint_stack_missing, fvc_pixels, virtual_sensor

pytestmark = [pytest.mark.model, pytest.mark.e2e]

GATE = "main"
VISITOR_NIK = "3201014703850001"
INMATE_REGISTRATION = "B.I-1/2024"
VISITOR_FINGER = "fvc2002-db1_b/101_{}.tif"  # the visitor's right index finger, impressions 1-8


# The page's passage requests, as sent: Chromium hands Playwright no body for multipart blobs.
RECORD_FORMS = """() => {
  window.sentForms = [];
  const send = window.fetch;
  window.fetch = (path, options = {}) => {
    if (options.body instanceof FormData) {
      const form = { path: String(path) };
      for (const [name, value] of options.body.entries()) {
        form[name] = value instanceof Blob ? { type: value.type, size: value.size } : value;
      }
      window.sentForms.push(form);
    }
    return send(path, options);
  };
}"""


@pytest.fixture(scope="module")
def sensor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirtualSensor]:
    missing = fprint_stack_missing()
    if missing:
        pytest.skip(missing)  # CI installs the stack (scripts/install_fingerprint_stack.sh)
    with virtual_sensor(tmp_path_factory.mktemp("fp")) as virtual:
        yield virtual


@pytest.fixture(scope="module")
def reader_site(
    model_dir: Path,
    dev_faces: Path,
    sensor: VirtualSensor,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SiteServer, dict[str, str], str]]:
    """A site whose gate `main` has the virtual reader; a visitor inside, an inmate, officers."""
    settings = Settings(
        model_dir=model_dir,
        data_dir=tmp_path_factory.mktemp("reader-site"),
        enrolment=EnrolmentSettings(min_captures=2, keep_best=3),
        match=MatchSettings(open_set_fallback="fmr-points"),  # a handful of Western dev faces
        readers=[ReaderSettings(name="gate-main", driver="virtual_image", gate=GATE)],
    )
    site = Site(settings)
    with site.db.transaction() as tx:
        accounts = AccountStore(tx)
        for role in ("enrolment_officer", "gate_officer"):
            accounts.add_operator(role, role.replace("_", " ").title(), role, PASSWORD)
        GateStore(tx).add_gate(Gate(GATE, "Pintu utama", ("in", "out"), ("visitor", "inmate")))
        _, device_key = accounts.add_device("kiosk-main", GATE)
    with SiteServer(site, settings) as server:
        consent = Consent("kunjungan", "enrolment_officer", now_iso())
        visitor = IdentityDraft("visitor", "Sari Wulandari", date(1985, 3, 7), "F",
                                nik=VISITOR_NIK, consent=consent)  # fmt: skip
        inmate = IdentityDraft("inmate", "Andi Pratama", date(1990, 12, 1), "M",
                               registration_number=INMATE_REGISTRATION)  # fmt: skip
        people = {
            "visitor": _enrol(site, dev_faces, visitor, ENROL_PHOTOS["visitor"]),
            "inmate": _enrol(site, dev_faces, inmate, ENROL_PHOTOS["inmate"]),
        }
        for impression in (1, 2, 3):
            pixels = fvc_pixels(VISITOR_FINGER.format(impression))
            assert site.fingers.enrol(people["visitor"], 2, pixels, 500, "desk").accepted
        entry = (dev_faces / "deepface-img8/4.jpg").read_bytes()
        admitted = site.gate.visitor_entry(GATE, entry, "kiosk-main", VISITOR_NIK)
        assert admitted.event.result == "admit", admitted.event.reason
        yield server, people, device_key


@pytest.fixture(scope="module")
def clips(dev_faces: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cameras")
    return {
        "visitor": write_y4m_clip(
            folder / "visitor.y4m", [dev_faces / f"deepface-img8/{n}.jpg" for n in (5, 6)]
        ),
        "inmate": write_y4m_clip(
            folder / "inmate.y4m", [dev_faces / f"deepface-img26/{n}.jpg" for n in (5, 6, 7)]
        ),
        "staff": write_y4m_clip(
            folder / "staff.y4m", [dev_faces / f"facerec-steve_wozniak/{n}.jpg" for n in (1, 2, 3)]
        ),
    }


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    with _playwright().sync_playwright() as playwright:
        yield playwright


def scan(page: Any, sensor: VirtualSensor, image: str | None, prefix: str = "kiosk-") -> Any:
    """Press Scan, wait for the page to ask for the finger, then press it (or pull the reader)."""
    page.get_by_test_id(f"{prefix}finger-scan").click()
    status = page.get_by_test_id(f"{prefix}finger-status")
    expect(status).to_contain_text("Letakkan")
    if image is None:
        sensor.unplug()
    else:
        sensor.press(image)
    return status


def test_desk_enrols_two_fingers_from_the_reader_with_what_it_saw(
    playwright: Any, reader_site: tuple[SiteServer, dict[str, str], str],
    sensor: VirtualSensor, clips: dict[str, Path],
) -> None:  # fmt: skip
    server, _, _ = reader_site
    with kiosk(playwright, server, clips["staff"], "/desk") as page:
        page.get_by_test_id("login-username").fill("enrolment_officer")
        page.get_by_test_id("login-password").fill(PASSWORD)
        page.get_by_test_id("login-submit").click()
        page.get_by_test_id("role-staff").click()
        page.get_by_test_id("field-full_name").fill("Wawan Setiawan")
        page.get_by_test_id("field-birth_date").fill("1980-05-15")
        page.get_by_test_id("field-sex-M").check()
        page.get_by_test_id("field-nip").fill("198005152005031001")
        page.get_by_test_id("auto-button").click()
        expect(page.get_by_test_id("capture-counter")).to_have_text(
            re.compile(r"^2 / 2 "), timeout=30_000
        )
        page.get_by_test_id("check-duplicates").click()
        expect(page.get_by_test_id("notice")).to_have_text(
            "Tidak ada orang terdaftar yang mirip. Silakan simpan."
        )
        page.get_by_test_id("commit-button").click()
        expect(page.get_by_test_id("success")).to_be_visible(timeout=30_000)
        staff_id = page.get_by_test_id("success-identity-id").inner_text().strip()

        panel = page.get_by_test_id("finger-panel")
        expect(panel.get_by_test_id("finger-reader")).to_have_value("gate-main")
        # A dry, faint print: usable, so kept, and the person is told why the next may fail.
        panel.get_by_test_id("finger-position").select_option("1")
        status = scan(page, sensor, "fvc2002-db1_b/109_6.tif", prefix="")
        expect(status).to_have_text("Ibu jari kanan: tersimpan (1 dari 3 kali).")
        expect(panel.get_by_test_id("finger-reason").last).to_contain_text("terlalu kering")
        for position, number in (("2", 102), ("7", 103)):
            panel.get_by_test_id("finger-position").select_option(position)
            for impression in (1, 2, 3):
                status = scan(page, sensor, f"fvc2002-db1_b/{number}_{impression}.tif", prefix="")
                expect(status).to_contain_text(f"tersimpan ({impression} dari 3 kali)")
        expect(panel.get_by_test_id("finger-progress")).to_have_text("Sidik jari lengkap.")
        expect(panel.get_by_test_id("finger-preview")).to_be_visible()
        page.wait_for_function(  # the impression itself is on show, not a broken image
            "() => document.querySelector('[data-testid=finger-preview]').naturalWidth === 388"
        )
        # The visitor's finger pressed as this person's right middle finger: kept, and the
        # duplicate check by fingers names her in red, beside the enrolment's own answer.
        warning = panel.get_by_test_id("finger-duplicates")
        expect(warning).to_be_hidden()
        panel.get_by_test_id("finger-position").select_option("3")
        status = scan(page, sensor, VISITOR_FINGER.format(4), prefix="")
        expect(status).to_have_text("Jari tengah kanan: tersimpan (1 dari 3 kali).")
        expect(warning).to_be_visible()
        expect(warning).to_contain_text("SUDAH TERDAFTAR ATAS NAMA ORANG LAIN")
        expect(warning).to_contain_text("panggil supervisor")
        expect(warning.get_by_test_id("finger-duplicate")).to_have_count(1)
        expect(warning.get_by_test_id("finger-duplicate")).to_contain_text(
            "Sari Wulandari · Pengunjung"
        )
    assert server.site.fingers.status(staff_id)["fingers"] == {"1": 1, "2": 3, "3": 1, "7": 3}


def test_a_visitor_leaves_pressing_a_finger_that_goes_with_the_exit(
    playwright: Any, reader_site: tuple[SiteServer, dict[str, str], str],
    sensor: VirtualSensor, clips: dict[str, Path],
) -> None:  # fmt: skip
    server, _, key = reader_site
    with kiosk(playwright, server, clips["visitor"], f"/gate?gate={GATE}#key={key}") as page:
        page.get_by_test_id("mode-exit").click()
        status = scan(page, sensor, VISITOR_FINGER.format(7))
        expect(status).to_have_text("Telunjuk kanan terbaca.")
        page.evaluate(RECORD_FORMS)
        page.get_by_test_id("check-button").click()
        sent = page.wait_for_function(
            "() => window.sentForms.find((f) => f.path.endsWith('/visitor-exit'))"
        ).json_value()
        assert sent["finger_position"] == "2"
        # The very impression the reader took (the service's lossless PNG of it).
        png = png_bytes(fvc_pixels(VISITOR_FINGER.format(7)))
        assert sent["finger_image"] == {"type": "image/png", "size": len(png)}
        expect_result(page, "admit", "DITERIMA", "Sari Wulandari")
        expect(page.get_by_test_id("kiosk-finger-status")).to_have_text("")  # not kept


def test_a_reader_pulled_out_mid_capture_says_so(
    playwright: Any, reader_site: tuple[SiteServer, dict[str, str], str],
    sensor: VirtualSensor, clips: dict[str, Path],
) -> None:  # fmt: skip
    server, _, key = reader_site
    with kiosk(playwright, server, clips["visitor"], f"/gate?gate={GATE}#key={key}") as page:
        page.get_by_test_id("mode-exit").click()
        status = scan(page, sensor, None)
        expect(status).to_have_text(
            "Pemindai sidik jari terlepas saat mengambil sidik jari. Pasang lagi kabel USB-nya,"
            " lalu tekan Pindai lagi."
        )
        expect(page.get_by_test_id("kiosk-finger-scan")).to_be_enabled()
        status = scan(page, sensor, VISITOR_FINGER.format(8))  # plugged back in
        expect(status).to_have_text("Telunjuk kanan terbaca.")


def test_a_movement_waits_for_an_escorting_officer_who_the_record_names(
    playwright: Any, reader_site: tuple[SiteServer, dict[str, str], str], clips: dict[str, Path]
) -> None:
    server, people, key = reader_site
    with kiosk(playwright, server, clips["inmate"], f"/gate?gate={GATE}#key={key}") as page:
        page.get_by_test_id("mode-movement").click()
        page.get_by_test_id("field-movement-passage").select_option("court_out")
        page.get_by_test_id("field-movement-inmate").fill(INMATE_REGISTRATION)
        page.get_by_test_id("field-movement-order").fill("W10.PAS.1-PK.02/2026")
        page.get_by_test_id("check-button").click()
        expect(page.get_by_test_id("status")).to_have_text(
            "Petugas pengawal harus masuk dulu (nama pengguna dan kata sandi)."
        )
        officer = page.get_by_test_id("officer-panel")
        officer.get_by_test_id("officer-username").fill("gate_officer")
        officer.get_by_test_id("officer-password").fill("wrong password!")
        officer.get_by_test_id("officer-sign-in").click()
        expect(officer.get_by_test_id("officer-note")).to_have_text(
            "Nama pengguna atau kata sandi salah."
        )
        officer.get_by_test_id("officer-password").fill(PASSWORD)
        officer.get_by_test_id("officer-sign-in").click()
        expect(officer.get_by_test_id("officer-name")).to_have_text("Petugas: Gate Officer")
        expect(page.get_by_test_id("status")).to_have_text("")  # "sign in first" is gone

        page.get_by_test_id("check-button").click()
        expect_result(page, "admit", "DITERIMA", "Andi Pratama")
        officer.get_by_test_id("officer-sign-out").click()
        expect(officer.get_by_test_id("officer-username")).to_be_visible()
    with server.site.db.reading() as tx:
        row = tx.execute(
            "SELECT passage, result, actor, matched_identity_id FROM gate_events"
            " ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert tuple(row) == ("court_out", "admit", "gate_officer", people["inmate"])
    assert _officer_sessions(server) == 0  # signed out: the officer's token is gone


def _officer_sessions(server: SiteServer) -> int:
    """The gate officer's live tokens, once the page's sign-out (sent without waiting) arrived."""
    deadline = time.monotonic() + 30
    while True:
        with server.site.db.reading() as tx:
            live = int(tx.execute(
                "SELECT COUNT(*) FROM auth_tokens t JOIN operators o ON o.id = t.operator_id"
                " WHERE o.role = 'gate_officer'"
            ).fetchone()[0])  # fmt: skip
        if live == 0 or time.monotonic() > deadline:
            return live
        time.sleep(0.1)


def test_an_officer_who_walks_away_is_signed_out_after_two_idle_minutes(
    playwright: Any, reader_site: tuple[SiteServer, dict[str, str], str], clips: dict[str, Path]
) -> None:
    server, _, key = reader_site
    address = f"/gate?gate={GATE}#key={key}"
    with kiosk(playwright, server, clips["inmate"], address) as page:
        page.clock.install()  # the page's timers run on a clock the test moves
        page.goto(address)
        page.get_by_test_id("mode-movement").click()
        officer = page.get_by_test_id("officer-panel")
        officer.get_by_test_id("officer-username").fill("gate_officer")
        officer.get_by_test_id("officer-password").fill(PASSWORD)
        officer.get_by_test_id("officer-sign-in").click()
        expect(officer.get_by_test_id("officer-name")).to_have_text("Petugas: Gate Officer")
        page.clock.fast_forward(119_000)
        expect(officer.get_by_test_id("officer-name")).to_be_visible()
        page.clock.fast_forward(2_000)
        expect(officer.get_by_test_id("officer-note")).to_have_text(
            "Petugas dikeluarkan otomatis karena tidak ada aktivitas."
        )
        expect(officer.get_by_test_id("officer-username")).to_be_visible()
    assert _officer_sessions(server) == 0
