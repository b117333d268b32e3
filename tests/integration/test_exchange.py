"""`gerbang exchange`: a person enrolled through the HTTP API (real models, dev photos, FVC2002
fingers) exported as ANSI/NIST-ITL 1-2011, read back by an independent reader, and imported into
another site and into the same one: held for a duplicate decision, never created silently."""

from __future__ import annotations

import io
import json
from pathlib import Path

import nistitl
import numpy as np
import pytest
from PIL import Image

from console.main import main
from edge.settings import Settings
from edge.site import Site
from enrollment.accounts import AccountStore
from enrollment.audit import verify_chain
from enrollment.exchange import iso19794_4, iso19794_5
from enrollment.exchange.sealing import is_sealed
from enrollment.exchange.transaction import parse
from enrollment.repository import IdentityRepository
from enrollment.vault import aad_for
from models.fingerprint import iso19794
from tests.integration.conftest import PASSWORD, SiteClient
from tests.integration.test_enrolment_api import INMATE, capture, commit

pytestmark = pytest.mark.model
CASE = "PN-BDG-77/2026"


@pytest.fixture(scope="module")
def enrolled(
    site_client: SiteClient, dev_faces: Path, fingerprints: Path, nbis_library: Path
) -> str:
    """An inmate with three face captures and two fingers of three impressions each."""
    session = capture(
        site_client, dev_faces, "inmate", [f"facerec-kit_harington/{n}.jpg" for n in (1, 2, 3)]
    )
    body = {**INMATE, "full_name": "Agus Pratama", "registration_number": "B.I-777/2026",
            "aliases": ["Agus", "Gus"]}  # fmt: skip
    response = commit(site_client, session, body)
    assert response.status_code == 201, response.text
    identity_id = str(response.json()["identity_id"])
    folder = fingerprints / "fvc2002-db1_b"
    for position, finger in ((1, 103), (2, 104)):
        for impression in (1, 2, 3):
            image = (
                f"{finger}_{impression}.tif",
                (folder / f"{finger}_{impression}.tif").read_bytes(),
                "image/tiff",
            )
            answer = site_client.client.post(
                f"/v1/identities/{identity_id}/fingers", files={"image": image},
                data={"position": position}, headers=site_client.as_role("enrolment_officer"),
            )  # fmt: skip
            assert answer.status_code == 200 and answer.json()["accepted"], answer.text
    return identity_id


