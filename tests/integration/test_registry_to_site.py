"""The registry's operations as a site lives them: a real registry (PostgreSQL, TestClient) and a
real site database whose agent talks to it through the site's own client.

- A watchlist entry made from a real face reaches the site, where the gate's banned-visitor
  search (the Matcher call the gate makes) finds another photo of that person; once the registry
  removes the entry and the site pulls, the same search finds no one.
- `gerbang sync rotate-key`: the registry accepts the new key, the site switches, an agent
  started before the rotation signs with the new key, and the old key is refused once the grace
  window is over. A crash between the registry's yes and the site's switch is recovered by
  running the command again, inside or after the grace window.

Locally the module skips when PostgreSQL is unreachable; under CI=true it fails instead.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from console import main as cli
from edge import sync_cli
from edge.settings import Settings
from edge.site import Site
from enrollment.db import Database
from gallery_sync.gallery import GalleryIndex
from gallery_sync.outbox import append_change
from gallery_sync.protocol import load_site_key, new_site_key, public_key_text
from site_sync import site_key as site_key_module
from site_sync.state import PUSHED, read_int
from site_sync.uplink import RegistryClient, SyncRefused
from tests.integration import test_registry as base
from tests.integration.conftest import SiteClient, make_site_client
from tests.integration.test_registry import Registry
from tests.integration.test_registry_ops import age_retired_keys

database_url = base.database_url  # the fixtures: a fresh database and registry for this module
registry = base.registry


@pytest.fixture(scope="module")
def registry_url(database_url: str) -> str:
    """PostgreSQL only here: these tests reach under the registry with psycopg."""
    return database_url


PERSON = "facerec-obama"


def _register(registry: Registry, site_id: str, public_key: str) -> None:
    body = {
        "id": site_id,
        "name": f"Lapas {site_id}",
        "region": "KW-JABAR",
        "public_key": public_key,
    }
    response = registry.client.post("/v1/sites", json=body, headers=registry.tokens["admin"])
    assert response.status_code == 201, response.text


class BorrowedClient(RegistryClient):
    """The site's own registry client over the module's TestClient, which a command must not close."""

    def close(self) -> None:
        pass


def _client(registry: Registry, site_id: str, key: Any) -> RegistryClient:
    return BorrowedClient(registry.client, site_id, key)


def _connect_to(registry: Registry) -> Any:
    """A stand-in for RegistryClient.connect that reaches the test registry."""
    return staticmethod(
        lambda url, site, key, timeout_s=30.0, ca_file=None: _client(registry, site, key)
    )


# --- watchlist removal reaches the gate -----------------------------------------------------------


@pytest.fixture(scope="module")
def site_client(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteClient]:
    yield from make_site_client(model_dir, tmp_path_factory.mktemp("site"))


@pytest.mark.model
def test_a_removed_watchlist_entry_stops_matching_at_the_gate(
    registry: Registry, site_client: SiteClient, dev_faces: Path
) -> None:
    site = site_client.site
    settings = site.settings
    _register(registry, settings.site_id, new_site_key(sync_cli.key_path(settings)))
    agent = sync_cli.agent_for_site(
        site, _client(registry, settings.site_id, sync_cli.site_key(settings))
    )
    engine = site.engine()
    enrolled = engine.analyse_bytes((dev_faces / PERSON / "1.jpg").read_bytes()).template
    probe = engine.analyse_bytes((dev_faces / PERSON / "4.jpg").read_bytes())

    def banned_search() -> list[str]:  # what the gate asks at a visitor entry
        found = site.matcher.identify_template(
            probe, ("visitor",), ("banned",), None, 3, "", site.thresholds()
        )
        return [c.identity_id for c in found.candidates]

    assert banned_search() == []
    template = base64.b64encode(np.asarray(enrolled, dtype="<f4").tobytes()).decode()
    added = registry.client.post(
        "/v1/watchlist",
        json={"full_name": "Buronan", "reason": "escaped", "templates": [template]},
        headers=registry.tokens["admin"],
    )
    assert added.status_code == 200, added.text
    wanted = added.json()["identity_id"]
    assert agent.pull_pending() >= 1
    assert banned_search() == [wanted]

    removal = registry.client.post(
        f"/v1/watchlist/{wanted}/removal",
        json={"reason": "warrant withdrawn"},
        headers=registry.tokens["admin"],
    )
    assert removal.status_code == 200, removal.text
    assert agent.pull_pending() == 1
    assert banned_search() == []  # the live gallery followed the pull
    with site.db.reading() as tx:
        status = tx.execute("SELECT status FROM identities WHERE id = ?", (wanted,)).fetchone()[0]
        kept = tx.execute("SELECT COUNT(*) FROM templates WHERE identity_id = ?", (wanted,))
        assert (status, kept.fetchone()[0]) == ("erased", 0)


# --- site key rotation ----------------------------------------------------------------------------


@pytest.fixture
def keyed_site(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Site]:
    """A site with a registered key; `gerbang sync ...` commands reach the test registry."""
    site_id = f"UPT-ROT-{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("EDGE_DATA_DIR", str(tmp_path / "site"))
    monkeypatch.setenv("EDGE_SITE_ID", site_id)
    settings = Settings()
    _register(registry, site_id, new_site_key(sync_cli.key_path(settings)))
    monkeypatch.setattr(RegistryClient, "connect", _connect_to(registry))
    site = Site(settings)
    site.gallery_ = GalleryIndex(128)  # no face engine needed: the agent only pushes gate events
    yield site
    site.close()


def _gate_events(db: Database, count: int) -> None:
    with db.transaction() as tx:
        for n in range(count):
            append_change(tx, "gate.event", str(n), {"n": n, "result": "admit"})


def _pushed(site: Site) -> int:
    with site.db.reading() as tx:
        return read_int(tx, PUSHED)


def _end_grace(registry: Registry, site_id: str) -> None:
    age_retired_keys(registry, site_id, registry.service.settings.key_grace_seconds + 1)


def _refused(client: RegistryClient) -> bool:
    try:
        client.changes(0, 10)
    except SyncRefused as exc:
        return bool(exc.details["status"] == 401)
    return False


def test_rotate_key_switches_after_the_registry_and_a_running_agent_follows(
    registry: Registry, keyed_site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = keyed_site.settings
    path = sync_cli.key_path(settings)
    old = load_site_key(path)
    agent = sync_cli.agent_for_site(
        keyed_site, _client(registry, settings.site_id, sync_cli.site_key(settings))
    )
    _gate_events(keyed_site.db, 3)
    assert agent.push_pending() == 3

    assert cli.main(["sync", "rotate-key", "--registry", "http://registry"]) == 0
    assert "(registry: rotated)" in capsys.readouterr().out
    new = load_site_key(path)
    assert public_key_text(new.public_key()) != public_key_text(old.public_key())
    [backup] = path.parent.glob("site_ed25519.retired-*.pem")
    assert public_key_text(load_site_key(backup).public_key()) == public_key_text(old.public_key())
    assert backup.stat().st_mode & 0o777 == 0o600 and path.stat().st_mode & 0o777 == 0o600
    assert not site_key_module.pending_path(path).exists()
    current = registry.query("SELECT public_key FROM sites WHERE id = %s", settings.site_id)
    assert current == [(public_key_text(new.public_key()),)]

    _end_grace(registry, settings.site_id)
    _gate_events(keyed_site.db, 2)
    assert agent.push_pending() == 2  # the agent built before the rotation signs with the new key
    assert _pushed(keyed_site) == 5
    assert _refused(_client(registry, settings.site_id, old))
    with keyed_site.db.reading() as tx:
        [(details,)] = tx.execute(
            "SELECT details FROM audit_events WHERE action = 'sync.key_rotated'"
        ).fetchall()
    assert public_key_text(new.public_key()) in details


@pytest.mark.parametrize("grace_over", [False, True], ids=["within_grace", "after_grace"])
def test_a_crash_between_the_registry_s_yes_and_the_switch_is_recovered_by_running_again(
    registry: Registry,
    keyed_site: Site,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    grace_over: bool,
) -> None:
    settings = keyed_site.settings
    path = sync_cli.key_path(settings)
    old = public_key_text(load_site_key(path).public_key())

    def power_cut(*_: Any) -> Path:
        raise RuntimeError("power cut before the switch")

    monkeypatch.setattr(site_key_module, "_promote", power_cut)
    with pytest.raises(RuntimeError):
        cli.main(["sync", "rotate-key", "--registry", "http://registry"])
    pending = site_key_module.pending_path(path)
    accepted = public_key_text(load_site_key(pending).public_key())
    assert public_key_text(load_site_key(path).public_key()) == old  # the site did not switch...
    assert registry.query("SELECT public_key FROM sites WHERE id = %s", settings.site_id) == [
        (accepted,)  # ...but the registry did
    ]
    if grace_over:
        _end_grace(registry, settings.site_id)
    monkeypatch.undo()
    monkeypatch.setenv("EDGE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("EDGE_SITE_ID", settings.site_id)
    monkeypatch.setattr(RegistryClient, "connect", _connect_to(registry))
    capsys.readouterr()
    assert cli.main(["sync", "rotate-key", "--registry", "http://registry"]) == 0
    assert "(registry: unchanged)" in capsys.readouterr().out
    assert public_key_text(load_site_key(path).public_key()) == accepted
    assert not pending.exists()
    _gate_events(keyed_site.db, 2)
    agent = sync_cli.agent_for_site(
        keyed_site, _client(registry, settings.site_id, sync_cli.site_key(settings))
    )
    assert agent.push_pending() == 2
    rotations = registry.query(
        "SELECT count(*) FROM audit WHERE action = 'site.key_rotated' AND subject = %s",
        settings.site_id,
    )
    assert rotations == [(1,)]  # the retry changed nothing at the registry


def test_rotate_key_without_a_registry_answer_keeps_the_current_key_and_retries_the_same_new_one(
    registry: Registry, keyed_site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = keyed_site.settings
    path = sync_cli.key_path(settings)
    before = path.read_bytes()

    def unreachable(
        url: str, site: str, key: Any, timeout_s: float = 30.0, ca_file: Any = None
    ) -> RegistryClient:
        def refuse(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("link down")

        http = httpx.Client(transport=httpx.MockTransport(refuse), base_url=url)
        return RegistryClient(http, site, key)

    monkeypatch.setattr(RegistryClient, "connect", staticmethod(unreachable))
    assert cli.main(["sync", "rotate-key", "--registry", "http://registry"]) == 2
    assert path.read_bytes() == before
    pending = site_key_module.pending_path(path)
    waiting = public_key_text(load_site_key(pending).public_key())
    assert registry.query(
        "SELECT count(*) FROM site_keys WHERE site_id = %s", settings.site_id
    ) == [(1,)]
    monkeypatch.setattr(RegistryClient, "connect", _connect_to(registry))
    assert cli.main(["sync", "rotate-key", "--registry", "http://registry"]) == 0
    assert public_key_text(load_site_key(path).public_key()) == waiting  # the same new key
