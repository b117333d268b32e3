"""A national watchlist entry's finger stops its person at a site's gate (issue 12): a real
registry (PostgreSQL, TestClient), a real site (real models, SQLite, FAISS, NBIS + MCC) whose
agent pulls through the site's own client, and the gate's visitor entry with a finger.

Two entries: one with a face and a finger, one with a finger only (FVC2002 DB1_B 101_1), the second
added as /pusat adds it, from the image (`POST /v1/watchlist/photos`, the registry extracting it
with the sites' default extractor). At the gate, with a card the site has never seen, the first person's other photo and other impression are
named `watchlist_match` on the fused evidence; a stranger's face with 101_2 is named by the finger
alone; a stranger's face and finger pass as not enrolled. Once the registry removes the finger-only
entry and the site pulls, 101_2 names no one.

Locally the module skips when PostgreSQL is unreachable; under CI=true it fails instead.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from edge import sync_cli
from gallery_sync.protocol import new_site_key
from models.fingerprint import iso19794, nbis
from site_sync.agent import SiteAgent
from tests.integration import test_registry as base
from tests.integration.conftest import SiteClient, make_site_client, photo
from tests.integration.test_registry import Registry
from tests.integration.test_registry_to_site import _client, _register

pytestmark = [pytest.mark.model, pytest.mark.slow]

database_url = base.database_url  # a fresh database for this module
POSITION = 2
WANTED, STRANGER = "facerec-obama", "deepface-img8"  # faces: on the watchlist, never enrolled
STRANGER_NIK = "3201019999990002"  # a card the site has never seen: only biometrics can tell


@pytest.fixture(scope="module")
def registry_url(database_url: str) -> str:
    """PostgreSQL: the registry's production backend."""
    return database_url


@pytest.fixture(scope="module")
def registry(registry_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """The registry, converting LEADER (for finger images) into a scratch cache."""
    cache = tmp_path_factory.mktemp("registry-model-cache")
    yield from base.open_registry(registry_url, model_cache_dir=cache)


@pytest.fixture(scope="module")
def site_client(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteClient]:
    for sc in make_site_client(model_dir, tmp_path_factory.mktemp("site")):
        gate = {"id": "main", "name": "P2U", "directions": ["in", "out"], "roles": ["visitor"]}
        added = sc.client.post("/v1/gates", json=gate, headers=sc.as_role("site_admin"))
        assert added.status_code == 201, added.text
        yield sc


def _print(fingerprints: Path, name: str) -> tuple[str, bytes, str]:
    return name, (fingerprints / "fvc2002-db1_b" / name).read_bytes(), "image/tiff"


def _iso(fingerprints: Path, name: str) -> str:
    grey = np.asarray(Image.open(fingerprints / "fvc2002-db1_b" / name).convert("L"), np.uint8)
    return base64.b64encode(iso19794.encode([(POSITION, nbis.extract(grey, 500))])).decode()


def _entry(sc: SiteClient, face: tuple[str, bytes, str], finger: tuple[str, bytes, str]) -> dict[str, Any]:  # fmt: skip
    """A visitor entry with a stranger's card, a face and a finger, as the gate's kiosk sends it."""
    response = sc.client.post(
        "/v1/gates/main/visitor-entry", files={"image": face, "finger_image": finger},
        data={"nik": STRANGER_NIK, "finger_position": str(POSITION)}, headers=sc.as_role("device"),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    return dict(response.json())


def _named(decision: dict[str, Any]) -> tuple[str, str, str | None]:
    person = decision.get("person") or {}
    return decision["result"], decision["reason"], person.get("identity_id")


def _banned_evidence(decision: dict[str, Any], identity_id: str) -> dict[str, Any]:
    people = decision["evidence"]["fused:visitor/banned"]["people"]
    return next(p for p in people if p["identity_id"] == identity_id)


def _agent(registry: Registry, sc: SiteClient) -> SiteAgent:
    settings = sc.site.settings
    _register(registry, settings.site_id, new_site_key(sync_cli.key_path(settings)))
    return sync_cli.agent_for_site(
        sc.site, _client(registry, settings.site_id, sync_cli.site_key(settings))
    )


def test_a_watchlisted_finger_is_named_at_the_gate_with_the_face_or_alone_until_removed(
    registry: Registry, site_client: SiteClient, dev_faces: Path, fingerprints: Path,
    nbis_library: Path,
) -> None:  # fmt: skip
    sc, agent = site_client, _agent(registry, site_client)
    face = sc.site.engine().analyse_bytes((dev_faces / WANTED / "1.jpg").read_bytes()).template
    template = base64.b64encode(np.asarray(face, dtype="<f4").tobytes()).decode()
    admin = registry.tokens["admin"]
    both = registry.client.post("/v1/watchlist", headers=admin, json={
        "full_name": "Buronan Wajah", "reason": "melarikan diri", "templates": [template],
        "fingers": [{"position": POSITION, "iso_record_b64": _iso(fingerprints, "103_1.tif")}]})  # fmt: skip
    finger_only = registry.client.post("/v1/watchlist/photos", headers=admin, data={
        "full_name": "Buronan Jari", "reason": "DPO sejak 2024", "finger_positions": [str(POSITION)]},
        files=[("finger_images", _print(fingerprints, "101_1.tif"))])  # fmt: skip
    assert both.status_code == finger_only.status_code == 200, (both.text, finger_only.text)
    wanted, by_finger = both.json()["identity_id"], finger_only.json()["identity_id"]
    stranger_face = photo(dev_faces, f"{STRANGER}/4.jpg")
    assert _named(_entry(sc, stranger_face, _print(fingerprints, "101_2.tif")))[1] == "visitor_not_enrolled"  # fmt: skip
    assert agent.pull_pending() == 2

    fused = _entry(sc, photo(dev_faces, f"{WANTED}/4.jpg"), _print(fingerprints, "103_2.tif"))
    assert _named(fused) == ("deny", "watchlist_match", wanted)
    evidence = _banned_evidence(fused, wanted)
    assert evidence["used"] == ["face", "finger"] and evidence["match"]
    assert evidence["finger_score"] >= evidence["finger_threshold"]

    alone = _entry(sc, stranger_face, _print(fingerprints, "101_2.tif"))
    assert _named(alone) == ("deny", "watchlist_match", by_finger)
    evidence = _banned_evidence(alone, by_finger)
    assert evidence["used"] == ["finger"] and evidence["match"]
    assert alone["evidence"]["fused:visitor/banned"]["gallery_people"] == 2  # both, one faceless
    assert _named(_entry(sc, stranger_face, _print(fingerprints, "106_8.tif")))[1] == "visitor_not_enrolled"  # fmt: skip

    removal = registry.client.post(f"/v1/watchlist/{by_finger}/removal", headers=admin,
                                   json={"reason": "tertangkap"})  # fmt: skip
    assert removal.status_code == 200, removal.text
    assert agent.pull_pending() == 1
    after = _entry(sc, stranger_face, _print(fingerprints, "101_2.tif"))
    assert _named(after)[1] == "visitor_not_enrolled"
