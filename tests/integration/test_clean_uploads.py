"""Uploads are kept re-encoded: a desk frame that is at once a JPEG with EXIF, a web page and a
ZIP archive is stored and served as a plain JPEG, `nosniff`, with a fixed image type."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from enrollment.repository import IdentityRepository
from tests.integration.conftest import SiteClient

pytestmark = pytest.mark.model

TRACES = (b"<html", b"<script", b"PK\x03\x04", b"Exif", b"SERIAL-77", b"GPS")


def polyglot(path: Path) -> bytes:
    """A real face photo re-saved with EXIF and a comment, then HTML and a ZIP after its end."""
    exif = Image.Exif()
    exif[0xA431] = "SERIAL-77"
    exif[0x010F] = "GPS camera"
    out = io.BytesIO()
    with Image.open(path) as image:
        image.convert("RGB").save(out, "JPEG", exif=exif, comment=b"<html>x</html>")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("index.html", "<script>alert(1)</script>")
    return out.getvalue() + b"<html><script>alert(1)</script></html>" + archive.getvalue()


def assert_clean(data: bytes) -> None:
    assert data.startswith(b"\xff\xd8\xff") and data.endswith(b"\xff\xd9")
    assert not zipfile.is_zipfile(io.BytesIO(data))
    for trace in TRACES:
        assert trace not in data, trace
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG" and not image.getexif()


def test_a_polyglot_frame_is_stored_and_served_as_a_clean_jpeg(
    site_client: SiteClient, dev_faces: Path
) -> None:
    sc, headers = site_client, site_client.as_role("enrolment_officer")
    session = sc.client.post("/v1/captures", json={"role": "visitor"}, headers=headers).json()
    for n in (1, 2, 3, 4):
        dirty = polyglot(dev_faces / f"facerec-steve_wozniak/{n}.jpg")
        assert zipfile.is_zipfile(io.BytesIO(dirty))
        feedback = sc.client.post(
            f"/v1/captures/{session['session_id']}/frames",
            files={"image": (f"{n}.jpg", dirty, "image/jpeg")},
            headers=headers,
        ).json()
    assert feedback["ready"], feedback
    visitor = {"full_name": "Steve", "birth_date": "1950-08-11", "sex": "M",
               "nik": "3201011108500003", "consent_purpose": "verifikasi wajah saat kunjungan"}  # fmt: skip
    committed = sc.client.post(
        f"/v1/captures/{session['session_id']}/commit",
        json={"identity": visitor, "decisions": []},
        headers=headers,
    )
    assert committed.status_code == 201, committed.text
    person = committed.json()["identity_id"]

    served = sc.client.get(f"/v1/identities/{person}/photo", headers=headers)
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert_clean(served.content)
    with sc.site.db.reading() as tx:
        repo = IdentityRepository(tx, sc.site.vault)
        ids = [r[0] for r in tx.execute("SELECT id FROM images WHERE identity_id = ?", (person,))]
        stored = [repo.image_bytes(image_id) for image_id in ids]
    assert len(stored) >= 2
    for data in stored:
        assert data is not None
        assert_clean(data)
