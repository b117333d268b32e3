"""`gerbang import`: a prison-database export with good, bad and duplicate rows, and a crash."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from console.main import main
from edge.import_command import archive_importer
from edge.settings import MatchSettings, Settings
from edge.site import Site
from enrollment.audit import verify_chain
from enrollment.service import CommitResult

pytestmark = pytest.mark.model

COLUMNS = (
    "row_id", "role", "full_name", "birth_date", "sex", "nik", "nip", "registration_number",
    "aliases", "admission_date", "case_reference", "cell_block", "phone", "photos",
)  # fmt: skip
KIT_NIK = "3201051203900002"  # Bandung regency, born 12-03-1990, male, serial 0002
# row_id, role, full_name, birth_date, sex, nik, nip, registration_number, photos
ROWS = (
    ("r1", "inmate", "Budi Santoso", "1961-08-04", "M", "", "", "B.I-101/2024", "obama/1.jpg"),
    ("r4", "visitor", "Salah NIK", "1990-03-12", "M", "9901051203900003", "", "", "img13/1.jpg"),
    ("r2", "staff", "Sri Wahyuni", "1985-03-07", "F", "", "198503072010012001", "", "rose/1.jpg;rose/2.jpg"),
    ("r5", "inmate", "Tanpa Foto", "1970-01-01", "M", "", "", "B.I-103/2024", "nobody.jpg"),
    ("r3", "visitor", "Agus Pratama", "1990-03-12", "M", KIT_NIK, "", "", "kit/1.jpg"),
    ("r6", "inmate", "Bukan Gambar", "1975-05-05", "M", "", "", "B.I-104/2024", "notes.jpg"),
    ("r7", "inmate", "Bambang Susilo", "1961-08-04", "M", "", "", "B.I-102/2024", "obama/2.jpg"),
    ("r8", "visitor", "Joko Widodo", "1990-03-12", "M", KIT_NIK, "", "", "woz/1.jpg"),
    ("r9", "staff", "Andi Wijaya", "1990-01-15", "M", "", "199001152015031002", "", "img8/1.jpg"),
    ("r10", "inmate", "Dewi Lestari", "1980-02-02", "F", "", "", "AIII.45/2023", "img26/1.jpg"),
)  # fmt: skip
SOURCES = {
    "obama": "facerec-obama", "rose": "facerec-rose_leslie", "kit": "facerec-kit_harington",
    "woz": "facerec-steve_wozniak", "img8": "deepface-img8", "img13": "deepface-img13",
    "img26": "deepface-img26",
}  # fmt: skip
IMPORTED = {"r1", "r2", "r3", "r9", "r10"}
REJECTED = {
    "r4": "nik_invalid",
    "r5": "photo_missing",
    "r6": "image_invalid",
    "r8": "identity_number_repeated",
}


class SimulatedCrash(Exception):
    """Raised between a row's commit and its mark: the worst moment for a crash."""


