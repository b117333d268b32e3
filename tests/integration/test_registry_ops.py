"""Registry operations on a real PostgreSQL behind FastAPI's TestClient: taking someone off the
national watchlist, rotating and revoking site keys (the site's own client signs the requests),
and the audit hash chain found broken, by the library and by the console, where it was tampered.

Locally the module skips when PostgreSQL is unreachable; under CI=true it fails instead.
"""

from __future__ import annotations

import base64
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg.types.json import Jsonb

from console import main as cli
from gallery_sync.protocol import Signer, public_key_text
from gallery_sync.signed_requests import KEYS_PATH, KeyRotationRequest, sign_request
from registry.service import RegistryService
from site_sync.uplink import RegistryClient, SyncRefused
from tests.integration import test_registry as base
from tests.integration.test_registry import PASSWORD, FakeSite, Registry, _random_unit

database_url = base.database_url  # the fixtures: a fresh database and registry for this module
registry = base.registry


@pytest.fixture(scope="module")
def registry_url(database_url: str) -> str:
    """PostgreSQL only here: these tests reach under the registry with psycopg."""
    return database_url


def _watchlist(registry: Registry, *seeds: int) -> str:
    body = {"full_name": "Wanted Person", "reason": "escaped 2025",
            "templates": [base64.b64encode(_random_unit(s).tobytes()).decode() for s in seeds]}  # fmt: skip
    response = registry.client.post("/v1/watchlist", json=body, headers=registry.tokens["admin"])
    assert response.status_code == 200, response.text
    return str(response.json()["identity_id"])


def _remove(
    registry: Registry, identity_id: str, who: str = "admin", **body: Any
) -> httpx.Response:
    return registry.client.post(
        f"/v1/watchlist/{identity_id}/removal", json=body, headers=registry.tokens[who]
    )


def _audited(registry: Registry, action: str, subject: str) -> list[tuple[Any, ...]]:
    sql = "SELECT actor, details FROM audit WHERE action = %s AND subject = %s ORDER BY id"
    return registry.query(sql, action, subject)


# --- watchlist removal ----------------------------------------------------------------------------


def test_a_watchlist_removal_erases_the_entry_and_tells_every_site(registry: Registry) -> None:
    site_a, site_b = registry.site(), registry.site("KW-JATIM")
    cursors = {s.id: registry.pull(s).json()["last_seq"] for s in (site_a, site_b)}
    wanted = _watchlist(registry, 101, 102)
    gallery = registry.service.gallery.index
    assert gallery.best_score_for(_random_unit(101), wanted) == pytest.approx(1.0, abs=1e-5)

    assert _remove(registry, wanted, "judge", reason="pardoned").status_code == 403
    assert _remove(registry, wanted).status_code == 422  # the reason is mandatory
    removed = _remove(registry, wanted, reason="the court lifted the order")
    assert removed.status_code == 200, removed.text
    assert removed.json()["status"] == "erased"

    assert registry.query("SELECT status FROM national_identities WHERE id = %s", wanted) == [
        ("erased",)
    ]
    assert registry.query(
        "SELECT count(*) FROM national_templates WHERE identity_id = %s", wanted
    ) == [(0,)]
    assert gallery.best_score_for(_random_unit(101), wanted) is None  # nor found nationally
    for site in (site_a, site_b):
        pulled = registry.pull(site, after=cursors[site.id]).json()["changes"]
        assert [c["kind"] for c in pulled] == ["watchlist.added", "watchlist.removed"]
        assert pulled[1]["payload"] == {
            "identity_id": wanted,
            "reason": "the court lifted the order",
        }
    [(actor, details)] = _audited(registry, "watchlist.removed", wanted)
    assert actor == "admin" and details == {
        "reason": "the court lifted the order",
        "templates_erased": 2,
        "fingers_erased": 0,
    }


def test_removing_someone_not_on_the_watchlist_says_so(registry: Registry) -> None:
    wanted = _watchlist(registry, 103)
    assert _remove(registry, wanted, reason="lifted").status_code == 200
    again = _remove(registry, wanted, reason="lifted twice")
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_on_watchlist"
    assert again.json()["error"]["details"]["status"] == "erased"

    site = registry.site()
    visitor, enrolled = site.enrol("Tono", [_random_unit(104)], role="visitor")
    banned = site.change("identity.status", visitor, {"status": "banned", "version": 2})
    assert registry.push(site, site.batch([enrolled, banned])).status_code == 200
    local = _remove(registry, visitor, reason="not ours to lift")  # banned by its own site
    assert local.status_code == 409 and local.json()["error"]["details"]["owner"] == site.id
    unknown = _remove(registry, str(uuid.uuid4()), reason="who?")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "registry_not_found"
    assert _remove(registry, "not-a-uuid", reason="typo").status_code == 422
    assert registry.query("SELECT status FROM national_identities WHERE id = %s", visitor) == [
        ("banned",)
    ]


