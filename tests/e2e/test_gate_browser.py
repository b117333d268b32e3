"""The gate kiosk in a real Chromium, on fake cameras playing real dev photos, against a real site
service (models, SQLite, FAISS) listening on a loopback port.

A visitor is admitted and appears among the visitors inside; an inmate leaving as a visitor raises
an alarm that stays up until a supervisor clears it; a banned visitor is denied. Chromium reads its
fake camera once per launch, so each person in front of the camera gets a browser of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge.gate.records import Gate, GateStore
from edge.settings import EnrolmentSettings, MatchSettings, Settings
from edge.site import Site
from enrollment.accounts import AccountStore
from enrollment.audit import now_iso
from enrollment.records import Consent, IdentityDraft
from enrollment.service import OfficerDecision
from tests.e2e.conftest import (
    PAGE_WAIT_MS,
    PASSWORD,
    SiteServer,
    _playwright,
    expect,
    launch_chromium,
    write_y4m_clip,
)
from tests.e2e.guide_shots import save_for_guide

pytestmark = [pytest.mark.model, pytest.mark.e2e]

GATE = "main"
VISITOR_NIK, BANNED_NIK = "3201014703850001", "3201010112900002"
INMATE_REGISTRATION = "B.I-1/2024"
# Enrolment takes the first photos that pass quality and liveness; the cameras show other photos
# of the same people, as a gate would.
ENROL_PHOTOS = {
    "inmate": [f"deepface-img26/{n}.jpg" for n in (2, 3, 4, 8)],
    "visitor": [f"deepface-img8/{n}.jpg" for n in (1, 2, 3, 7)],
    "banned": [f"facerec-obama/{n}.jpg" for n in (1, 2, 3, 4, 5)],
}
CLIPS = {
    "inmate": ["deepface-img26/5.jpg", "deepface-img26/6.jpg", "deepface-img26/7.jpg"],
    "visitor": ["deepface-img8/4.jpg", "deepface-img8/5.jpg", "deepface-img8/6.jpg"],
    "banned": ["facerec-obama/4.jpg", "facerec-obama/5.jpg"],
}
DECISION_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def gate_site(
    model_dir: Path, dev_faces: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[SiteServer, dict[str, str], str]]:
    """A site with gate `main`, a kiosk device, officers, and three people enrolled at the desk."""
    settings = Settings(
        model_dir=model_dir,
        data_dir=tmp_path_factory.mktemp("gate-site"),
        enrolment=EnrolmentSettings(min_captures=2, keep_best=3),
        # Western dev faces, a handful of people: the pack's FMR points (tests/integration/conftest.py)
        match=MatchSettings(open_set_fallback="fmr-points"),
    )
    site = Site(settings)
    with site.db.transaction() as tx:
        accounts = AccountStore(tx)
        for role in ("gate_officer", "supervisor"):
            accounts.add_operator(role, role.replace("_", " ").title(), role, PASSWORD)
        GateStore(tx).add_gate(
            Gate(GATE, "Pintu utama", ("in", "out"), ("visitor", "staff", "inmate"))
        )
        _, device_key = accounts.add_device("kiosk-main", GATE)
    with SiteServer(site, settings) as server:
        people = _enrol_people(site, dev_faces)
        site.enrolment.change_status(people["banned"], "banned", "supervisor", "smuggling")
        yield server, people, device_key


def _enrol_people(site: Site, dev: Path) -> dict[str, str]:
    consent = Consent("kunjungan", "enrolment_officer", now_iso())
    drafts = {
        "inmate": IdentityDraft(
            "inmate", "Andi Pratama", date(1990, 12, 1), "M",
            registration_number=INMATE_REGISTRATION,
        ),
        "visitor": IdentityDraft(
            "visitor", "Sari Wulandari", date(1985, 3, 7), "F", nik=VISITOR_NIK, consent=consent
        ),
        "banned": IdentityDraft(
            "visitor", "Bambang Susilo", date(1990, 12, 1), "M", nik=BANNED_NIK, consent=consent
        ),
    }  # fmt: skip
    return {who: _enrol(site, dev, draft, ENROL_PHOTOS[who]) for who, draft in drafts.items()}


def _enrol(site: Site, dev: Path, draft: IdentityDraft, photos: list[str]) -> str:
    """What the desk does: frames until enough are good, every look-alike judged, commit."""
    enrolment = site.enrolment
    session = enrolment.start_session(draft.role, "enrolment_officer")
    if not any(enrolment.add_frame(session, (dev / p).read_bytes()).ready for p in photos):
        raise AssertionError(f"not enough usable photos among {photos}")
    decisions = [
        OfficerDecision(c.identity_id, "different_person", "checked at the desk")
        for c in enrolment.duplicates(session)
    ]
    return enrolment.commit(session, draft, decisions, "enrolment_officer").identity_id


@pytest.fixture(scope="module")
def clips(dev_faces: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A clip per person, and an empty gate (a grey wall)."""
    folder = tmp_path_factory.mktemp("cameras")
    wall = folder / "wall.png"
    cv2.imwrite(str(wall), np.full((480, 640, 3), 128, np.uint8))
    return {
        "nobody": write_y4m_clip(folder / "nobody.y4m", [wall]),
        **{
            who: write_y4m_clip(folder / f"{who}.y4m", [dev_faces / p for p in photos])
            for who, photos in CLIPS.items()
        },
    }


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    with _playwright().sync_playwright() as playwright:
        yield playwright


