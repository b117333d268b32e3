"""A site whose key the registry revokes says so everywhere people look, and recovers: a real site
service and a real registry (PostgreSQL and SQLite), the site's own agent and client.

After `revoke-key`, one round of the agent is refused (401 `sync_unauthenticated`, "key
revoked"); then `gerbang sync status` (words and --json), `/ready`'s warnings (still 200),
`gerbang doctor` and the registry's site report all name the refusal and what to do, where they
used to say the site was fine. A fresh key (`gerbang sync keygen --new`) registered with
`set-key` brings it back, and each of them says so. At the registry, batches refused after a
site's last contact (a key nobody registered) also make it refused until it is heard again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from console.main import main
from edge import doctor, sync_cli
from edge.settings import Settings, SyncSettings
from gallery_sync.outbox import append_change
from gallery_sync.protocol import load_site_key, new_site_key, public_key_text
from site_sync.agent import SiteAgent
from site_sync.uplink import RegistryClient, SyncRefused
from tests.integration import test_registry as base
from tests.integration.conftest import SiteClient, make_site_client
from tests.integration.test_registry import Registry
from tests.integration.test_registry_to_site import _client, _connect_to

database_url = base.database_url  # a registry per backend for this module
registry_url = base.registry_url
registry = base.registry
LOOPBACK_REGISTRY = "http://127.0.0.1:8090"  # what doctor is told; the test client answers


@pytest.fixture
def site_client(model_dir: Path, tmp_path: Path, registry: Registry) -> Iterator[SiteClient]:
    """A started site (no agent thread: the test drives the agent), registered in its own region."""
    site_id, region = f"UPT-R{uuid.uuid4().hex[:6]}", f"KW-R{uuid.uuid4().hex[:6]}"
    public = new_site_key(sync_cli.key_path(Settings(data_dir=tmp_path)))
    body = {"id": site_id, "name": "Lapas R", "region": region, "public_key": public}
    added = registry.client.post("/v1/sites", json=body, headers=registry.tokens["admin"])
    assert added.status_code == 201, added.text
    yield from make_site_client(model_dir, tmp_path, site_id=site_id)


@pytest.fixture
def console(site_client: SiteClient, monkeypatch: pytest.MonkeyPatch, registry: Registry) -> None:
    """`gerbang ...` on this site's folder; the site's registry client reaches the test registry."""
    monkeypatch.setenv("EDGE_DATA_DIR", str(site_client.site.settings.data_dir))
    monkeypatch.setenv("EDGE_SITE_ID", site_client.site.settings.site_id)
    monkeypatch.setenv("REGISTRY_DATABASE_URL", registry.url)
    monkeypatch.setattr(RegistryClient, "connect", _connect_to(registry))


def _agent(site_client: SiteClient, registry: Registry) -> SiteAgent:
    site = site_client.site
    client = _client(registry, site.settings.site_id, sync_cli.site_key(site.settings))
    return sync_cli.agent_for_site(site, client)


def _gate_event(site_client: SiteClient, n: int) -> None:
    with site_client.site.db.transaction() as tx:
        append_change(tx, "gate.event", str(n), {"event_id": n, "result": "admit"})


def _status(capsys: pytest.CaptureFixture[str], *flags: str) -> str:
    assert main(["sync", "status", *flags]) == 0
    return capsys.readouterr().out


def _sync_warnings(site_client: SiteClient) -> list[dict[str, Any]]:
    ready = site_client.client.get("/ready")
    assert ready.status_code == 200, ready.text  # the gate keeps working offline
    return [w for w in ready.json()["warnings"] if w["code"].startswith("sync_")]


def _doctor(site_client: SiteClient) -> doctor.Finding:
    settings = site_client.site.settings
    syncing = settings.model_copy(update={"sync": SyncSettings(registry_url=LOOPBACK_REGISTRY)})
    return doctor.registry(syncing)


def _report(registry: Registry, site_id: str) -> dict[str, Any]:
    answer = registry.client.get(f"/v1/reports/sites/{site_id}", headers=registry.tokens["admin"])
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


@pytest.mark.usefixtures("console")
def test_a_revoked_key_is_named_by_status_ready_doctor_and_the_report_until_a_new_key_works(
    registry: Registry, site_client: SiteClient, capsys: pytest.CaptureFixture[str]
) -> None:
    site_id = site_client.site.settings.site_id
    agent = _agent(site_client, registry)
    _gate_event(site_client, 1)
    assert agent.run_once().pushed == 1
    assert _doctor(site_client).status == "OK"
    assert _report(registry, site_id)["access_refused"] is None

    revoked = registry.client.post(
        f"/v1/sites/{site_id}/keys/revocation",
        json={"reason": "tryout"},
        headers=registry.tokens["admin"],
    )
    assert revoked.status_code == 200, revoked.text
    _gate_event(site_client, 2)
    with pytest.raises(SyncRefused):  # the push is refused, then the pull
        agent.run_once()

    words = _status(capsys)
    assert "** Pushing and pulling stopped: the registry refuses this site (401" in words
    assert "** Pengiriman dan penerimaan berhenti" in words and "key revoked" in words
    assert "gerbang sync keygen --new" in words and f"sites set-key {site_id}" in words
    state = json.loads(_status(capsys, "--json"))
    assert state["push_problem"]["registry_code"] == "sync_unauthenticated"
    assert state["push_problem"]["reason"] == "key revoked" and state["waiting"] == 1
    warned = _sync_warnings(site_client)
    assert [w["code"] for w in warned] == ["sync_push_stopped", "sync_pull_stopped"]
    assert "key revoked" in warned[0]["message"]["en"] and warned[0]["message"]["id"]
    found = _doctor(site_client)
    assert found.status == "FAIL" and "refuses site" in found.seen and "key revoked" in found.seen
    assert found.fix is not None and "gerbang sync keygen --new" in found.fix.en
    refused = _report(registry, site_id)["access_refused"]
    assert refused["reason"] == "key revoked" and refused["refused_batches"] == 1
    region = _report(registry, site_id)["region"]
    assert main(["registry", "report", "--region", region, "--fail-if-silent"]) == 1
    text = capsys.readouterr().out
    assert "DITOLAK / REFUSED" in text and "tersambung / in touch" not in text

    assert main(["sync", "keygen", "--new"]) == 0
    capsys.readouterr()
    fresh = public_key_text(
        load_site_key(sync_cli.key_path(site_client.site.settings)).public_key()
    )
    replaced = registry.client.post(
        f"/v1/sites/{site_id}/keys",
        json={"public_key": fresh, "reason": "new key after the tryout"},
        headers=registry.tokens["admin"],
    )
    assert replaced.status_code == 200, replaced.text
    waiting = _doctor(site_client)  # accepted now; the agent has not been back yet
    assert waiting.status == "WARN" and "accepts the site key now" in waiting.seen
    assert agent.run_once().pushed == 1  # the running agent signs with the new file
    assert "stopped" not in _status(capsys)
    assert _sync_warnings(site_client) == []
    assert _doctor(site_client).status == "OK"
    assert _report(registry, site_id)["access_refused"] is None
    assert main(["registry", "report", "--region", region, "--fail-if-silent"]) == 0
    assert "tersambung / in touch" in capsys.readouterr().out


def test_batches_refused_after_the_last_contact_make_a_site_refused_until_it_is_heard_again(
    registry: Registry,
) -> None:
    site = registry.site()
    assert registry.push(site, site.batch([site.change("gate.event", "1", {})])).status_code == 200
    assert _report(registry, site.id)["access_refused"] is None  # just heard: in touch
    stranger = Ed25519PrivateKey.generate()  # a new server whose key nobody registered
    for n in (2, 3):
        batch = site.batch([site.change("gate.event", str(n), {})])
        assert registry.push(site, batch, key=stranger).status_code == 401
        site.seq -= 1  # never applied: the next batch reuses the seq
    refused = _report(registry, site.id)["access_refused"]
    assert refused["reason"] == "bad signature" and refused["refused_batches"] == 2
    assert registry.pull(site).status_code == 200  # its own key again: contact
    assert _report(registry, site.id)["access_refused"] is None
