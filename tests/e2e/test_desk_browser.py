"""The enrolment desk page in a real Chromium, on a fake camera playing real dev photos, against a
real site service (models, SQLite, FAISS) listening on a loopback port.

An officer enrols an inmate, then the same face as a visitor: the page must show the inmate as a
red look-alike warning (never a routine duplicate), with the photo of record, and save only after
the officer's decision and a supervisor's sign-off on the desk. The visitor's visited Warga Binaan
is chosen by a search on the registration number, and dates read in Indonesian whatever the
browser's locale (this browser runs en-US). Then the national registry's candidates: shown with
their site instead of a photo, decided alike, and a notice when the registry could not be asked.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edge.import_command import archive_importer
from edge.settings import EnrolmentSettings, MatchSettings, Settings
from edge.site import Site
from enrollment.accounts import AccountStore
from enrollment.duplicates import NationalAnswer, NationalCandidate
from tests.e2e.conftest import (
    PAGE_WAIT_MS,
    PASSWORD,
    _playwright,
    expect,
    launch_chromium,
    write_y4m_clip,
)
from tests.e2e.conftest import SiteServer as DeskServer
from tests.e2e.guide_shots import save_for_guide

pytestmark = [pytest.mark.model, pytest.mark.e2e]

# Frontal colour photos of one person that the default pack accepts (quality and liveness),
# each shown for a second: the camera then looks like a person moving a little.
CLIP_PHOTOS = ("deepface-img26/6.jpg", "deepface-img26/7.jpg", "deepface-img26/5.jpg")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
CAPTURE_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def desk(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeskServer]:
    """A fresh site with an account per operator role (as tests/integration's make_site_client)."""
    settings = Settings(
        model_dir=model_dir,
        data_dir=tmp_path_factory.mktemp("desk-site"),
        enrolment=EnrolmentSettings(min_captures=3, keep_best=3),
        # Western dev faces, a handful of people: the pack's FMR points (tests/integration/conftest.py)
        match=MatchSettings(open_set_fallback="fmr-points"),
    )
    site = Site(settings)
    with site.db.transaction() as tx:
        accounts = AccountStore(tx)
        for role in ("enrolment_officer", "gate_officer", "supervisor", "site_admin"):
            accounts.add_operator(role, role.replace("_", " ").title(), role, PASSWORD)
    with DeskServer(site, settings) as server:
        yield server


@pytest.fixture(scope="module")
def browser(dev_faces: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Chromium whose camera plays the clip."""
    sync_api = _playwright()
    clip = write_y4m_clip(
        tmp_path_factory.mktemp("camera") / "face.y4m", [dev_faces / p for p in CLIP_PHOTOS]
    )
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright, clip)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, desk: DeskServer) -> Iterator[Any]:
    """A fresh tab on the desk page; fails the test on any uncaught script error."""
    context = browser.new_context(
        base_url=desk.url, permissions=["camera"], viewport={"width": 1280, "height": 1000},
        locale="en-US",  # the desk's dates must not follow it
    )  # fmt: skip
    page = context.new_page()
    page.set_default_timeout(PAGE_WAIT_MS)
    script_errors: list[str] = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    page.goto("/desk")
    yield page
    context.close()
    assert not script_errors, script_errors


def sign_in(page: Any, username: str = "enrolment_officer") -> None:
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("role-inmate")).to_be_visible()


def capture_until_ready(page: Any) -> None:
    """Automatic mode: frames every ~700 ms until the counter says enough good photos."""
    page.get_by_test_id("auto-button").click()
    expect(page.get_by_test_id("capture-counter")).to_have_text(
        re.compile(r"^3 / 3 "), timeout=CAPTURE_TIMEOUT_MS
    )
    expect(page.get_by_test_id("capture-feedback")).to_contain_text("Foto diterima")


def saved_identity_id(page: Any) -> str:
    expect(page.get_by_test_id("success")).to_be_visible(timeout=CAPTURE_TIMEOUT_MS)
    identity_id = page.get_by_test_id("success-identity-id").inner_text().strip()
    assert UUID.match(identity_id), identity_id
    return identity_id


def test_language_switch_and_identity_number_hints_as_the_officer_types(page: Any) -> None:
    submit = page.get_by_test_id("login-submit")
    expect(submit).to_have_text("Masuk")
    save_for_guide(page, "desk-sign-in")
    page.get_by_test_id("lang-toggle").click()
    expect(submit).to_have_text("Sign in")
    page.get_by_test_id("lang-toggle").click()
    expect(submit).to_have_text("Masuk")

    page.get_by_test_id("login-username").fill("enrolment_officer")
    page.get_by_test_id("login-password").fill("not the password")
    submit.click()
    expect(page.get_by_test_id("error-message")).to_have_text(
        "Nama pengguna atau kata sandi salah."
    )
    sign_in(page)
    expect(page.get_by_test_id("error-message")).to_be_hidden()
    page.get_by_test_id("role-visitor").click()
    expect(page.get_by_test_id("field-registration_number")).to_be_hidden()
    page.get_by_test_id("field-birth_date").fill("1990-05-17")
    page.get_by_test_id("field-sex-F").check()
    hint = page.get_by_test_id("hint-nik")
    page.get_by_test_id("field-nik").fill("3201 0157")
    expect(hint).to_have_text("NIK harus 16 angka (sekarang 8).")
    page.get_by_test_id("field-nik").fill("3201011705900001")  # a man's NIK, born 17-05-90
    expect(hint).to_contain_text("tidak cocok dengan jenis kelamin")
    save_for_guide(page, "desk-nik-hint")
    page.get_by_test_id("lang-toggle").click()
    expect(hint).to_contain_text("does not match the sex chosen")
    page.get_by_test_id("field-nik").fill("3201015705910001")  # a woman, born 17-05-91
    expect(hint).to_contain_text("does not match the date of birth")
    page.get_by_test_id("field-nik").fill("3201015705900001")
    expect(hint).to_have_text("✓ NIK matches: born 17 May 1990, woman.")

    page.get_by_test_id("role-staff").click()  # the birth date and sex stay; the NIP is checked
    page.get_by_test_id("field-nip").fill("19900517201501200")
    expect(page.get_by_test_id("hint-nip")).to_have_text("The NIP must be 18 digits (now 17).")
    page.get_by_test_id("field-nip").fill("199005172015012001")
    expect(page.get_by_test_id("hint-nip")).to_have_text("✓ NIP matches: born 17 May 1990, woman.")
    page.get_by_test_id("role-inmate").click()
    page.get_by_test_id("field-registration_number").fill("B.I-77/24")
    expect(page.get_by_test_id("hint-registration_number")).to_contain_text("e.g. B.I-123/2024")


def test_an_inmates_face_at_a_visitor_enrolment_is_a_red_warning_that_needs_a_supervisor(
    page: Any, desk: DeskServer, tmp_path: Path
) -> None:
    sign_in(page)
    page.get_by_test_id("role-inmate").click()
    page.get_by_test_id("field-full_name").fill("Budi Santoso")
    page.get_by_test_id("field-birth_date").fill("12-03-1985")  # as Indonesians write it
    expect(page.get_by_test_id("hint-birth_date")).to_have_text("✓ 12 Maret 1985")
    page.get_by_test_id("field-sex-M").check()
    page.get_by_test_id("field-registration_number").fill("B.I-77/2024")
    expect(page.get_by_test_id("hint-registration_number")).to_have_text("✓")
    capture_until_ready(page)
    page.get_by_test_id("check-duplicates").click()
    expect(page.get_by_test_id("notice")).to_have_text(
        "Tidak ada orang terdaftar yang mirip. Silakan simpan."
    )
    save_for_guide(page, "desk-capture")
    page.get_by_test_id("commit-button").click()
    inmate_id = saved_identity_id(page)
    save_for_guide(page, "desk-saved")

    # The same face again, now claiming to be a visitor.
    page.get_by_test_id("new-enrolment").click()
    page.get_by_test_id("role-visitor").click()
    page.get_by_test_id("field-full_name").fill("Siti Aminah")
    page.get_by_test_id("field-birth_date").fill("1990-05-17")
    page.get_by_test_id("field-sex-F").check()
    page.get_by_test_id("field-nik").fill("3201015705900001")
    expect(page.get_by_test_id("hint-nik")).to_have_text(
        "✓ NIK sesuai: lahir 17 Mei 1990, perempuan."
    )
    page.get_by_test_id("field-consent").check()
    page.get_by_test_id("field-visit_search").fill("B.I-77")  # the visitor names who they visit
    page.get_by_test_id("visit-result").filter(has_text="Budi Santoso").click()
    expect(page.get_by_test_id("field-visit_search")).to_have_value("Budi Santoso (B.I-77/2024)")
    capture_until_ready(page)
    page.get_by_test_id("commit-button").click()  # refused with 409 until the officer decides

    panel = page.get_by_test_id("duplicate-panel")
    expect(panel).to_be_visible()
    candidate = panel.get_by_test_id("candidate")
    expect(candidate).to_have_count(1)
    expect(candidate.get_by_test_id("candidate-id")).to_have_text(inmate_id)
    expect(candidate.get_by_test_id("candidate-name")).to_have_text("Budi Santoso")
    expect(candidate.get_by_test_id("candidate-role")).to_have_text("Warga Binaan")
    expect(candidate.get_by_test_id("candidate-status")).to_have_text("Aktif")
    warning = candidate.get_by_test_id("inmate-lookalike")
    expect(warning).to_contain_text("WAJAH MIRIP WARGA BINAAN AKTIF")
    assert warning.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(179, 38, 30)"
    page.wait_for_function(
        "() => document.querySelector('[data-testid=candidate-photo]').naturalWidth > 0"
        " && document.querySelector('[data-testid=candidate-current]').naturalWidth > 0"
    )
    candidate.scroll_into_view_if_needed()
    save_for_guide(page, "desk-duplicate", panel)

    candidate.get_by_test_id("decision-different").click()
    page.get_by_test_id("commit-button").click()  # no reason yet: the page asks for one
    expect(candidate.get_by_text("Tulis alasannya.")).to_be_visible()
    candidate.get_by_test_id("decision-reason").fill("Wajah mirip, tetapi NIK dan KTP asli.")
    page.get_by_test_id("commit-button").click()  # the officer alone may not decide this one
    dialog = page.get_by_test_id("supervisor-dialog")
    expect(dialog).to_be_visible()
    expect(page.get_by_test_id("notice")).to_contain_text("perlu persetujuan supervisor")
    dialog.get_by_test_id("supervisor-username").fill("enrolment_officer")  # not a supervisor
    dialog.get_by_test_id("supervisor-password").fill(PASSWORD)
    dialog.get_by_test_id("supervisor-approve").click()
    expect(dialog.get_by_test_id("supervisor-error")).to_contain_text("bukan supervisor")
    dialog.get_by_test_id("supervisor-username").fill("supervisor")
    dialog.get_by_test_id("supervisor-password").fill(PASSWORD)
    dialog.get_by_test_id("supervisor-approve").click()
    visitor_id = saved_identity_id(page)
    expect(dialog).to_be_hidden()

    assert visitor_id != inmate_id
    with desk.site.db.reading() as tx:
        decisions = tx.execute(
            "SELECT candidate_identity_id, decision, reason FROM duplicate_decisions"
        ).fetchall()
    assert [tuple(d) for d in decisions] == [
        (inmate_id, "different_person", "Wajah mirip, tetapi NIK dan KTP asli.")
    ]
    with desk.site.db.reading() as tx:
        signed = tx.execute("SELECT json_extract(details, '$.supervisor') FROM audit_events"
                            " WHERE action = 'identity.enrolled' AND subject = ?", (visitor_id,)).fetchone()  # fmt: skip
        visit = tx.execute("SELECT inmate_id FROM visitor_links WHERE visitor_id = ?", (visitor_id,)).fetchone()  # fmt: skip
        supervisor_sessions = tx.execute(
            "SELECT count(*) FROM auth_tokens t JOIN operators o ON o.id = t.operator_id"
            " WHERE o.username = 'supervisor'"
        ).fetchone()
    assert signed[0] == "supervisor"
    assert visit[0] == inmate_id
    assert supervisor_sessions[0] == 0  # signed in for that one commit, signed out at once


@dataclass
class ScriptedRegistry:
    """The national registry's answer, scripted: this test is about the page. The real registry
    answering over signed HTTP is tests/integration/test_national_enrolment.py."""

    answer: NationalAnswer

    def search(self, probes: Any, pack_id: str) -> NationalAnswer:
        return self.answer


def test_national_candidates_are_shown_without_a_photo_and_decided_like_local_ones(
    page: Any, desk: DeskServer
) -> None:
    with desk.site.db.reading() as tx:  # enrolled (with the same face) by the test above
        inmate_id, visitor_id = (tx.execute(f"SELECT id FROM identities WHERE {where}").fetchone()[0]
                                 for where in ("registration_number = 'B.I-77/2024'", "role = 'visitor'"))  # fmt: skip
    elsewhere = NationalCandidate(str(uuid.uuid4()), "inmate", "active", "UPT-NK", "Lapas Nusakambangan",
                                  "Budi S.", 0.9512, 0.9312, registration_number="B.I-9/2019")  # fmt: skip
    registry = ScriptedRegistry(NationalAnswer("unavailable", reason="no answer within 3.0 s"))
    desk.site.enrolment.national = registry
    try:
        sign_in(page)
        page.get_by_test_id("role-inmate").click()
        page.get_by_test_id("field-full_name").fill("Budi Santoso Wibowo")  # his full name
        capture_until_ready(page)
        page.get_by_test_id("check-duplicates").click()
        notice = page.get_by_test_id("national-notice")
        expect(notice).to_contain_text("Registri nasional tidak dapat dihubungi")
        expect(notice).to_contain_text("no answer within 3.0 s")

        registry.answer = NationalAnswer("searched", (elsewhere,))
        page.get_by_test_id("check-duplicates").click()
        expect(notice).to_be_hidden()
        panel = page.get_by_test_id("duplicate-panel")
        expect(panel.get_by_test_id("candidate")).to_have_count(3)
        national = panel.locator(f'[data-identity-id="{elsewhere.identity_id}"]')
        expect(national.get_by_test_id("candidate-site")).to_have_text(
            "Lapas Nusakambangan (UPT-NK)"
        )
        expect(national.get_by_test_id("candidate-number")).to_have_text("B.I-9/2019")
        expect(national.get_by_test_id("candidate-name")).to_have_text("Budi S.")
        expect(national).to_contain_text("Fotonya ada di Lapas Nusakambangan")
        expect(national.get_by_test_id("candidate-photo")).to_be_hidden()

        # The inmate here and the person at Nusakambangan can both be this person.
        here = panel.locator(f'[data-identity-id="{inmate_id}"]')
        here.get_by_test_id("decision-same").click()
        typed_vs_stored = here.get_by_test_id("reconcile-row")
        expect(typed_vs_stored).to_have_count(1)  # only the name differs from the record
        expect(typed_vs_stored).to_contain_text("Budi Santoso Wibowo")
        expect(typed_vs_stored.get_by_test_id("keep-stored").locator("..")).to_have_text(
            " Budi Santoso"
        )
        expect(typed_vs_stored.get_by_test_id("keep-stored")).to_be_checked()
        typed_vs_stored.get_by_test_id("keep-typed").check()  # the officer keeps what was typed
        national.get_by_test_id("decision-same").click()
        visitor = panel.locator(f'[data-identity-id="{visitor_id}"]')
        visitor.get_by_test_id("decision-different").click()
        visitor.get_by_test_id("decision-reason").fill("Pengunjung itu orang lain.")
        expect(panel.locator('[data-testid="decision-same"][aria-pressed="true"]')).to_have_count(2)
        page.get_by_test_id("commit-button").click()
        assert saved_identity_id(page) == inmate_id  # joined the inmate here
        expect(page.get_by_test_id("saved-national-notice")).to_be_hidden()
    finally:
        desk.site.enrolment.national = None
    with desk.site.db.reading() as tx:
        linked = tx.execute("SELECT identity_id, national_identity_id, owning_site, decision"
                            " FROM national_decisions").fetchall()  # fmt: skip
    assert [tuple(r) for r in linked] == [
        (inmate_id, elsewhere.identity_id, "UPT-NK", "same_person")
    ]
    with desk.site.db.reading() as tx:
        name = tx.execute("SELECT full_name FROM identities WHERE id = ?", (inmate_id,)).fetchone()
    assert name[0] == "Budi Santoso Wibowo"


def test_a_flagged_import_row_is_opened_at_the_desk_decided_and_saved(
    page: Any, desk: DeskServer, dev_faces: Path, tmp_path: Path
) -> None:
    """`gerbang import` flags a row whose archive photo is the inmate enrolled above; the desk
    lists it, opens it with the row's data in the form, and saves it after the decision."""
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "arsip.jpg").write_bytes((dev_faces / "deepface-img26" / "1.jpg").read_bytes())
    export = tmp_path / "export.csv"
    export.write_text(
        "row_id,role,full_name,birth_date,sex,registration_number,photos\n"
        "SDP-9,inmate,Budi Santosa,1985-03-12,M,B.I-901/2023,arsip.jpg\n",
        encoding="utf-8",
    )
    summary = archive_importer(desk.site, "import", progress=False).run(
        export, photos, tmp_path / "report.csv"
    )
    assert summary.flagged == 1, summary

    sign_in(page)
    row = page.get_by_test_id("flagged-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Budi Santosa · Warga Binaan · baris SDP-9")
    save_for_guide(page, "desk-import-flagged", page.get_by_test_id("flagged-imports"))
    row.get_by_test_id("open-import").click()
    expect(page.get_by_test_id("field-full_name")).to_have_value("Budi Santosa")
    expect(page.get_by_test_id("field-registration_number")).to_have_value("B.I-901/2023")
    panel = page.get_by_test_id("duplicate-panel")
    expect(panel).to_be_visible()
    expect(panel.get_by_test_id("candidate").first).to_be_visible()
    for card in panel.get_by_test_id("candidate").all():
        card.get_by_test_id("decision-different").click()
        card.get_by_test_id("decision-reason").fill("Nomor registrasi berbeda, putusan berbeda.")
    page.get_by_test_id("commit-button").click()
    identity_id = saved_identity_id(page)

    with desk.site.db.reading() as tx:
        state = tx.execute(
            "SELECT state, identity_id FROM import_rows WHERE row_id = 'SDP-9'"
        ).fetchone()
        name = tx.execute(
            "SELECT full_name FROM identities WHERE id = ?", (identity_id,)
        ).fetchone()
    assert tuple(state) == ("imported", identity_id) and name[0] == "Budi Santosa"
    page.get_by_test_id("new-enrolment").click()
    expect(page.get_by_test_id("flagged-imports")).to_be_hidden()
