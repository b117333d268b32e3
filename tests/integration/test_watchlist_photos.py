"""/pusat puts a person on the national watchlist from photos (issue 14): the registry embeds
them with the national gallery's pack (REGISTRY_MODEL_DIR), lists every national ban, and keeps
the officer's reason in the audit chain. Real models, real photos, both registry backends.

Locally the PostgreSQL half skips when the server is unreachable; under CI=true it fails instead.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from registry.app import create_registry_app
from registry.db import open_database
from registry.errors import RegistryFacesUnavailable
from registry.service import RegistryService
from registry.settings import RegistrySettings
from registry.watchlist_photos import WatchlistPhotos
from tests.integration import test_registry as base

pytestmark = pytest.mark.model

database_url = base.database_url
registry_url = base.registry_url
PASSWORD = base.PASSWORD


@dataclass
class Pusat:
    client: TestClient
    service: RegistryService
    tokens: dict[str, dict[str, str]]
    url: str


@pytest.fixture(scope="module")
def pusat(
    registry_url: str, model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pusat]:
    """A registry with the face models, its admin's and adjudicator's tokens, its database URL."""
    cache = tmp_path_factory.mktemp("registry-model-cache")
    settings = RegistrySettings(
        database_url=registry_url, model_dir=model_dir, model_cache_dir=cache
    )
    service = RegistryService(settings)
    with TestClient(create_registry_app(settings, service)) as client:
        tokens = {}
        for user, role in (("admin", "central_admin"), ("judge", "adjudicator")):
            service.add_account(user, role, PASSWORD, None)
            login = client.post("/v1/auth/login", json={"username": user, "password": PASSWORD})
            tokens[user] = {"Authorization": f"Bearer {login.json()['token']}"}
        yield Pusat(client, service, tokens, registry_url)


def _photo(dev_faces: Path, person: str, number: int) -> tuple[str, bytes, str]:
    return (f"{number}.jpg", (dev_faces / person / f"{number}.jpg").read_bytes(), "image/jpeg")


def test_an_entry_from_a_photo_is_listed_audited_and_sent_with_a_matching_template(
    pusat: Pusat, dev_faces: Path
) -> None:
    client, tokens, url = pusat.client, pusat.tokens, pusat.url
    form = {"full_name": "Buronan Satu", "reason": "kabur dari Lapas", "nik": "3201010101800001"}
    files = [("photos", _photo(dev_faces, "facerec-obama", 1))]
    added = client.post("/v1/watchlist/photos", data=form, files=files, headers=tokens["admin"])
    assert added.status_code == 200, added.text
    wanted = added.json()["identity_id"]

    listed = client.get("/v1/watchlist", headers=tokens["judge"]).json()["entries"]
    assert [(e["identity_id"], e["site_id"], e["reason"], e["officer"]) for e in listed] == [
        (wanted, None, "kabur dari Lapas", "admin")
    ]
    with open_database(url).transaction() as tx:
        change = tx.execute(
            "SELECT payload FROM change_log WHERE kind = 'watchlist.added' ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        audit = tx.execute(
            "SELECT actor FROM audit WHERE action = 'watchlist.added' AND subject = %s", (wanted,)
        ).fetchall()
    assert [row["actor"] for row in audit] == ["admin"]
    assert "templates" not in change["payload"]  # sealed at rest; sites receive them opened
    sent = pusat.service.vault.open_payload("watchlist.added", "*", change["payload"])["templates"]
    vector = np.frombuffer(base64.b64decode(sent[0]["vector_f32le_b64"]), dtype="<f4")
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-3
    probes = [_photo(dev_faces, "facerec-obama", 3)[1], _photo(dev_faces, "facerec-kit_harington", 1)[1]]  # fmt: skip
    same, other = (
        np.frombuffer(base64.b64decode(t), dtype="<f4")
        for t in pusat.service.watchlist_photos.templates(probes)
    )
    assert float(vector @ same) > float(vector @ other) + 0.05  # the same face, not any face


def test_photo_entries_are_refused_clearly(pusat: Pusat, dev_faces: Path, tmp_path: Path) -> None:
    client, tokens = pusat.client, pusat.tokens
    form = {"full_name": "Siapa", "reason": "uji penolakan"}
    face = [("photos", _photo(dev_faces, "facerec-obama", 2))]
    judge = client.post("/v1/watchlist/photos", data=form, files=face, headers=tokens["judge"])
    assert judge.status_code == 403  # an adjudicator reads the list, only an admin adds
    blank = np.full((240, 240, 3), 200, np.uint8)
    no_face = [("photos", ("blank.png", cv2.imencode(".png", blank)[1].tobytes(), "image/png"))]
    refused = client.post("/v1/watchlist/photos", data=form, files=no_face, headers=tokens["admin"])
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "face_not_found"
    with pytest.raises(RegistryFacesUnavailable):
        WatchlistPhotos(None, tmp_path, "open-yunet-dlib").templates([b"x"])
