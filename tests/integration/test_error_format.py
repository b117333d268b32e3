"""One error format everywhere (issue 13): unknown routes, wrong methods, unreadable and deeply
nested bodies answer `{"error": {"code", "message": {"id", "en"}, "details"}}` at both services,
never FastAPI's `{"detail": ...}` nor a 500; every response carries `nosniff`; a stored upload
served back is never sniffed; and a gate device sees only the photo its own decision is about.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from enrollment.records import IdentityDraft
from enrollment.repository import IdentityRepository
from kernel.clock import now_iso
from registry.app import create_registry_app
from registry.service import RegistryService
from registry.settings import RegistrySettings
from tests.integration import test_registry as base
from tests.integration.conftest import SiteClient, error_code, make_site_client
from tests.integration.test_registry import Registry

database_url = base.database_url  # a PostgreSQL registry: a malformed id there used to be a 500
registry = base.registry


@pytest.fixture(scope="module")
def registry_url(database_url: str) -> str:
    return database_url


@pytest.fixture
def pg_registry(registry: Registry) -> Registry:
    return registry


@pytest.fixture(scope="module")
def site_client(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteClient]:
    yield from make_site_client(model_dir, tmp_path_factory.mktemp("site"))


@pytest.fixture(scope="module")
def registry_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    url = f"sqlite:///{tmp_path_factory.mktemp('registry') / 'registry.db'}"
    settings = RegistrySettings(database_url=url)
    with TestClient(create_registry_app(settings, RegistryService(settings))) as client:
        yield client


@pytest.fixture(params=["site", "registry"])
def client(
    request: pytest.FixtureRequest, site_client: SiteClient, registry_client: TestClient
) -> TestClient:
    return site_client.client if request.param == "site" else registry_client


def test_an_unknown_route_is_a_house_404(client: TestClient) -> None:
    response = client.get("/v1/no-such-thing")
    assert response.status_code == 404 and error_code(response) == "route_not_found"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_a_wrong_method_is_a_house_405_with_its_allow_header(client: TestClient) -> None:
    response = client.delete("/v1/auth/login")
    assert response.status_code == 405 and error_code(response) == "method_not_allowed"
    assert "POST" in response.headers["allow"]


@pytest.mark.parametrize(
    "body",
    [b"{", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000],
    ids=["truncated", "not-utf8", "deep-array", "deep-object"],
)
def test_an_unreadable_or_deeply_nested_body_is_a_house_4xx(
    client: TestClient, body: bytes
) -> None:
    response = client.post(
        "/v1/auth/login", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code in (400, 422), response.text[:200]
    assert error_code(response) in {"body_unreadable", "input_invalid"}
    assert "detail" not in response.json()


def test_a_stored_upload_served_back_is_never_sniffed_and_a_device_sees_only_its_decision(
    site_client: SiteClient,
) -> None:
    site = site_client.site
    polyglot = b"\xff\xd8\xff\xe0<html><script>alert(1)</script></html>"
    with site.db.transaction() as tx:
        repo = IdentityRepository(tx, site.vault)
        person = repo.insert(IdentityDraft(role="visitor", full_name="Rina"), "UPT-DEV")
        image_id, _ = repo.add_image(person, polyglot, "image/jpeg", now_iso())
        repo.update_fields(person, {"photo_image_id": image_id})
    url = f"/v1/identities/{person}/photo"

    served = site_client.client.get(url, headers=site_client.as_role("enrolment_officer"))
    assert served.status_code == 200
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-type"] == "image/jpeg"

    kiosk = site_client.as_role("device")
    refused = site_client.client.get(url, headers=kiosk)
    assert refused.status_code == 403 and error_code(refused) == "forbidden"
    with site.db.reading() as tx:
        gate = tx.execute("SELECT gate_id FROM devices").fetchone()[0]
    with site.db.transaction() as tx:
        tx.execute(
            "INSERT OR IGNORE INTO gates (id, name, directions, roles, created_at)"
            " VALUES (?, 'Gate', '[\"in\"]', '[\"visitor\"]', ?)",
            (gate, now_iso()),
        )
        tx.execute(
            "INSERT INTO gate_events (gate_id, at, passage, direction, result, reason,"
            " claimed_identity_id, matched_identity_id, evidence, actor)"
            " VALUES (?, ?, 'visitor_entry', 'in', 'admit', 'matched', NULL, ?, '{}', 'device')",
            (gate, now_iso(), person),
        )
    assert site_client.client.get(url, headers=kiosk).status_code == 200  # its own decision
    other = site_client.client.get(f"/v1/identities/{uuid.uuid4()}/photo", headers=kiosk)
    assert other.status_code == 403


def test_a_name_search_for_percent_matches_only_a_percent(site_client: SiteClient) -> None:
    with site_client.site.db.transaction() as tx:
        IdentityRepository(tx, site_client.site.vault).insert(
            IdentityDraft(role="visitor", full_name="Budi Santoso"), "UPT-DEV"
        )
    officer = site_client.as_role("enrolment_officer")
    for wildcard in ("%", "_"):
        found = site_client.client.get("/v1/identities", params={"name": wildcard}, headers=officer)
        assert found.status_code == 200 and found.json() == []
    assert site_client.client.get(
        "/v1/identities", params={"name": "udi S"}, headers=officer
    ).json()


def test_a_terminal_with_a_wrong_key_is_told_to_get_a_new_key_not_to_sign_in(
    site_client: SiteClient,
) -> None:
    refused = site_client.client.get("/v1/visits/inside", headers={"X-Device-Key": "not-a-key"})
    assert refused.status_code == 401 and error_code(refused) == "unauthenticated"
    message = refused.json()["error"]["message"]
    assert "gerbang devices rekey" in message["id"] and "new key" in message["en"]
    nobody = site_client.client.get("/v1/visits/inside")
    assert nobody.json()["error"]["message"]["en"] == "Please sign in first."


def test_an_unknown_role_or_status_filter_is_refused_not_answered_empty(
    site_client: SiteClient,
) -> None:
    officer = site_client.as_role("enrolment_officer")
    for params in ({"role": "x"}, {"status": "gone"}):
        refused = site_client.client.get("/v1/identities", params=params, headers=officer)
        assert refused.status_code == 422 and error_code(refused) == "input_invalid", params
    fine = site_client.client.get("/v1/identities", params={"role": "visitor", "status": "banned"},
                                  headers=officer)  # fmt: skip
    assert fine.status_code == 200


def test_a_malformed_identity_id_at_the_registry_is_a_404_not_a_500(
    pg_registry: Registry,
) -> None:
    admin = pg_registry.tokens["admin"]
    body = {"identity_id": "x" * 36, "to_site": "UPT-B", "reason": "moved"}
    transfer = pg_registry.client.post("/v1/transfers", json=body, headers=admin)
    assert transfer.status_code == 404 and error_code(transfer) == "registry_not_found"
    photo = pg_registry.client.get("/v1/identities/not-a-uuid/photo", headers=admin)
    assert photo.status_code == 404
    asked = pg_registry.client.post("/v1/identities/not-a-uuid/photo-requests", headers=admin)
    assert asked.status_code == 404


def test_a_kiosk_key_used_at_another_gate_says_whose_it_is_and_what_to_do(
    site_client: SiteClient,
) -> None:
    """The kiosk shows the server's message: a bare 'your role may not do this' left an officer
    with a kiosk opened at the wrong gate nothing to go on."""
    refused = site_client.client.get(
        "/v1/gates/nogate/events", headers=site_client.as_role("device")
    )
    assert refused.status_code == 403 and error_code(refused) == "forbidden"
    said = refused.json()["error"]["message"]
    assert said["id"].startswith("Kunci terminal ini milik gerbang main, bukan gerbang nogate")
    assert "?gate=main" in said["en"] and "gerbang devices add" in said["en"]
