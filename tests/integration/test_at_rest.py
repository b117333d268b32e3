"""Encryption at rest, end to end: after a real enrolment with face and fingers through the HTTP
API, nothing biometric is left in clear anywhere in the site's data folder, and the database is
readable by its owner only."""

from __future__ import annotations

import base64
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from enrollment.repository import IdentityRepository
from enrollment.vault import aad_for
from tests.integration.conftest import SiteClient, make_site_client
from tests.integration.test_enrolment_api import INMATE, capture, commit

pytestmark = pytest.mark.model

PHOTOS = [
    "facerec-steve_wozniak/1.jpg",
    "facerec-steve_wozniak/2.jpg",
    "facerec-steve_wozniak/3.jpg",
]
FINGERS = ((1, 101), (2, 102))
JPEG = re.compile(rb"\xff\xd8\xff[\xe0-\xef]..(?:JFIF|Exif)", re.DOTALL)
PNG = b"\x89PNG\r\n\x1a\n"
FMR = b"FMR\x00 20\x00"


@pytest.fixture(scope="module")
def site_client(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteClient]:
    yield from make_site_client(model_dir, tmp_path_factory.mktemp("at-rest"))


@pytest.fixture(scope="module")
def enrolled(
    site_client: SiteClient, dev_faces: Path, fingerprints: Path, nbis_library: Path
) -> tuple[str, list[bytes]]:
    """An inmate enrolled with three face photos and two fingers of three impressions; returns
    the identity and every uploaded file's bytes."""
    session = capture(site_client, dev_faces, "inmate", PHOTOS)
    response = commit(site_client, session, {**INMATE, "registration_number": "B.I-77/2026"})
    assert response.status_code == 201, response.text
    identity_id = str(response.json()["identity_id"])
    uploads = [(dev_faces / p).read_bytes() for p in PHOTOS]
    headers = site_client.as_role("enrolment_officer")
    for position, finger in FINGERS:
        for impression in (1, 2, 3):
            tif = (fingerprints / "fvc2002-db1_b" / f"{finger}_{impression}.tif").read_bytes()
            uploads.append(tif)
            answer = site_client.client.post(
                f"/v1/identities/{identity_id}/fingers",
                files={"image": (f"{finger}_{impression}.tif", tif, "image/tiff")},
                data={"position": position}, headers=headers,
            )  # fmt: skip
            assert answer.status_code == 200 and answer.json()["accepted"], answer.text
    return identity_id, uploads


def _stored_secrets(site_client: SiteClient, identity_id: str) -> dict[str, bytes]:
    """The plain bytes the site holds for the person (opened through its vault): what must not
    appear in clear on disk, raw or as base64."""
    site, found = site_client.site, {}
    with site.db.reading() as tx:
        pack = site.engine().pack_id
        for t in IdentityRepository(tx, site.vault).templates_for_pack(pack, identity_id):
            found[f"template {t.template_id}"] = t.vector.astype("<f4").tobytes()
        rows = tx.execute(
            "SELECT id, iso_record FROM finger_templates WHERE identity_id = ?", (identity_id,)
        ).fetchall()
    for template_id, sealed in rows:
        record = site.vault.open(sealed, aad_for("finger_templates", "iso_record", identity_id))
        found[f"iso record {template_id}"] = record[24:88]  # past the header: the minutiae
    return found


def _needles(secrets: dict[str, bytes], uploads: list[bytes]) -> dict[str, bytes]:
    needles = {}
    for name, value in [*secrets.items(), *((f"upload {n}", u) for n, u in enumerate(uploads))]:
        needles[name] = value[:32]
        needles[f"{name} (middle)"] = value[len(value) // 2 : len(value) // 2 + 32]
        needles[f"{name} (base64)"] = base64.b64encode(value[:48])
    return needles


def _scan(folder: Path, needles: dict[str, bytes]) -> list[str]:
    """Every hit of a biometric in clear, file by file, byte by byte (-wal and -shm included)."""
    hits = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        hits += [f"{path.name}: JPEG at {m.start()}" for m in JPEG.finditer(data)]
        hits += [f"{path.name}: {magic!r}" for magic in (PNG, FMR) if magic in data]
        hits += [f"{path.name}: {name}" for name, needle in needles.items() if needle in data]
    return hits


def test_no_image_record_or_template_is_left_in_clear_in_the_data_folder(
    site_client: SiteClient, enrolled: tuple[str, list[bytes]]
) -> None:
    identity_id, uploads = enrolled
    secrets = _stored_secrets(site_client, identity_id)
    assert len([k for k in secrets if k.startswith("template")]) >= 2
    assert len([k for k in secrets if k.startswith("iso")]) == 6
    data_dir = site_client.site.settings.data_dir
    assert Path(f"{site_client.site.db.path}-wal").is_file()  # scanned while the service runs
    assert _scan(data_dir, _needles(secrets, uploads)) == []
    # The scan can fail: the same bytes written in clear are found.
    (data_dir / "probe.bin").write_bytes(b"x" + uploads[0] + secrets[next(iter(secrets))])
    assert len(_scan(data_dir, _needles(secrets, uploads))) >= 3
    (data_dir / "probe.bin").unlink()


def test_the_database_and_its_folder_are_private_to_the_service(
    site_client: SiteClient, enrolled: tuple[str, list[bytes]]
) -> None:
    db_path = site_client.site.db.path
    for path in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(db_path.parent.stat().st_mode) == 0o700


def test_ready_warns_that_the_key_sits_beside_the_database(
    site_client: SiteClient, enrolled: tuple[str, list[bytes]]
) -> None:
    body = site_client.client.get("/ready").json()
    assert body["ready"] is True  # a warning, not a failure: the README's first run works
    assert [w["code"] for w in body["warnings"]] == ["development_key"]
