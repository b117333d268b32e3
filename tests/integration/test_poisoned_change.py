"""A poisoned change never halts a site (issue 13), against a real registry on PostgreSQL.

- At the edge: `{"full_name": "a\\u0000b"}`, a 48 MiB `details` and a birth date of 1990-02-30
  are refused with a clear 4xx in the house format, never stored, never a 500.
- Past the edge (a change written by older software): the registry refuses the change by its
  seq (422, not a 500 from PostgreSQL); the site's agent sets it aside, everything behind it
  arrives, pulls go on (a watchlist entry still reaches the site), and an alarm shows on the
  site's status, /ready, the metrics and the registry's site report until an officer drops it.

Locally the module skips when PostgreSQL is unreachable; under CI=true it fails instead.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge import sync_cli
from edge.metrics import render_metrics
from edge.settings import Settings
from edge.site import Site
from gallery_sync.gallery import GalleryIndex
from gallery_sync.outbox import append_change
from gallery_sync.protocol import new_site_key
from site_sync import dead_letters
from site_sync.state import summary
from tests.integration import test_registry as base
from tests.integration.conftest import SiteClient, error_code, make_site_client
from tests.integration.test_registry import Registry, _random_unit
from tests.integration.test_registry_to_site import _client, _register

database_url = base.database_url  # a fresh PostgreSQL database and registry for this module
registry = base.registry
PACK = "open-yunet-dlib"


@pytest.fixture(scope="module")
def registry_url(database_url: str) -> str:
    return database_url


@pytest.fixture(scope="module")
def site_client(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteClient]:
    yield from make_site_client(model_dir, tmp_path_factory.mktemp("site"))


# --- at the edge ------------------------------------------------------------------------------


def test_a_name_with_a_nul_is_refused_at_the_edge(site_client: SiteClient) -> None:
    response = site_client.client.patch(
        f"/v1/identities/{uuid.uuid4()}",
        json={"full_name": "a\u0000b"},
        headers=site_client.as_role("enrolment_officer"),
    )
    assert response.status_code == 422, response.text
    assert error_code(response) == "input_invalid"  # the schema's check; the use case checks too
    assert "full_name" in response.text and "U+0000" in response.text


def test_a_48_mib_details_field_is_refused_at_the_edge(site_client: SiteClient) -> None:
    response = site_client.client.patch(
        f"/v1/identities/{uuid.uuid4()}",
        json={"details": {"note": "a" * (48 * 1024 * 1024)}},
        headers=site_client.as_role("enrolment_officer"),
    )
    assert response.status_code == 413, response.text[:300]
    assert error_code(response) in {"field_too_large", "request_too_large"}


def test_a_birth_date_that_does_not_exist_is_a_clear_422(site_client: SiteClient) -> None:
    response = site_client.client.post(
        f"/v1/captures/{uuid.uuid4()}/commit",
        json={"identity": {"full_name": "Budi", "birth_date": "1990-02-30", "sex": "M"}},
        headers=site_client.as_role("enrolment_officer"),
    )
    assert response.status_code == 422, response.text
    assert "1990-02-30" in response.text


# --- past the edge: the agent and the registry --------------------------------------------------


@pytest.fixture
def site(tmp_path: Path, registry: Registry) -> Iterator[Site]:
    settings = Settings(data_dir=tmp_path, site_id=f"UPT-P{uuid.uuid4().hex[:6]}", pack=PACK)
    _register(registry, settings.site_id, new_site_key(sync_cli.key_path(settings)))
    site = Site(settings)
    site.gallery_ = GalleryIndex(128)  # the seam: no face engine needed for sync
    yield site
    site.close()


def test_a_poisoned_change_is_set_aside_and_the_site_keeps_syncing(
    registry: Registry, site: Site
) -> None:
    fake = base.FakeSite(site.settings.site_id, key=None)  # type: ignore[arg-type]  # payload builder
    person, enrolled = fake.enrol("Budi", [_random_unit(31)])
    with site.db.transaction() as tx:
        append_change(tx, enrolled.kind, person, enrolled.payload)
        poisoned = append_change(
            tx, "identity.updated", person, {"fields": {"full_name": "a\u0000b"}, "version": 2}
        )
        append_change(
            tx, "identity.updated", person, {"fields": {"full_name": "Budi S."}, "version": 3}
        )
    template = base64.b64encode(_random_unit(32).astype("<f4").tobytes()).decode()
    wanted = registry.client.post(
        "/v1/watchlist",
        json={"full_name": "Buronan", "reason": "escaped", "templates": [template]},
        headers=registry.tokens["admin"],
    )
    assert wanted.status_code == 200, wanted.text

    agent = sync_cli.agent_for_site(
        site, _client(registry, site.settings.site_id, sync_cli.site_key(site.settings))
    )
    report = agent.run_once()

    assert report.push_problem is None and report.pushed == 3
    assert report.pulled >= 1  # the watchlist entry reached the site
    record = registry.query("SELECT record FROM national_identities WHERE id = %s", person)
    assert record[0][0]["full_name"] == "Budi S."  # the change behind the poisoned one arrived
    state = summary(site.db)
    assert [(d["seq"], d["code"]) for d in state["dead_letters"]] == [
        (poisoned, "sync_schema_invalid")
    ]
    assert "seq" in str(state["dead_letters"][0]["reason"])
    assert "gerbang_sync_dead_letters 1.0" in render_metrics(site)
    reports = registry.client.get(
        f"/v1/reports/sites/{site.settings.site_id}", headers=registry.tokens["admin"]
    )
    assert [w["seq"] for w in reports.json()["withheld"]] == [poisoned]

    dead_letters.resolve(site.db, poisoned, "dropped", "budi", "typed by old software")
    assert agent.run_once().push_problem is None
    reports = registry.client.get(
        f"/v1/reports/sites/{site.settings.site_id}", headers=registry.tokens["admin"]
    )
    assert reports.json()["withheld"] == []
    assert "gerbang_sync_dead_letters 0.0" in render_metrics(site)


def test_the_registry_refuses_a_nul_by_seq_and_not_with_a_500(registry: Registry) -> None:
    site = registry.site()
    person, enrolled = site.enrol("Budi", [_random_unit(41)])
    bad = site.change("identity.updated", person, {"fields": {"full_name": "a\u0000b"}})
    response = registry.push(site, site.batch([enrolled, bad]))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["seq"] == bad.seq
    assert registry.query("SELECT count(*) FROM national_identities WHERE id = %s", person) == [
        (0,)
    ]


def test_the_registry_report_lists_withheld_changes_until_resolved(registry: Registry) -> None:
    site = registry.site()
    withheld = site.change(
        dead_letters.WITHHELD_KIND, "x", {"kind": "identity.updated", "code": "c"}
    )
    assert registry.push(site, site.batch([withheld])).status_code == 200
    url = f"/v1/reports/sites/{site.id}"
    assert len(registry.client.get(url, headers=registry.tokens["admin"]).json()["withheld"]) == 1
    note = site.change(dead_letters.RESOLVED_KIND, "x", {"withheld_seq": withheld.seq})
    assert registry.push(site, site.batch([note])).status_code == 200
    assert registry.client.get(url, headers=registry.tokens["admin"]).json()["withheld"] == []


def test_every_free_form_field_refuses_a_nul_at_both_services(
    registry: Registry, site_client: SiteClient
) -> None:
    officer = site_client.as_role("supervisor")
    status = site_client.client.post(
        f"/v1/identities/{uuid.uuid4()}/status",
        json={"status": "released", "reason": "bebas\u0000"},
        headers=officer,
    )
    assert status.status_code == 422, status.text
    admin = registry.tokens["admin"]
    for path, body in (
        ("/v1/auth/login", {"username": "admin\u0000", "password": "x"}),
        ("/v1/watchlist", {"full_name": "a\u0000b", "reason": "escaped", "templates": []}),
        ("/v1/watchlist", {"full_name": "ab", "reason": "escaped", "details": {"k": "\u0000"}}),
        (
            "/v1/transfers",
            {"identity_id": str(uuid.uuid4()), "to_site": "UPT-X", "reason": "\u0000ab"},
        ),
    ):
        response = registry.client.post(path, json=body, headers=admin)
        assert response.status_code == 422, (path, response.text)


def test_the_registry_refuses_a_change_heavier_than_any_change_may_be_by_seq(
    registry: Registry,
) -> None:
    site = registry.site()
    person, enrolled = site.enrol("Budi", [_random_unit(42)])
    heavy = site.change(
        "identity.updated", person, {"fields": {"details": {"note": "a" * (2 * 1024 * 1024)}}}
    )
    response = registry.push(site, site.batch([enrolled, heavy]))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["seq"] == heavy.seq