# --- site keys ------------------------------------------------------------------------------------


def _rotation(site_id: str, signer: Signer, new_key: Ed25519PrivateKey) -> dict[str, Any]:
    """A rotation request exactly as the site's client sends it: body and headers."""
    timestamp = datetime.now(UTC).isoformat(timespec="seconds")
    body = KeyRotationRequest.for_key(site_id, new_key, timestamp).model_dump_json().encode()
    headers = {"X-Gerbang-Site": site_id, "Content-Type": "application/json",
               **sign_request(signer, "POST", KEYS_PATH, timestamp, body)}  # fmt: skip
    return {"content": body, "headers": headers}


def _client(registry: Registry, site: FakeSite) -> RegistryClient:
    return RegistryClient(registry.client, site.id, site.key)


def _pushes(registry: Registry, site: FakeSite, key: Ed25519PrivateKey) -> httpx.Response:
    """One more gate event, pushed with everything before it (applied ones are no-ops), so a
    refused push leaves no gap."""
    site.change("gate.event", str(site.seq), {})
    return registry.push(site, site.batch(list(site.sent)), key=key)


def age_retired_keys(registry: Registry, site_id: str, seconds: int) -> None:
    """Let time pass for the grace window: the site's retirements move into the past."""
    with psycopg.connect(registry.url) as connection:
        for key, retired in connection.execute(
            "SELECT public_key, retired_at FROM site_keys WHERE site_id = %s AND retired_at IS NOT NULL",
            (site_id,),
        ).fetchall():
            connection.execute(
                "UPDATE site_keys SET retired_at = %s WHERE public_key = %s",
                (retired - timedelta(seconds=seconds), key),
            )


def _error(response: httpx.Response) -> tuple[int, str, str]:
    error = response.json()["error"]
    return response.status_code, error["code"], str(error["details"].get("reason", ""))


def test_a_rotated_key_signs_from_then_on_and_the_old_one_only_within_the_grace_window(
    registry: Registry,
) -> None:
    site = registry.site()
    old, new = site.key, Ed25519PrivateKey.generate()
    answer = _client(registry, site).rotate_key(old, new)
    assert (answer["status"], answer["public_key"]) == (
        "rotated",
        public_key_text(new.public_key()),
    )
    assert _pushes(registry, site, new).status_code == 200
    assert _pushes(registry, site, old).status_code == 200  # signed just before the switch
    assert registry.pull(site, key=old).status_code == 200
    assert registry.pull(site, key=new).status_code == 200

    grace = registry.service.settings.key_grace_seconds
    age_retired_keys(registry, site.id, grace + 1)
    refused = _pushes(registry, site, old)
    assert _error(refused) == (401, "sync_unauthenticated", "key retired and its grace window is over")  # fmt: skip
    assert registry.pull(site, key=old).status_code == 401
    assert _pushes(registry, site, new).status_code == 200
    assert registry.query("SELECT reason FROM quarantine WHERE site_id = %s", site.id) == [
        ("sync_unauthenticated",)
    ]
    assert registry.query("SELECT public_key FROM sites WHERE id = %s", site.id) == [
        (public_key_text(new.public_key()),)
    ]
    [(actor, details)] = _audited(registry, "site.key_rotated", site.id)
    assert actor == f"site:{site.id}"
    assert details["previous_key"] == public_key_text(old.public_key())


