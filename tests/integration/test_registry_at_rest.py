"""Encryption at rest at the registry, end to end: a real site enrols a person with face and
fingers, pushes to a real registry (PostgreSQL, and the SQLite demo backend), answers a photo
request, and the registry puts the face on its watchlist; then no template, ISO record or image
is found in clear anywhere in the registry's database: every table's contents (PostgreSQL) or
the database files byte by byte (SQLite). Rows written before encryption are sealed on start."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from edge import sync_cli
from enrollment.repository import IdentityRepository
from enrollment.vault import aad_for
from gallery_sync.protocol import new_site_key
from registry.db_sqlite import sqlite_path
from registry.resealing import reseal_existing
from tests.integration import test_registry as base
from tests.integration.conftest import SiteClient, make_site_client
from tests.integration.test_at_rest import FINGERS, PHOTOS
from tests.integration.test_enrolment_api import INMATE, capture, commit
from tests.integration.test_registry import Registry
from tests.integration.test_registry_to_site import _client, _register

pytestmark = pytest.mark.model

database_url, registry_url, registry = base.database_url, base.registry_url, base.registry
JPEG = re.compile(rb"\xff\xd8\xff[\xe0-\xef]..(?:JFIF|Exif)", re.DOTALL)
MAGIC = {"JPEG": b"\xff\xd8\xff", "PNG": b"\x89PNG\r\n\x1a\n", "ISO record": b"FMR\x00 20\x00"}


@pytest.fixture(scope="module")
def site_client(
    model_dir: Path, tmp_path_factory: pytest.TempPathFactory, registry_url: str
) -> Iterator[SiteClient]:
    """A fresh site per registry backend (the same person enrolled twice would be a duplicate)."""
    yield from make_site_client(model_dir, tmp_path_factory.mktemp("registry-at-rest"))


@pytest.fixture(scope="module")
def pushed(
    registry: Registry, site_client: SiteClient, dev_faces: Path, fingerprints: Path,
    nbis_library: Path,
) -> dict[str, bytes]:  # fmt: skip
    """Enrol, push, deliver a photo, add a watchlist entry; the plain secrets, by name."""
    sc, settings = site_client, site_client.site.settings
    headers = sc.as_role("enrolment_officer")
    session = capture(sc, dev_faces, "inmate", PHOTOS)
    response = commit(sc, session, {**INMATE, "registration_number": "B.I-88/2026"})
    assert response.status_code == 201, response.text
    person = str(response.json()["identity_id"])
    for position, finger in FINGERS:
        for impression in (1, 2, 3):
            tif = (fingerprints / "fvc2002-db1_b" / f"{finger}_{impression}.tif").read_bytes()
            answer = sc.client.post(f"/v1/identities/{person}/fingers", headers=headers,
                                    files={"image": ("f.tif", tif, "image/tiff")},
                                    data={"position": position})  # fmt: skip
            assert answer.status_code == 200 and answer.json()["accepted"], answer.text
    _register(registry, settings.site_id, new_site_key(sync_cli.key_path(settings)))
    agent = sync_cli.agent_for_site(
        sc.site, _client(registry, settings.site_id, sync_cli.site_key(settings))
    )
    assert agent.push_pending() >= 7
    asked = registry.client.post(f"/v1/identities/{person}/photo-requests",
                                 json={"reason": "case"}, headers=registry.tokens["judge"])  # fmt: skip
    assert asked.status_code in (200, 201), asked.text
    agent.pull_pending()
    agent.push_pending()
    delivered = registry.client.get(f"/v1/identities/{person}/photo",
                                    headers=registry.tokens["judge"])  # fmt: skip
    assert delivered.status_code == 200, delivered.text
    secrets = site_secrets(sc, person)
    template = base64.b64encode(secrets["template 0"]).decode()
    listed = registry.client.post("/v1/watchlist", headers=registry.tokens["admin"],
                                  json={"full_name": "Buronan", "reason": "escaped", "templates": [template]})  # fmt: skip
    assert listed.status_code == 200, listed.text
    assert delivered.content == secrets["photo"]  # what the registry holds opens to the same bytes
    return secrets


def site_secrets(sc: SiteClient, person: str) -> dict[str, bytes]:
    site, found = sc.site, {}
    with site.db.reading() as tx:
        repo = IdentityRepository(tx, site.vault)
        templates = repo.templates_for_pack(site.engine().pack_id, person)
        for n, t in enumerate(templates):
            found[f"template {n}"] = t.vector.astype("<f4").tobytes()
        found["photo"] = repo.image_bytes(repo.get(person).photo_image_id) or b""
        rows = tx.execute("SELECT id, iso_record FROM finger_templates WHERE identity_id = ?",
                          (person,)).fetchall()  # fmt: skip
    for template_id, sealed in rows:
        record = site.vault.open(sealed, aad_for("finger_templates", "iso_record", person))
        found[f"iso record {template_id}"] = record[24:88]
    return found


def needles(secrets: dict[str, bytes]) -> dict[str, bytes]:
    found = {}
    for name, value in secrets.items():
        found[name] = value[:32]
        found[f"{name} (middle)"] = value[len(value) // 2 : len(value) // 2 + 32]
        found[f"{name} (base64)"] = base64.b64encode(value[:48])
    return found


def postgres_hits(url: str, wanted: dict[str, bytes]) -> list[str]:
    """Every table's rows as PostgreSQL prints them (bytea as hex), searched raw and as hex."""
    hits = []
    with psycopg.connect(url) as connection:
        tables = [r[0] for r in connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")]  # fmt: skip
        for table in tables:
            for (text,) in connection.execute(f'SELECT t::text FROM "{table}" t'.encode()):
                lowered = text.lower()
                for name, needle in {**wanted, **MAGIC}.items():
                    if needle.hex() in lowered or needle.decode("latin-1") in text:
                        hits.append(f"{table}: {name}")
    return hits


def sqlite_hits(url: str, wanted: dict[str, bytes]) -> list[str]:
    hits = []
    path = sqlite_path(url)
    for file in sorted(path.parent.glob(path.name + "*")):
        data = file.read_bytes()
        hits += [f"{file.name}: JPEG at {m.start()}" for m in JPEG.finditer(data)]
        hits += [f"{file.name}: {n}" for n, needle in {**wanted, **MAGIC}.items()
                 if n != "JPEG" and needle in data]  # fmt: skip
    return hits


def hits(registry: Registry, wanted: dict[str, bytes]) -> list[str]:
    if registry.url.startswith("sqlite"):
        return sqlite_hits(registry.url, wanted)
    return postgres_hits(registry.url, wanted)


def test_no_template_record_or_image_is_in_clear_in_the_registry_database(
    registry: Registry, pushed: dict[str, bytes]
) -> None:
    assert len([k for k in pushed if k.startswith("iso")]) == 6
    wanted = needles(pushed)
    assert hits(registry, wanted) == []
    with registry.service.db.transaction() as tx:
        held = {t: tx.execute(f"SELECT count(*) AS n FROM {t}".encode()).fetchone()["n"]
                for t in ("national_templates", "national_fingers", "national_photos")}  # fmt: skip
    assert held["national_templates"] >= 3 and held["national_fingers"] == 6
    assert held["national_photos"] == 1


def test_the_scan_can_fail_and_rows_written_in_clear_are_sealed_on_start(
    registry: Registry, pushed: dict[str, bytes]
) -> None:
    service = registry.service
    with service.db.transaction() as tx:  # a row as a registry before encryption wrote it
        row = tx.execute("SELECT id, identity_id FROM national_fingers LIMIT 1").fetchone()
        tx.execute("UPDATE national_fingers SET iso_record = %s WHERE id = %s",
                   (b"FMR\x00 20\x00" + pushed["iso record 1"], row["id"]))  # fmt: skip
    assert hits(registry, needles(pushed))  # found in clear: the scan sees it
    counts = reseal_existing(service.db, service.vault)
    assert counts["national_fingers"] == 1 and sum(counts.values()) == 1
    assert hits(registry, needles(pushed)) == []


def test_rotation_reseals_everything_under_a_new_key_and_it_still_opens(
    registry: Registry, pushed: dict[str, bytes]
) -> None:
    from registry.resealing import rotate

    service = registry.service
    before = service.vault.active
    result: dict[str, Any] = rotate(service.db, service.vault)
    assert result["active_key"] == before + 1
    assert result["resealed"]["national_templates"] >= 3
    with service.db.transaction() as tx:  # the old key is kept: another process may seal under it
        assert [(r["id"], r["state"]) for r in tx.execute(
            "SELECT id, state FROM vault_keys ORDER BY id")] == [(before, "retiring"), (before + 1, "active")]  # fmt: skip
    result = rotate(service.db, service.vault, drop_old=True)  # every other process stopped
    assert result["dropped_keys"] == [before] and result["active_key"] == before + 1
    with service.db.transaction() as tx:
        assert [r["id"] for r in tx.execute("SELECT id FROM vault_keys")] == [before + 1]
    photo = registry.client.get(
        f"/v1/identities/{next(iter(_photo_owner(registry)))}/photo",
        headers=registry.tokens["judge"],
    )
    assert photo.content == pushed["photo"]
    assert registry.client.get("/v1/health").json()["warnings"][0]["code"] == "development_key"


def _photo_owner(registry: Registry) -> list[str]:
    return [str(r[0]) for r in registry.query("SELECT identity_id FROM national_photos")]