@contextmanager
def kiosk(playwright: Any, server: SiteServer, clip: Path, address: str) -> Iterator[Any]:
    """A kiosk tab in its own Chromium whose camera plays `clip`; fails on any script error."""
    browser = launch_chromium(playwright, clip)
    try:
        context = browser.new_context(
            base_url=server.url, permissions=["camera"], viewport={"width": 1280, "height": 900}
        )
        page = context.new_page()
        page.set_default_timeout(PAGE_WAIT_MS)
        script_errors: list[str] = []
        page.on("pageerror", lambda error: script_errors.append(str(error)))
        page.goto(address)
        yield page
        assert not script_errors, script_errors
    finally:
        browser.close()


def expect_result(page: Any, result: str, word: str, name: str) -> Any:
    """The decision on screen, with the person's photo of record loaded."""
    box = page.get_by_test_id("result")
    expect(box).to_have_attribute("data-result", result, timeout=DECISION_TIMEOUT_MS)
    expect(box.get_by_test_id("result-word")).to_have_text(word)
    expect(box.get_by_test_id("result-name")).to_have_text(name)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=result-photo]').naturalWidth > 0"
    )
    return box


def supervisor_signs(page: Any, username: str, reason: str) -> None:
    dialog = page.get_by_test_id("supervisor-dialog")
    dialog.get_by_test_id("supervisor-username").fill(username)
    dialog.get_by_test_id("supervisor-password").fill(PASSWORD)
    dialog.get_by_test_id("supervisor-reason").fill(reason)
    dialog.get_by_test_id("supervisor-submit").click()


def _gate_events(server: SiteServer) -> int:
    with server.site.db.reading() as tx:
        return int(tx.execute("SELECT COUNT(*) FROM gate_events").fetchone()[0])


def test_automatic_mode_waits_without_deciding_while_nobody_is_at_the_gate(
    playwright: Any, gate_site: tuple[SiteServer, dict[str, str], str], clips: dict[str, Path]
) -> None:
    server, _, key = gate_site
    before = _gate_events(server)
    # A key in the query reached the server's logs: the kiosk refuses it and shows the right form.
    with kiosk(playwright, server, clips["nobody"], f"/gate?gate={GATE}&key={key}") as page:
        expect(page.get_by_test_id("setup")).to_be_visible()
        expect(page.get_by_test_id("error-message")).to_contain_text(f"/gate?gate={GATE}#key=")
        save_for_guide(page, "gate-setup")
        assert page.url.endswith(f"/gate?gate={GATE}")
        page.goto(f"/gate?gate={GATE}#key={key}")  # the fragment alone changes: no reload
        expect(page.get_by_test_id("gate-label")).to_have_text("Gerbang: main")
        expect(page.get_by_test_id("error-message")).to_be_hidden()
        page.get_by_test_id("mode-entry").click()
        page.get_by_test_id("auto-button").click()
        status = page.get_by_test_id("status")
        expect(status).to_have_text("Ketik NIK pengunjung untuk mulai.")
        page.get_by_test_id("field-nik").fill(VISITOR_NIK)
        expect(status).to_have_text("Menunggu wajah di depan kamera…")
        page.wait_for_timeout(3_500)  # two more frames of an empty gate
        expect(page.get_by_test_id("result")).to_be_hidden()
    # Each gate call is a logged decision and a failed attempt against the NIK typed: none here.
    assert _gate_events(server) == before