def test_a_replayed_rotation_request_changes_nothing(registry: Registry) -> None:
    site = registry.site()
    second, third = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    request = _rotation(site.id, site.key, second)
    first = registry.client.post(KEYS_PATH, **request)
    assert first.status_code == 200 and first.json()["status"] == "rotated"
    # the same bytes again: an answer that was lost, or someone replaying it
    replay = registry.client.post(KEYS_PATH, **request)
    assert replay.status_code == 200 and replay.json()["status"] == "unchanged"
    assert len(_audited(registry, "site.key_rotated", site.id)) == 1

    # a grace-window key may sign batches but not choose the next key
    stolen = registry.client.post(KEYS_PATH, **_rotation(site.id, site.key, third))
    assert _error(stolen) == (401, "sync_unauthenticated", "only the current key may rotate the site key")  # fmt: skip
    assert _client(registry, site).rotate_key(second, third)["status"] == "rotated"
    late = registry.client.post(KEYS_PATH, **request)  # again, after a later rotation
    assert late.status_code == 401
    current = registry.query(
        "SELECT public_key FROM site_keys WHERE site_id = %s AND retired_at IS NULL", site.id
    )
    assert current == [(public_key_text(third.public_key()),)]

    back = registry.client.post(KEYS_PATH, **_rotation(site.id, third, site.key))  # a used key
    assert back.status_code == 409 and back.json()["error"]["code"] == "site_key_conflict"
    forged = _rotation(site.id, third, Ed25519PrivateKey.generate())
    forged["content"] = forged["content"].replace(b'"proof":"', b'"proof":"AAAA')
    forged["headers"].update(sign_request(third, "POST", KEYS_PATH, forged["headers"]["X-Gerbang-Timestamp"], forged["content"]))  # fmt: skip
    unproved = registry.client.post(KEYS_PATH, **forged)  # the new key must prove itself
    assert unproved.status_code == 422
    tampered = _rotation(site.id, third, Ed25519PrivateKey.generate())
    tampered["content"] = _rotation(site.id, third, Ed25519PrivateKey.generate())["content"]
    swapped = registry.client.post(KEYS_PATH, **tampered)  # a body the signature does not cover
    assert swapped.status_code == 401
    bloated = _rotation(site.id, third, Ed25519PrivateKey.generate())
    bloated["content"] += b" " * 5000
    assert registry.client.post(KEYS_PATH, **bloated).status_code == 422