def _as(monkeypatch: pytest.MonkeyPatch, data_dir: Path, model_dir: Path, user: str) -> None:
    monkeypatch.setenv("EDGE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("EDGE_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("GERBANG_USERNAME", user)
    monkeypatch.setenv("GERBANG_PASSWORD", PASSWORD)


@pytest.fixture(scope="module")
def exported(site_client: SiteClient, enrolled: str, model_dir: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Path:  # fmt: skip
    out = tmp_path_factory.mktemp("exchange") / "agus.an2"
    with pytest.MonkeyPatch.context() as mp:
        _as(mp, site_client.site.settings.data_dir, model_dir, "supervisor")
        assert main(["exchange", "export", "--person", enrolled, "--out", str(out),
                     "--case-ref", CASE, "--plain", "--minutiae"]) == 0  # fmt: skip
    return out


def test_the_export_reads_back_with_every_record_and_image(
    site_client: SiteClient, enrolled: str, exported: Path
) -> None:
    message = nistitl.Message()
    message.parse(exported.read_bytes())
    records = list(message)
    types = [r.type for r in records]
    site = site_client.site
    with site.db.reading() as tx:
        repo = IdentityRepository(tx, site.vault)
        faces = [repo.image_bytes(i) for i, _, _ in repo.image_ids(enrolled)]
        fingers = repo.finger_images(enrolled)
    assert len(faces) >= 2 and len(fingers) == 6
    assert types[:2] == [1, 2] and types.count(10) == len(faces) and types.count(14) == 6
    assert message[0]._8 == site_client.site.settings.site_id
    text = records[1]
    assert (text._18, text._15, text._22, text._24, text._905) == (
        "Agus Pratama", "B.I-777/2026", "19901201", "M", CASE)  # fmt: skip
    assert [r._999 for r in records if r.type == 10] == faces
    type14 = [r for r in records if r.type == 14]
    assert [r._999 for r in type14] == [f.png for f in fingers]  # byte for byte
    assert [r._13 for r in type14] == ["1", "1", "1", "2", "2", "2"]
    assert {r._9 for r in type14} == {"500"}
    assert Image.open(io.BytesIO(type14[0]._999)).size == (int(type14[0]._6), int(type14[0]._7))
    with site.db.reading() as tx:
        event = tx.execute(
            "SELECT actor, details FROM audit_events WHERE action = 'exchange.exported' AND subject = ?",
            (enrolled,),
        ).fetchone()
        assert verify_chain(tx) is None
    details = json.loads(event["details"])
    assert event["actor"] == "supervisor" and details["case_ref"] == CASE
    assert details["encryption"] == "none" and details["minutiae"] == 6


def test_type9_minutiae_go_with_every_finger_image(
    site_client: SiteClient, enrolled: str, exported: Path
) -> None:
    records = _read(exported)
    type14 = [r for r in records if r.type == 14]
    type9 = [r for r in records if r.type == 9]
    assert [r._2 for r in type9] == [r._2 for r in type14]  # the same IDC: one impression each
    assert [r._6 for r in type9] == [r._13 for r in type14]
    site = site_client.site
    with site.db.reading() as tx:
        rows = tx.execute(
            "SELECT t.iso_record FROM finger_templates t JOIN finger_images f ON f.id = t.image_id"
            " WHERE f.identity_id = ? ORDER BY f.position, f.impression",
            (enrolled,),
        ).fetchall()
        stored = [
            iso19794.decode(
                site.vault.open(r[0], aad_for("finger_templates", "iso_record", enrolled))
            )[0][1]
            for r in rows
        ]
    assert [int(r._10) for r in type9] == [t.count for t in stored]
    received = parse(exported.read_bytes()).minutiae  # our own reader: back to pixels
    for view, template in zip(received, stored, strict=True):
        assert np.abs(view.template.minutiae[:, :2] - template.minutiae[:, :2]).max() < 0.25
        turned = np.abs(
            np.angle(np.exp(1j * (view.template.minutiae[:, 2] - template.minutiae[:, 2])))
        )
        assert turned.max() < np.radians(0.51)


def test_an_export_is_sealed_unless_plain_is_asked_for_by_name(
    site_client: SiteClient, enrolled: str, model_dir: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    _as(monkeypatch, site_client.site.settings.data_dir, model_dir, "supervisor")
    out = tmp_path / "x.an2"
    assert main(["exchange", "export", "--person", enrolled, "--out", str(out)]) == 2
    assert "exchange_protection_required" in capsys.readouterr().err
    assert not out.exists()


def test_a_sealed_export_opens_only_with_the_receivers_key(
    site_client: SiteClient, enrolled: str, model_dir: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    assert main(["exchange", "keygen", "--out", str(tmp_path / "polda")]) == 0
    assert main(["exchange", "keygen", "--out", str(tmp_path / "other")]) == 0
    assert (tmp_path / "polda.key").stat().st_mode & 0o777 == 0o600
    _as(monkeypatch, site_client.site.settings.data_dir, model_dir, "supervisor")
    out = tmp_path / "agus.an2"
    assert main(["exchange", "export", "--person", enrolled, "--out", str(out),
                 "--to-key", str(tmp_path / "polda.pub")]) == 0  # fmt: skip
    capsys.readouterr()
    data = out.read_bytes()
    assert is_sealed(data) and b"Agus" not in data and b"JFIF" not in data
    assert out.stat().st_mode & 0o777 == 0o600
    with site_client.site.db.reading() as tx:
        details = json.loads(tx.execute(
            "SELECT details FROM audit_events WHERE action = 'exchange.exported' ORDER BY seq DESC"
        ).fetchone()[0])  # fmt: skip
    assert details["encryption"] == "x25519+aes-256-gcm" and len(details["recipient"]) == 16
    receiver = tmp_path / "receiver"
    _new_site(receiver, model_dir)
    _as(monkeypatch, receiver, model_dir, "enrolment_officer")
    for extra in ([], ["--key", str(tmp_path / "other.key")]):
        assert main(["exchange", "import", str(out), *extra]) == 2
        assert "exchange_file_sealed" in capsys.readouterr().err
    assert main(["exchange", "import", str(out), "--key", str(tmp_path / "polda.key")]) == 0
    printed = json.loads(capsys.readouterr().out.split("\nheld for")[0])
    assert printed["faces"] >= 2 and printed["fingers"] == 6


def test_an_enrolment_officer_may_not_export_and_a_wrong_password_is_refused(
    site_client: SiteClient, enrolled: str, model_dir: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    out = tmp_path / "x.an2"
    _as(monkeypatch, site_client.site.settings.data_dir, model_dir, "enrolment_officer")
    argv = ["exchange", "export", "--person", enrolled, "--out", str(out), "--plain"]
    assert main(argv) == 2
    assert "[forbidden]" in capsys.readouterr().err
    monkeypatch.setenv("GERBANG_USERNAME", "site_admin")
    monkeypatch.setenv("GERBANG_PASSWORD", "wrong")
    assert main(argv) == 2
    assert not out.exists()


def _read(path: Path) -> list[nistitl.AsciiRecord]:
    message = nistitl.Message()
    message.parse(path.read_bytes())
    return list(message)


def _new_site(data_dir: Path, model_dir: Path) -> None:
    site = Site(Settings(data_dir=data_dir, model_dir=model_dir))
    with site.db.transaction() as tx:
        AccountStore(tx).add_operator("enrolment_officer", "Petugas", "enrolment_officer", PASSWORD)
    site.close()


def test_import_into_another_site_holds_the_person_for_a_decision(
    exported: Path, model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    other = tmp_path / "other-site"
    _new_site(other, model_dir)
    _as(monkeypatch, other, model_dir, "enrolment_officer")
    assert main(["exchange", "import", str(exported), "--case-ref", CASE]) == 0
    printed = json.loads(capsys.readouterr().out.split("\nheld for")[0])
    site = Site(Settings(data_dir=other, model_dir=model_dir))
    with site.db.reading() as tx:
        assert tx.execute("SELECT COUNT(*) FROM identities").fetchone()[0] == 0  # nobody created
        row = tx.execute("SELECT * FROM exchange_imports").fetchone()
        session = tx.execute("SELECT state, role FROM capture_sessions WHERE id = ?",
                             (row["session_id"],)).fetchone()  # fmt: skip
        kept = tx.execute(
            "SELECT COUNT(*) FROM captures WHERE session_id = ?", (row["session_id"],)
        ).fetchone()[0]
        event = tx.execute(
            "SELECT actor, details FROM audit_events WHERE action = 'exchange.imported'"
        ).fetchone()
        assert row["transaction_data"] != exported.read_bytes()  # sealed at rest, bound to the row
        aad = aad_for("exchange_imports", "transaction_data", row["id"])
        assert site.vault.open(row["transaction_data"], aad) == exported.read_bytes()
    site.close()
    faces = sum(r.type == 10 for r in _read(exported))
    assert (session["state"], session["role"], kept) == ("open", "inmate", faces)
    assert row["sender"] and row["case_ref"] == CASE and printed["session_id"] == row["session_id"]
    draft = json.loads(row["draft"])
    assert draft["full_name"] == "Agus Pratama" and draft["registration_number"] == "B.I-777/2026"
    assert draft["details"]["exchange"]["sender"] == row["sender"]
    assert (
        event["actor"] == "enrolment_officer" and json.loads(event["details"])["case_ref"] == CASE
    )
    # the same transaction again is refused, not held twice
    assert main(["exchange", "import", str(exported)]) == 2
    assert "exchange_already_received" in capsys.readouterr().err
    # the officer decides: a person not known here; the received fingers are enrolled too
    assert main(["exchange", "list"]) == 0
    assert printed["import_id"] in capsys.readouterr().out
    argv = [
        "exchange",
        "decide",
        printed["import_id"],
        "--new",
        "--reason",
        "tidak dikenal di sini",
    ]
    assert main(argv) == 0
    assert "created identity" in capsys.readouterr().out
    site = Site(Settings(data_dir=other, model_dir=model_dir))
    with site.db.reading() as tx:
        person = tx.execute("SELECT * FROM identities").fetchone()
        fingers = tx.execute("SELECT COUNT(*) FROM finger_templates").fetchone()[0]
        decided = tx.execute("SELECT identity_id FROM exchange_imports").fetchone()[0]
        assert verify_chain(tx) is None
    site.close()
    assert (person["full_name"], person["registration_number"]) == ("Agus Pratama", "B.I-777/2026")
    assert json.loads(person["details"])["exchange"]["case_ref"] == CASE
    assert decided == person["id"] and fingers >= 4  # FVC impressions pass the desk's check
    assert main(argv) == 2
    assert "exchange_import_decided" in capsys.readouterr().err


def test_import_into_the_same_site_finds_the_person_as_a_duplicate(
    site_client: SiteClient, enrolled: str, exported: Path, model_dir: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    data_dir = site_client.site.settings.data_dir
    with site_client.site.db.reading() as tx:
        before = tx.execute("SELECT COUNT(*) FROM identities").fetchone()[0]
    _as(monkeypatch, data_dir, model_dir, "enrolment_officer")
    assert main(["exchange", "import", str(exported)]) == 0
    printed = json.loads(capsys.readouterr().out.split("\nheld for")[0])
    assert printed["candidates"][0]["identity_id"] == enrolled
    assert printed["candidates"][0]["full_name"] == "Agus Pratama"
    with site_client.site.db.reading() as tx:
        assert tx.execute("SELECT COUNT(*) FROM identities").fetchone()[0] == before
    # the desk's own duplicate check on the held session names the same person
    found = site_client.client.get(
        f"/v1/captures/{printed['session_id']}/duplicates",
        headers=site_client.as_role("enrolment_officer"),
    )
    assert found.status_code == 200, found.text
    assert enrolled in found.text
    # 'same person' adds the received images to them instead of creating anyone
    argv = ["exchange", "decide", printed["import_id"], "--same", enrolled, "--reason", "sama"]
    assert main(argv) == 0
    assert f"added to identity {enrolled}" in capsys.readouterr().out
    with site_client.site.db.reading() as tx:
        assert tx.execute("SELECT COUNT(*) FROM identities").fetchone()[0] == before


def test_a_truncated_file_imports_nothing(
    exported: Path, model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    other = tmp_path / "site"
    _new_site(other, model_dir)
    cut = tmp_path / "cut.an2"
    cut.write_bytes(exported.read_bytes()[:-1000])
    _as(monkeypatch, other, model_dir, "enrolment_officer")
    assert main(["exchange", "import", str(cut)]) == 2
    assert "exchange_transaction_malformed" in capsys.readouterr().err
    site = Site(Settings(data_dir=other, model_dir=model_dir))
    with site.db.reading() as tx:
        for table in ("identities", "exchange_imports", "capture_sessions"):
            assert tx.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0, table
    site.close()


def test_the_iso_alternative_carries_the_same_images(
    site_client: SiteClient, enrolled: str, model_dir: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    _as(monkeypatch, site_client.site.settings.data_dir, model_dir, "site_admin")
    prefix = tmp_path / "agus"
    assert main(["exchange", "export", "--person", enrolled, "--out", str(prefix),
                 "--format", "iso", "--plain"]) == 0  # fmt: skip
    site = site_client.site
    with site.db.reading() as tx:
        repo = IdentityRepository(tx, site.vault)
        faces = [repo.image_bytes(i) for i, _, _ in repo.image_ids(enrolled)]
        fingers = repo.finger_images(enrolled)
    views = iso19794_5.decode((tmp_path / "agus.face.iso").read_bytes())
    assert [v.jpeg for v in views] == faces and views[0].sex == "M"
    ppi, compression, prints = iso19794_4.decode((tmp_path / "agus.finger.iso").read_bytes())
    assert (ppi, compression) == (500, "PNG")
    assert [(p.position, p.view, p.data) for p in prints] == [
        (f.position, f.impression, f.png) for f in fingers
    ]