def test_visitor_entry_in_automatic_mode_admits_and_lists_the_visitor_inside(
    playwright: Any, gate_site: tuple[SiteServer, dict[str, str], str], clips: dict[str, Path],
    tmp_path: Path,
) -> None:  # fmt: skip
    server, _, key = gate_site
    # Exactly the README's address: the gate in the query, the key in the fragment.
    with kiosk(playwright, server, clips["visitor"], f"/gate?gate={GATE}#key={key}") as page:
        expect(page.get_by_test_id("gate-label")).to_have_text("Gerbang: main")
        assert "key=" not in page.url  # the device key leaves the address bar at once
        assert page.url.endswith(f"/gate?gate={GATE}")
        page.get_by_test_id("mode-entry").click()
        page.get_by_test_id("field-nik").fill("3201 0147 0385 0001")  # typed as printed on a KTP
        expect(page.get_by_test_id("hint-nik")).to_have_text("✓")
        page.get_by_test_id("field-inmate").fill(INMATE_REGISTRATION)
        page.get_by_test_id("auto-button").click()

        box = expect_result(page, "admit", "DITERIMA", "Sari Wulandari")
        expect(box.get_by_test_id("result-word-other")).to_have_text("ADMIT")
        expect(box.get_by_test_id("result-role")).to_have_text("Pengunjung")
        expect(box.get_by_test_id("result-message")).to_have_text(
            "Pengunjung terverifikasi. Silakan masuk."
        )
        save_for_guide(page, "gate-admit")

        inside = page.get_by_test_id("inside-item")
        expect(inside).to_have_count(1)
        expect(inside).to_contain_text("Sari Wulandari")
        expect(inside).to_contain_text("mengunjungi Andi Pratama")
        expect(page.get_by_test_id("inside-count")).to_have_text("1")
        # The admit leaves after a few seconds; the next visitor's NIK is needed to go on.
        expect(box).to_be_hidden()  # RESULT_HOLD_MS (4 s) in edge/web/gate.js
        expect(page.get_by_test_id("field-nik")).to_have_value("")
        expect(page.get_by_test_id("status")).to_have_text("Ketik NIK pengunjung untuk mulai.")


def test_an_inmate_leaving_raises_an_alarm_only_a_supervisor_can_clear(
    playwright: Any, gate_site: tuple[SiteServer, dict[str, str], str], clips: dict[str, Path],
    tmp_path: Path,
) -> None:  # fmt: skip
    server, people, key = gate_site
    with kiosk(playwright, server, clips["inmate"], "/gate") as page:
        page.get_by_test_id("setup-gate").fill(GATE)
        page.get_by_test_id("setup-key").fill("not-the-key")
        page.get_by_test_id("setup-save").click()
        expect(page.get_by_test_id("error-message")).to_contain_text(
            "Kunci perangkat tidak dikenal"
        )
        page.get_by_test_id("setup-key").fill(key)
        page.get_by_test_id("setup-save").click()

        page.get_by_test_id("mode-exit").click()
        page.get_by_test_id("check-button").click()
        box = expect_result(page, "alarm", "ALARM", "Andi Pratama")
        expect(box.get_by_test_id("result-role")).to_have_text("Warga Binaan")
        expect(box.get_by_test_id("result-message")).to_have_text(
            "ALARM: wajah cocok dengan warga binaan. Tahan orang ini!"
        )
        assert box.evaluate("b => getComputedStyle(b).animationName") == "alarm-flash"
        save_for_guide(page, "gate-alarm")

        # The gate officer cannot make it go away: no button, no key, not even a reload.
        expect(box.get_by_test_id("result-dismiss")).to_be_hidden()
        page.keyboard.press("Escape")
        page.wait_for_timeout(4_000)
        expect(box).to_have_attribute("data-result", "alarm")
        page.reload()
        box = expect_result(page, "alarm", "ALARM", "Andi Pratama")
        page.get_by_test_id("lang-toggle").click()  # above the alarm, not under it
        expect(box.get_by_test_id("result-message")).to_contain_text("Hold this person")
        page.get_by_test_id("lang-toggle").click()
        expect(box.get_by_test_id("result-message")).to_contain_text("Tahan orang ini")

        box.get_by_test_id("clear-alarm-button").click()
        expect(page.get_by_test_id("supervisor-dialog")).to_be_visible()
        save_for_guide(page, "gate-supervisor")
        supervisor_signs(page, "gate_officer", "sudah dicek")
        expect(page.get_by_test_id("supervisor-error")).to_have_text(
            "Akun ini bukan atasan. Hanya atasan yang boleh melakukan ini."
        )
        supervisor_signs(page, "supervisor", "")
        expect(page.get_by_test_id("supervisor-error")).to_contain_text("Tulis alasannya")
        expect(box).to_have_attribute("data-result", "alarm")
        supervisor_signs(page, "supervisor", "Warga binaan dikembalikan ke blok C")
        expect(box).to_be_hidden()
        expect(page.get_by_test_id("status")).to_have_text("Alarm dihentikan oleh Supervisor.")
        expect(page.get_by_test_id("mode-exit")).to_have_attribute("aria-pressed", "true")

    with server.site.db.reading() as tx:
        alarms = tx.execute(
            "SELECT reason, matched_identity_id, alarm_cleared_by FROM gate_events"
            " WHERE result = 'alarm'"
        ).fetchall()
    assert [tuple(a) for a in alarms] == [("inmate_leaving", people["inmate"], "supervisor")]