def test_a_revoked_key_is_refused_at_once_and_its_batches_quarantined(registry: Registry) -> None:
    site = registry.site()
    old, new = site.key, Ed25519PrivateKey.generate()
    _client(registry, site).rotate_key(old, new)  # old is in its grace window
    url = f"/v1/sites/{site.id}/keys/revocation"
    body = {"reason": "the site server was stolen"}
    assert registry.client.post(url, json=body, headers=registry.tokens["jabar"]).status_code == 403
    revoked = registry.client.post(url, json=body, headers=registry.tokens["admin"])
    assert revoked.status_code == 200, revoked.text
    assert set(revoked.json()["revoked"]) == {public_key_text(k.public_key()) for k in (old, new)}

    for key in (new, old):
        assert _error(_pushes(registry, site, key)) == (401, "sync_unauthenticated", "key revoked")
        assert registry.pull(site, key=key).status_code == 401
    assert registry.query(
        "SELECT count(*) FROM quarantine WHERE site_id = %s AND reason = 'sync_unauthenticated'", site.id
    ) == [(2,)]  # fmt: skip
    with pytest.raises(SyncRefused):  # nor can the site rotate itself out of a revocation
        _client(registry, site).rotate_key(new, Ed25519PrivateKey.generate())
    again = registry.client.post(url, json=body, headers=registry.tokens["admin"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "site_key_conflict"

    fresh = Ed25519PrivateKey.generate()
    replaced = registry.client.post(
        f"/v1/sites/{site.id}/keys",
        json={"public_key": public_key_text(fresh.public_key()), "reason": "new server"},
        headers=registry.tokens["admin"],
    )
    assert replaced.status_code == 200, replaced.text
    assert _pushes(registry, site, fresh).status_code == 200
    actions = [r[0] for r in registry.query(
        "SELECT action FROM audit WHERE subject = %s ORDER BY id", site.id)]  # fmt: skip
    assert actions == ["site.added", "site.key_rotated", "site.key_revoked", "site.key_replaced",
                       "site.changes_applied"]  # fmt: skip


def test_the_console_revokes_a_key_and_sets_a_new_one(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REGISTRY_DATABASE_URL", registry.url)
    site = registry.site()
    current = public_key_text(site.key.public_key())
    revoke = ["registry", "sites", "revoke-key", site.id, "--reason", "lost laptop"]
    assert cli.main([*revoke, "--public-key", current]) == 0
    assert "no usable key" in capsys.readouterr().out
    assert _pushes(registry, site, site.key).status_code == 401
    fresh = Ed25519PrivateKey.generate()
    args = ["registry", "sites", "set-key", site.id, "--reason", "re-keyed on site"]
    assert cli.main([*args, "--public-key", public_key_text(fresh.public_key())]) == 0
    assert cli.main([*args, "--public-key", current]) == 2  # a revoked key never comes back
    assert "site_key_conflict" in capsys.readouterr().err
    assert _pushes(registry, site, fresh).status_code == 200


def test_sites_registered_before_site_keys_keep_their_key(registry: Registry) -> None:
    key = Ed25519PrivateKey.generate()
    site = FakeSite(f"UPT-OLD-{uuid.uuid4().hex[:4]}", key)
    with psycopg.connect(registry.url) as connection:  # as migration 003 left it: no site_keys row
        connection.execute(
            "INSERT INTO sites (id, name, region, public_key) VALUES (%s, 'Lapas lama', 'KW-JABAR', %s)",
            (site.id, public_key_text(key.public_key())),
        )
    assert _pushes(registry, site, key).status_code == 401
    RegistryService(registry.service.settings).start()  # a restart adopts it
    assert _pushes(registry, site, key).status_code == 200


# --- audit hash chain -----------------------------------------------------------------------------


def _as_superuser(registry: Registry, *statements: tuple[str, tuple[Any, ...]]) -> None:
    """Run statements with the append-only trigger switched off, as only a superuser can."""
    with psycopg.connect(registry.url) as connection:
        connection.execute("ALTER TABLE audit DISABLE TRIGGER audit_no_update")
        for sql, params in statements:
            connection.execute(sql.encode(), params)
        connection.execute("ALTER TABLE audit ENABLE TRIGGER audit_no_update")


def _verify_cli(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(["registry", "audit", "verify"])
    return code, capsys.readouterr().out


def test_the_audit_chain_is_one_line_even_when_officers_write_at_once(registry: Registry) -> None:
    def add_accounts(worker: int) -> None:
        for n in range(4):
            registry.service.add_account(f"officer-{worker}-{n}", "adjudicator", PASSWORD, None)

    workers = [threading.Thread(target=add_accounts, args=(w,)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    report = registry.service.verify_audit()
    assert report.ok and report.unchained == 0
    assert report.checked == registry.query("SELECT count(*) FROM audit")[0][0]
    heads = registry.query(
        "SELECT prev_hash, count(*) FROM audit GROUP BY prev_hash HAVING count(*) > 1"
    )
    assert heads == []  # no two events point to the same predecessor: the chain never forked


def test_a_tampered_or_deleted_audit_event_is_named_by_the_library_and_the_console(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REGISTRY_DATABASE_URL", registry.url)
    wanted = _watchlist(registry, 105)
    _remove(registry, wanted, reason="lifted")
    assert _verify_cli(capsys)[0] == 0
    [(victim, details)] = registry.query(
        "SELECT id, details FROM audit WHERE action = 'watchlist.removed' AND subject = %s", wanted
    )
    forged = Jsonb({**details, "reason": "forged"})
    _as_superuser(registry, ("UPDATE audit SET details = %s WHERE id = %s", (forged, victim)))

    report = registry.service.verify_audit()
    assert report.broken is not None and report.broken.event_id == victim
    assert "changed" in report.broken.reason
    code, out = _verify_cli(capsys)
    assert code == 1 and f"event {victim}" in out

    original = Jsonb(details)
    _as_superuser(registry, ("UPDATE audit SET details = %s WHERE id = %s", (original, victim)))
    assert registry.service.verify_audit().ok
    [row] = registry.query(
        "SELECT id, at, actor, action, subject, details, prev_hash, hash FROM audit WHERE id < %s"
        " ORDER BY id DESC LIMIT 1", victim)  # fmt: skip
    _as_superuser(registry, ("DELETE FROM audit WHERE id = %s", (row[0],)))
    deleted = registry.service.verify_audit()
    assert deleted.broken is not None and deleted.broken.event_id == victim  # the next one breaks
    assert "deleted or reordered" in deleted.broken.reason
    assert f"event {victim}" in _verify_cli(capsys)[1]
    restored = (*row[:5], Jsonb(row[5]), *row[6:])
    _as_superuser(registry, ("INSERT INTO audit (id, at, actor, action, subject, details, prev_hash, hash)"
                             " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", restored))  # fmt: skip
    assert _verify_cli(capsys)[0] == 0