@pytest.fixture(scope="module")
def export(dev_faces: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The CSV and its photo folder, built from dev photos copied into a temporary folder."""
    root = tmp_path_factory.mktemp("export")
    photos = root / "photos"
    for short, source in SOURCES.items():
        shutil.copytree(dev_faces / source, photos / short)
    (photos / "notes.jpg").write_bytes(b"scanned form, not a photo")
    with (root / "export.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for row_id, role, name, born, sex, nik, nip, reg, files in ROWS:
            extra = ("2024-01-10", "PN-BDG/12", "A-3", "") if role == "inmate" else ("",) * 4
            aliases = "Bams;Pak Susilo" if row_id == "r7" else ""
            writer.writerow((row_id, role, name, born, sex, nik, nip, reg, aliases, *extra, files))
    return root / "export.csv", photos


def _site(model_dir: Path, data_dir: Path) -> Site:
    # Western dev faces, a few people: the pack's FMR points, not the strict shipped fallback
    match = MatchSettings(open_set_fallback="fmr-points")
    site = Site(Settings(model_dir=model_dir, data_dir=data_dir, match=match))
    site.start()
    assert site.ready, site.problem
    return site


@pytest.fixture
def site(model_dir: Path, tmp_path: Path) -> Iterator[Site]:
    started = _site(model_dir, tmp_path / "site")
    yield started
    started.close()


def _report(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["row_id"]: row for row in csv.DictReader(handle)}


def _scalar(site: Site, sql: str, *args: object) -> object:
    with site.db.reading() as tx:
        return tx.execute(sql, args).fetchone()[0]


def test_import_enrols_good_rows_rejects_bad_ones_and_flags_a_duplicate(
    site: Site, export: tuple[Path, Path], tmp_path: Path
) -> None:
    csv_path, photos = export
    summary = archive_importer(site, "Petugas Migrasi", progress=False).run(
        csv_path, photos, tmp_path / "report.csv"
    )
    assert (summary.imported, summary.rejected, summary.flagged, summary.skipped) == (5, 4, 1, 0)
    report = _report(tmp_path / "report.csv")
    assert list(report) == [r[0] for r in ROWS]  # every row, in file order
    assert {k for k, r in report.items() if r["state"] == "imported"} == IMPORTED
    assert {k: r["code"] for k, r in report.items() if r["state"] == "rejected"} == REJECTED
    for row_id in REJECTED:
        assert report[row_id]["reason_en"] and report[row_id]["reason_id"]
    assert "row r3" in report["r8"]["reason_en"] and "baris r3" in report["r8"]["reason_id"]
    flagged = report["r7"]
    assert (flagged["state"], flagged["code"]) == ("flagged", "possible_duplicate")
    assert (
        report["r1"]["identity_id"] in flagged["candidates"] and "row r1" in flagged["candidates"]
    )

    assert _scalar(site, "SELECT COUNT(*) FROM identities") == 5
    assert _scalar(site, "SELECT COUNT(DISTINCT identity_id) FROM templates") == 5
    assert _scalar(site, "SELECT COUNT(*) FROM outbox WHERE kind = 'identity.enrolled'") == 5
    assert _scalar(site, "SELECT COUNT(*) FROM templates WHERE identity_id = ?", report["r2"]["identity_id"]) == 2  # fmt: skip
    assert _scalar(site, "SELECT COUNT(*) FROM consents WHERE identity_id = ?", report["r3"]["identity_id"]) == 1  # fmt: skip
    assert _scalar(site, "SELECT COUNT(*) FROM identities WHERE registration_number = 'B.I-102/2024'") == 0  # fmt: skip
    assert len(site.gallery()) == _scalar(site, "SELECT COUNT(*) FROM templates")
    with site.db.reading() as tx:
        assert verify_chain(tx) is None
        session = tx.execute(
            "SELECT state FROM capture_sessions WHERE id = (SELECT session_id FROM import_rows WHERE row_id = 'r7')"
        ).fetchone()
    assert session["state"] == "open"  # kept for the officer who decides at the desk


def test_import_resumes_after_a_crash_between_commit_and_mark(
    model_dir: Path, export: tuple[Path, Path], tmp_path: Path
) -> None:
    csv_path, photos = export
    commits: list[str] = []

    def crash_on_third(row_id: str, _result: CommitResult) -> None:
        commits.append(row_id)
        if len(commits) == 3:
            raise SimulatedCrash(row_id)

    site = _site(model_dir, tmp_path / "site")
    with pytest.raises(SimulatedCrash):
        archive_importer(site, "import", progress=False).run(
            csv_path, photos, tmp_path / "r.csv", crash_on_third
        )
    site.close()  # the process died with r3 committed but not marked

    site = _site(model_dir, tmp_path / "site")
    resumed = archive_importer(site, "import", progress=False).run(
        csv_path, photos, tmp_path / "r.csv"
    )
    # r1 r2 imported before: skipped; r3 recognised; rejected r4 r5 tried again (still wrong)
    assert (resumed.skipped, resumed.recovered) == (2, 1)
    assert (resumed.imported, resumed.rejected, resumed.flagged) == (2, 4, 1)
    again = archive_importer(site, "import", progress=False).run(
        csv_path, photos, tmp_path / "r.csv"
    )
    assert (again.skipped, again.rejected, again.imported + again.recovered) == (6, 4, 0)

    report = _report(tmp_path / "r.csv")
    assert {k for k, r in report.items() if r["state"] == "imported"} == IMPORTED
    assert _scalar(site, "SELECT COUNT(*) FROM identities") == 5
    assert _scalar(site, "SELECT COUNT(*) FROM import_rows WHERE state = 'pending'") == 0
    assert _scalar(site, "SELECT COUNT(*) FROM capture_sessions WHERE state = 'open'") == 1  # r7
    site.close()


def test_cli_imports_and_refuses_a_file_with_an_unknown_column(
    model_dir: Path,
    export: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("EDGE_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("EDGE_DATA_DIR", str(tmp_path / "site"))
    monkeypatch.setenv("EDGE_MATCH__OPEN_SET_FALLBACK", "fmr-points")  # as _site: Western dev faces
    csv_path, photos = export
    argv = ["import", str(csv_path), "--photos", str(photos), "--report", str(tmp_path / "r.csv")]
    assert main([*argv, "--officer", "Petugas"]) == 1  # some rows need an officer
    printed = capsys.readouterr().out
    assert "imported 5, rejected 4, flagged 1, skipped 0" in printed and "persons/s" in printed

    typo = tmp_path / "typo.csv"
    typo.write_text("row_id,role,full_name,photos,cel_block\n", encoding="utf-8")
    assert main(["import", str(typo), "--photos", str(photos)]) == 2
    assert "import_file_invalid" in capsys.readouterr().err


def test_cli_imports_an_sdp_export_through_the_documented_mapping(
    model_dir: Path,
    export: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """docs/examples/sdp-mapping.toml as the README shows it: ';', dd/mm/yyyy, LAKI-LAKI, NAPI."""
    monkeypatch.setenv("EDGE_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("EDGE_DATA_DIR", str(tmp_path / "site"))
    monkeypatch.setenv("EDGE_MATCH__OPEN_SET_FALLBACK", "fmr-points")
    _, photos = export
    sdp = tmp_path / "sdp.csv"
    sdp.write_text(
        "NO_INDUK;JENIS;NAMA_LENGKAP;TGL_LAHIR;JENIS_KELAMIN;NIK;NO_REGISTRASI;ALIAS;TGL_MASUK;"
        "NO_PUTUSAN;BLOK_KAMAR;FOTO_DEPAN;FOTO_SAMPING;KETERANGAN\n"
        "S1;Napi;Budi Santoso;04/08/1961;Laki-laki;;B.I-101/2024;Bams, Pak Budi;10/01/2024;"
        "PN-BDG/12;A-3;obama/1.jpg;obama/3.jpg;residivis\n"
        "S2;Pegawai;Sri Wahyuni;1985-03-07;P;;;;;;;rose/1.jpg;;\n"
        f"S3;PENGUNJUNG;Agus Pratama;12/03/1990;L;{KIT_NIK};;;;;;kit/1.jpg;;\n",
        encoding="utf-8",
    )
    mapping = Path(__file__).parents[2] / "docs" / "examples" / "sdp-mapping.toml"
    argv = ["import", str(sdp), "--photos", str(photos), "--mapping", str(mapping)]
    assert main([*argv, "--report", str(tmp_path / "r.csv")]) == 1  # S2's date needs an officer
    assert "imported 2, rejected 1, flagged 0" in capsys.readouterr().out
    report = _report(tmp_path / "r.csv")
    assert (report["S2"]["code"], "dd/mm/yyyy" in report["S2"]["reason_en"]) == (
        "field_invalid",
        True,
    )
    site = Site(Settings())
    try:
        with site.db.reading() as tx:
            rows = tx.execute(
                "SELECT role, sex, birth_date, aliases, registration_number FROM identities"
                " ORDER BY role"
            ).fetchall()
    finally:
        site.close()
    assert tuple(rows[0])[:3] == ("inmate", "M", "1961-08-04")
    assert "Pak Budi" in rows[0]["aliases"] and rows[0]["registration_number"] == "B.I-101/2024"
    assert tuple(rows[1])[:3] == ("visitor", "M", "1990-03-12")


def test_each_row_is_checked_against_what_the_running_service_saved_after_the_import_began(
    model_dir: Path, export: tuple[Path, Path], tmp_path: Path
) -> None:
    """The import loads its gallery at start; the desk then saves Budi in the service (another
    process on the same database). The import's row for the same man must be flagged, not saved
    as a second person: the gallery feed is applied before each row."""
    _, photos = export
    importing = _site(model_dir, tmp_path / "site")
    service = _site(model_dir, tmp_path / "site")
    try:
        header = "row_id,role,full_name,birth_date,sex,registration_number,photos\n"
        desk_csv, import_csv = tmp_path / "desk.csv", tmp_path / "import.csv"
        desk_csv.write_text(header + "d1,inmate,Budi Santoso,1961-08-04,M,B.I-101/2024,obama/1.jpg\n", encoding="utf-8")  # fmt: skip
        import_csv.write_text(header + "i1,inmate,Bambang Susilo,1961-08-04,M,B.I-102/2024,obama/2.jpg\n", encoding="utf-8")  # fmt: skip
        saved = archive_importer(service, "Petugas Meja", progress=False).run(desk_csv, photos)
        assert saved.imported == 1
        summary = archive_importer(importing, "Petugas Migrasi", progress=False).run(
            import_csv, photos, tmp_path / "report.csv"
        )
        assert (summary.imported, summary.flagged) == (0, 1)
        flagged = _report(tmp_path / "report.csv")["i1"]
        assert (flagged["state"], flagged["code"]) == ("flagged", "possible_duplicate")
        budi = _scalar(importing, "SELECT id FROM identities WHERE full_name = 'Budi Santoso'")
        assert budi in flagged["candidates"]
    finally:
        importing.close()
        service.close()


def test_an_unmounted_photo_folder_is_refused_before_any_row_and_the_right_one_then_imports(
    model_dir: Path,
    export: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("EDGE_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("EDGE_DATA_DIR", str(tmp_path / "site"))
    monkeypatch.setenv("EDGE_MATCH__OPEN_SET_FALLBACK", "fmr-points")
    csv_path, photos = export
    argv = ["import", str(csv_path), "--report", str(tmp_path / "r.csv")]
    assert main([*argv, "--photos", "/media/usb/foto"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error [import_photos_missing]: Folder foto tidak ada") and "USB" in err
    assert main([*argv, "--photos", str(photos)]) == 1  # nothing was marked: every row runs
    out = capsys.readouterr().out
    assert "diimpor 5, ditolak 4, ditandai 1, dilewati 0" in out
    assert "imported 5, rejected 4, flagged 1, skipped 0" in out


def test_a_refused_row_is_tried_again_once_its_photo_is_in_the_folder_and_a_bad_photo_is_left_out(
    model_dir: Path, dev_faces: Path, tmp_path: Path
) -> None:
    """The folder is not part of the import's identity: a photo put in place after a first run
    lets the same file import the row. A photo the rules refuse is left out of a row whose
    other photo is accepted ("one accepted photo is enough"), and the report says which."""
    photos = tmp_path / "photos"
    photos.mkdir()
    blank = Image.new("RGB", (640, 480), (128, 128, 128))
    blank.save(photos / "blank.jpg")
    (photos / "andi-1.jpg").write_bytes((dev_faces / "facerec-steve_wozniak/1.jpg").read_bytes())
    csv_path = tmp_path / "export.csv"
    csv_path.write_text(
        "row_id,role,full_name,birth_date,sex,registration_number,photos\n"
        "a1,inmate,Andi Wijaya,1979-05-04,M,B.I-201/2024,andi-1.jpg;blank.jpg\n"
        "b1,inmate,Budi Santoso,1961-08-04,M,B.I-202/2024,budi-1.jpg\n",
        encoding="utf-8",
    )
    site = _site(model_dir, tmp_path / "site")
    try:
        first = archive_importer(site, "Petugas", progress=False).run(csv_path, photos)
        assert (first.imported, first.rejected) == (1, 1)
        report = _report(csv_path.with_suffix(".report.csv"))
        assert report["a1"]["state"] == "imported"
        left_out = json.loads(report["a1"]["details"])["photos_left_out"]
        assert [p["photo"] for p in left_out] == ["blank.jpg"] and left_out[0]["code"]
        assert report["b1"]["code"] == "photo_missing"
        (photos / "budi-1.jpg").write_bytes((dev_faces / "facerec-obama/1.jpg").read_bytes())
        second = archive_importer(site, "Petugas", progress=False).run(csv_path, photos)
        assert (second.skipped, second.imported, second.rejected) == (1, 1, 0)
    finally:
        site.close()