def test_a_banned_visitor_is_denied_and_the_ban_cannot_be_overridden_at_the_gate(
    playwright: Any, gate_site: tuple[SiteServer, dict[str, str], str], clips: dict[str, Path],
    tmp_path: Path,
) -> None:  # fmt: skip
    server, people, key = gate_site
    with kiosk(playwright, server, clips["banned"], f"/gate#gate={GATE}&key={key}") as page:
        page.get_by_test_id("mode-entry").click()
        page.get_by_test_id("field-nik").fill(BANNED_NIK)
        page.get_by_test_id("check-button").click()
        box = expect_result(page, "deny", "DITOLAK", "Bambang Susilo")
        expect(box.get_by_test_id("result-role")).to_have_text("Pengunjung · Dilarang berkunjung")
        expect(box.get_by_test_id("result-message")).to_have_text(
            "Pengunjung ini dilarang berkunjung. Panggil petugas."
        )
        save_for_guide(page, "gate-deny")
        page.get_by_test_id("lang-toggle").click()
        expect(box.get_by_test_id("result-word")).to_have_text("DENY")
        expect(box.get_by_test_id("result-message")).to_have_text(
            "This visitor is banned. Call an officer."
        )
        page.get_by_test_id("lang-toggle").click()

        expect(box.get_by_test_id("override-button")).to_be_hidden()
        expect(page.get_by_test_id("inside-list")).not_to_contain_text("Bambang Susilo")

    with server.site.db.reading() as tx:
        events = tx.execute(
            "SELECT result, reason, claimed_identity_id, overrides_event_id FROM gate_events"
            " WHERE claimed_identity_id = ? ORDER BY id",
            (people["banned"],),
        ).fetchall()
    assert [tuple(e)[:3] for e in events] == [("deny", "visitor_banned", people["banned"])]


def test_an_escorted_court_movement_is_verified_against_the_inmate_and_the_order(
    playwright: Any, gate_site: tuple[SiteServer, dict[str, str], str], clips: dict[str, Path]
) -> None:
    server, people, key = gate_site
    before = _gate_events(server)
    with kiosk(playwright, server, clips["inmate"], f"/gate?gate={GATE}#key={key}") as page:
        page.get_by_test_id("mode-movement").click()
        status = page.get_by_test_id("status")
        expect(page.get_by_test_id("auto-button")).to_be_hidden()  # movements are never automatic
        page.get_by_test_id("field-movement-inmate").fill(INMATE_REGISTRATION)
        page.get_by_test_id("check-button").click()
        expect(status).to_have_text("Isi nomor surat perintah atau putusan.")
        assert _gate_events(server) == before  # nothing sent without the order

        page.get_by_test_id("field-movement-passage").select_option("court_out")
        page.get_by_test_id("field-movement-order").fill("W10.PAS.1-PK.01/2026")
        page.get_by_test_id("check-button").click()
        expect(status).to_have_text(  # the kiosk's key alone cannot move an inmate (issue 14)
            "Petugas pengawal harus masuk dulu (nama pengguna dan kata sandi)."
        )
        assert _gate_events(server) == before
        page.get_by_test_id("officer-username").fill("gate_officer")
        page.get_by_test_id("officer-password").fill(PASSWORD)
        page.get_by_test_id("officer-sign-in").click()
        expect(page.get_by_test_id("officer-name")).to_have_text("Petugas: Gate Officer")
        page.get_by_test_id("check-button").click()
        box = expect_result(page, "admit", "DITERIMA", "Andi Pratama")
        expect(box.get_by_test_id("result-message")).to_have_text(
            "Identitas warga binaan cocok dengan surat perintah."
        )
        expect(page.get_by_test_id("field-movement-order")).to_have_value("")
    with server.site.db.reading() as tx:
        row = tx.execute(
            "SELECT passage, result, order_reference, matched_identity_id, actor FROM gate_events"
            " ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert tuple(row) == (
        "court_out", "admit", "W10.PAS.1-PK.01/2026", people["inmate"], "gate_officer"
    )  # fmt: skip
