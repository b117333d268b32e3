"""The central registry behind FastAPI's TestClient: signed pushes applied exactly once, refusals
quarantined, duplicate cases from real face templates, merges and transfers pulled by the sites
concerned, and regional read-only views.

Every test runs twice: on a real PostgreSQL (a fresh database per module), the production backend,
and on an SQLite file, the one-machine demo's. Locally the PostgreSQL half skips when the server is
unreachable; under CI=true it fails instead.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from pydantic import BaseModel

from console import main as cli
from edge import wiring
from edge.settings import Settings
from enrollment.captures import StoredCapture
from enrollment.records import Identity
from enrollment.service import _change_payload
from gallery_sync.protocol import Batch, ChainHead, Change, encode, public_key_text
from gallery_sync.signed_requests import sign_request
from models.obtain import ensure_converted
from registry.accounts import PERMISSIONS
from registry.app import create_registry_app
from registry.db import open_database
from registry.routes.access import ROUTE_PERMISSIONS
from registry.schemas import (
    BatchReceiptResponse,
    CaseList,
    CasePerson,
    CaseResponse,
    ChangesResponse,
    HealthResponse,
    LoginResponse,
    PhotoRequestResponse,
    PhotoState,
    Quarantined,
    SiteReport,
    SiteReportList,
    TransferResponse,
    WatchlistAdded,
    WatchlistRemoved,
)
from registry.service import RegistryService
from registry.settings import RegistrySettings

ADMIN_URL = os.environ.get("GERBANG_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
PACK = "open-yunet-dlib"
PASSWORD = "correct horse battery"
PERSON, OTHER_PERSON = "facerec-obama", "facerec-guido_van_rossum"


def _require_postgres() -> None:
    """Skip locally / fail under CI=true when PostgreSQL cannot be reached (tests/conftest style)."""
    try:
        psycopg.connect(ADMIN_URL, connect_timeout=10).close()  # a busy CI machine: not 3 s
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL not reachable at {ADMIN_URL}: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


def fresh_postgres_database() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped after the caller's use."""
    _require_postgres()
    name = f"gerbang_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}".encode())
    yield ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)".encode())


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """A fresh database for this module, dropped afterwards."""
    yield from fresh_postgres_database()


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def registry_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The registry's database URL, once per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('registry') / 'registry.db'}"
    else:
        yield request.getfixturevalue("database_url")


@pytest.fixture(scope="module")
def face_vectors(model_dir: Path, dev_faces: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Real templates: the best-matching pair of photos of one person, and another person."""
    settings = Settings(
        model_dir=model_dir, data_dir=tmp_path_factory.mktemp("engine"), liveness=False
    )
    spec = wiring.engine_spec(settings, PACK)
    ensure_converted(spec.store, spec.pack)
    engine = spec.build()

    def embed(person: str) -> list[np.ndarray]:
        return [
            engine.analyse_bytes(p.read_bytes()).template
            for p in sorted((dev_faces / person).glob("*.jpg"))
        ]

    same = embed(PERSON)
    scores = {
        (i, j): float(same[i] @ same[j]) for i in range(len(same)) for j in range(i + 1, len(same))
    }
    i, j = max(scores, key=scores.__getitem__)
    return {"a": same[i], "b": same[j], "score": scores[(i, j)], "other": embed(OTHER_PERSON)[0]}


@dataclass
class FakeSite:
    """A site as the registry sees it: an id, a key, and an outbox numbering its changes."""

    id: str
    key: Ed25519PrivateKey
    seq: int = 0
    template_seq: int = 0
    sent: list[Change] = field(default_factory=list)

    def change(self, kind: str, entity_id: str, payload: dict[str, Any]) -> Change:
        self.seq += 1
        change = Change(
            seq=self.seq, kind=kind, entity_id=entity_id, payload=payload, created_at=_now()
        )
        self.sent.append(change)
        return change

    def enrol(
        self, name: str, vectors: list[np.ndarray], role: str = "inmate"
    ) -> tuple[str, Change]:
        """An `identity.enrolled` change built by the site's own payload code."""
        now = _now()
        identity = Identity(
            id=str(uuid.uuid4()), role=role, status="active", full_name=name, birth_date="1990-01-01",  # type: ignore[arg-type]
            sex="M", aliases=[], nik=None, nip=None, registration_number=f"AI-{self.seq}", details={},
            origin_site=self.id, merged_into=None, photo_image_id=None, created_at=now, updated_at=now, version=1,
        )  # fmt: skip
        captures = [
            StoredCapture(
                i, b"", "image/jpeg", hashlib.sha256(v.tobytes()).hexdigest(), v, 0.9, now
            )
            for i, v in enumerate(vectors)
        ]
        ids = list(range(self.template_seq + 1, self.template_seq + 1 + len(vectors)))
        self.template_seq += len(vectors)
        return identity.id, self.change(
            "identity.enrolled", identity.id, _change_payload(identity, captures, ids, PACK)
        )

    def batch(
        self, changes: list[Change], site_id: str | None = None, head: ChainHead | None = None
    ) -> Batch:
        return Batch(
            site_id=site_id or self.id,
            changes=changes,
            audit_head=head
            or ChainHead(seq=self.seq, hash=hashlib.sha256(b"%d" % self.seq).hexdigest()),
            sent_at=_now(),
        )


@dataclass
class Registry:
    client: TestClient
    service: RegistryService
    url: str
    tokens: dict[str, dict[str, str]]
    sites_made: int = 0

    def site(self, region: str = "KW-JABAR") -> FakeSite:
        """Register a new site through the API as the central admin."""
        self.sites_made += 1
        key = Ed25519PrivateKey.generate()
        site = FakeSite(f"UPT-{self.sites_made:03d}-{uuid.uuid4().hex[:4]}", key)
        body = {
            "id": site.id,
            "name": f"Lapas {self.sites_made}",
            "region": region,
            "public_key": public_key_text(key.public_key()),
        }
        assert (
            self.client.post("/v1/sites", json=body, headers=self.tokens["admin"]).status_code
            == 201
        )
        return site

    def push(
        self,
        site: FakeSite,
        batch: Batch,
        key: Ed25519PrivateKey | None = None,
        header_site: str | None = None,
    ) -> httpx.Response:
        body, signature = encode(batch, key or site.key)
        headers = {"X-Gerbang-Site": header_site or site.id, "X-Gerbang-Signature": signature,
                   "Content-Encoding": "gzip", "Content-Type": "application/json"}  # fmt: skip
        return self.client.post("/v1/sync/batches", content=body, headers=headers)

    def pull(
        self,
        site: FakeSite,
        after: int = 0,
        timestamp: str | None = None,
        key: Ed25519PrivateKey | None = None,
    ) -> httpx.Response:
        path = f"/v1/sync/changes?after={after}&limit=100"
        headers = {
            "X-Gerbang-Site": site.id,
            **sign_request(key or site.key, "GET", path, timestamp),
        }
        return self.client.get(path, headers=headers)

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows as tuples, read through the registry's own database seam (either backend)."""
        with self.service.db.transaction() as tx:
            return [tuple(row.values()) for row in tx.execute(sql, params).fetchall()]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _random_unit(seed: int, dim: int = 128) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return vector / np.linalg.norm(vector)


@pytest.fixture(scope="module")
def registry(registry_url: str) -> Iterator[Registry]:
    yield from open_registry(registry_url)


def open_registry(registry_url: str, **settings_given: Any) -> Iterator[Registry]:
    """A registry app with an account per officer role and their tokens (and any settings)."""
    settings = RegistrySettings(database_url=registry_url, **settings_given)
    service = RegistryService(settings)
    with TestClient(create_registry_app(settings, service)) as client:
        service.add_account("admin", "central_admin", PASSWORD, None)
        service.add_account("judge", "adjudicator", PASSWORD, None)
        service.add_account("jabar", "kanwil_monitor", PASSWORD, "KW-JABAR")
        tokens = {}
        for user in ("admin", "judge", "jabar"):
            token = client.post(
                "/v1/auth/login", json={"username": user, "password": PASSWORD}
            ).json()["token"]
            tokens[user] = {"Authorization": f"Bearer {token}"}
        yield Registry(client, service, registry_url, tokens)


def test_a_signed_batch_applies_once_and_its_replay_changes_nothing(registry: Registry) -> None:
    site = registry.site()
    person, enrolled = site.enrol("Budi", [_random_unit(1), _random_unit(2)])
    changes = [enrolled, site.change("identity.status", person, {"status": "released", "version": 2}),
               site.change("gate.event", "41", {"event_id": 41, "result": "admit"})]  # fmt: skip
    first = registry.push(site, site.batch(changes))
    assert first.status_code == 200, first.text
    assert first.json() == {
        "acknowledged_through": 3,
        "applied": 3,
        "already_applied": 0,
        "not_applied": [],
    }
    replay = registry.push(site, site.batch(changes))
    assert replay.status_code == 200
    assert replay.json()["acknowledged_through"] == 3 and replay.json()["already_applied"] == 3
    assert registry.query("SELECT status FROM national_identities WHERE id = %s", person) == [
        ("released",)
    ]
    assert registry.query(
        "SELECT count(*) FROM national_templates WHERE identity_id = %s", person
    ) == [(2,)]
    assert registry.query("SELECT count(*) FROM applied_changes WHERE site_id = %s", site.id) == [
        (3,)
    ]
    assert registry.query("SELECT count(*) FROM site_events WHERE site_id = %s", site.id) == [(1,)]


def test_a_replayed_old_batch_neither_rewinds_the_head_nor_counts_as_contact(
    registry: Registry,
) -> None:
    site = registry.site()
    old_head, new_head = ChainHead(seq=5, hash="a" * 64), ChainHead(seq=9, hash="b" * 64)
    old = site.batch([site.change("gate.event", "1", {"event_id": 1})], head=old_head)
    assert registry.push(site, old).status_code == 200
    new = site.batch([site.change("gate.event", "2", {"event_id": 2})], head=new_head)
    assert registry.push(site, new).status_code == 200
    with registry.service.db.transaction() as tx:
        tx.execute("UPDATE sites SET last_contact = %s WHERE id = %s",
                   (datetime(2020, 1, 1, tzinfo=UTC), site.id))  # fmt: skip

    replay = registry.push(site, old)  # captured on the wire, sent again later
    assert replay.status_code == 200 and replay.json()["already_applied"] == 1
    [(head, contact)] = registry.query(
        "SELECT audit_head, last_contact FROM sites WHERE id = %s", site.id
    )
    assert head == new_head.model_dump()
    assert contact.year == 2020  # the replay is not contact

    # New changes under an older head: the site's chain went backwards. The changes flow, the
    # head stays, and the registry's own audit records the alarm.
    rewound = site.batch([site.change("gate.event", "3", {"event_id": 3})], head=old_head)
    assert registry.push(site, rewound).json()["applied"] == 1
    [(head, contact)] = registry.query(
        "SELECT audit_head, last_contact FROM sites WHERE id = %s", site.id
    )
    assert head == new_head.model_dump() and contact.year > 2020
    alarms = registry.query(
        "SELECT details FROM audit WHERE action = 'site.audit_head_rewound' AND subject = %s",
        site.id,
    )
    assert len(alarms) == 1 and alarms[0][0]["received"]["seq"] == 5


def test_an_applied_seq_with_other_content_is_refused_whole_and_quarantined(
    registry: Registry,
) -> None:
    site = registry.site()
    _, one = site.enrol("Andi", [_random_unit(3)])
    two = site.change("gate.event", "1", {"result": "admit"})
    assert registry.push(site, site.batch([one, two])).status_code == 200
    rewritten = two.model_copy(update={"payload": {"result": "deny"}})
    response = registry.push(
        site, site.batch([rewritten, site.change("gate.event", "2", {"result": "admit"})])
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "sync_conflict" and response.json()["error"][
        "details"
    ]["seqs"] == [2]
    assert registry.query("SELECT max(seq) FROM applied_changes WHERE site_id = %s", site.id) == [
        (2,)
    ]
    assert registry.query("SELECT reason FROM quarantine WHERE site_id = %s", site.id) == [
        ("sync_conflict",)
    ]


def test_a_batch_that_skips_seqs_is_refused_with_the_expected_seq(registry: Registry) -> None:
    site = registry.site()
    first = [site.change("gate.event", str(i), {"i": i}) for i in range(2)]
    assert registry.push(site, site.batch(first)).status_code == 200
    site.seq = 4
    response = registry.push(site, site.batch([site.change("gate.event", "5", {"i": 5})]))
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "sync_gap" and error["details"]["expected_seq"] == 3
    assert set(error["message"]) == {"id", "en"}
    assert registry.query("SELECT count(*) FROM applied_changes WHERE site_id = %s", site.id) == [
        (2,)
    ]


def test_bad_signatures_unknown_sites_and_borrowed_names_are_refused_and_quarantined(
    registry: Registry,
) -> None:
    site, other = registry.site(), registry.site()
    batch = site.batch([site.change("gate.event", "1", {})])
    forged = registry.push(site, batch, key=Ed25519PrivateKey.generate())
    unknown = registry.push(FakeSite("UPT-NOWHERE", site.key), batch, header_site="UPT-NOWHERE")
    borrowed = registry.push(
        other, site.batch(batch.changes, site_id=site.id)
    )  # other's key, site's name
    for response in (forged, unknown, borrowed):
        assert (
            response.status_code == 401
            and response.json()["error"]["code"] == "sync_unauthenticated"
        )
    quarantined = registry.query("SELECT site_id FROM quarantine WHERE site_id = ANY(%s) ORDER BY id",
                                 [site.id, other.id, "UPT-NOWHERE"])  # fmt: skip
    assert [r[0] for r in quarantined] == [site.id, "UPT-NOWHERE", other.id]
    assert registry.query(
        "SELECT count(*) FROM applied_changes WHERE site_id = ANY(%s)", [site.id, other.id]
    ) == [(0,)]


def test_a_change_that_breaks_its_schema_refuses_the_whole_batch(registry: Registry) -> None:
    site = registry.site()
    _, good = site.enrol("Citra", [_random_unit(4)])
    _, bad = site.enrol("Dewi", [_random_unit(5, dim=64)])  # not the pack's 128 values
    response = registry.push(site, site.batch([good, bad]))
    assert response.status_code == 422 and response.json()["error"]["code"] == "sync_schema_invalid"
    assert registry.query(
        "SELECT count(*) FROM national_identities WHERE site_id = %s", site.id
    ) == [(0,)]
    assert registry.query("SELECT reason FROM quarantine WHERE site_id = %s", site.id) == [
        ("sync_schema_invalid",)
    ]


def test_the_same_face_at_two_sites_opens_a_case_and_same_merges_at_both(
    registry: Registry, face_vectors
) -> None:  # type: ignore[no-untyped-def]
    threshold = registry.service.policy.threshold
    assert face_vectors["score"] >= threshold  # the dev photos of one person match
    site_a, site_b, bystander = registry.site(), registry.site(), registry.site("KW-JATIM")
    older, enrolled_a = site_a.enrol("Barack", [face_vectors["a"]])
    assert registry.push(site_a, site_a.batch([enrolled_a])).status_code == 200
    newer, enrolled_b = site_b.enrol("Hussein", [face_vectors["b"]])
    _, unrelated = site_b.enrol("Guido", [face_vectors["other"]])
    assert registry.push(site_b, site_b.batch([enrolled_b, unrelated])).status_code == 200

    cases = registry.client.get("/v1/cases", headers=registry.tokens["judge"]).json()["cases"]
    mine = [c for c in cases if {c["identity_a"], c["identity_b"]} & {older, newer}]
    assert len(mine) == 1 and {mine[0]["identity_a"], mine[0]["identity_b"]} == {older, newer}
    # the threshold follows the national gallery's size (target FPIR): the one of the search
    assert mine[0]["score"] >= mine[0]["threshold"] == registry.service.policy.threshold
    assert mine[0]["threshold"] >= threshold  # more people searched: never a looser threshold

    decision = {"decision": "same", "reason": "same face, same birth date"}
    url = f"/v1/cases/{mine[0]['id']}/decision"
    decided = registry.client.post(url, json=decision, headers=registry.tokens["judge"])
    assert decided.status_code == 200 and decided.json()["survivor_id"] == older
    [(status, merged_into)] = registry.query(
        "SELECT status, merged_into FROM national_identities WHERE id = %s", newer
    )
    assert (status, str(merged_into)) == ("merged", older)
    for site in (site_a, site_b):
        merged = [
            c for c in registry.pull(site).json()["changes"] if c["kind"] == "identity.merged"
        ]
        assert [c["payload"]["merged_id"] for c in merged] == [newer]
        assert merged[0]["payload"]["survivor_id"] == older
    assert not [
        c for c in registry.pull(bystander).json()["changes"] if c["kind"] == "identity.merged"
    ]
    again = registry.client.post(url, json=decision, headers=registry.tokens["judge"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "case_closed"


def test_pull_gives_a_site_only_its_changes_after_its_cursor_and_refuses_stale_requests(
    registry: Registry,
) -> None:
    origin, receiving, elsewhere = registry.site(), registry.site(), registry.site("KW-JATIM")
    inmate, enrolled = origin.enrol("Eko", [_random_unit(6)])
    assert registry.push(origin, origin.batch([enrolled])).status_code == 200
    cursor = registry.pull(receiving).json()["last_seq"]
    moved = registry.client.post("/v1/transfers", json={"identity_id": inmate, "to_site": receiving.id, "reason": "mutasi"},
                                 headers=registry.tokens["admin"])  # fmt: skip
    assert moved.status_code == 200, moved.text
    banned = registry.client.post("/v1/watchlist", headers=registry.tokens["admin"], json={
        "full_name": "Wanted Person", "reason": "escaped 2025", "templates": [base64.b64encode(_random_unit(7).tobytes()).decode()]})  # fmt: skip
    assert banned.status_code == 200, banned.text

    arrived = registry.pull(receiving, after=cursor).json()
    assert [c["kind"] for c in arrived["changes"]] == ["identity.transferred_in", "watchlist.added"]
    incoming = arrived["changes"][0]["payload"]
    assert incoming["identity"]["id"] == inmate and len(incoming["templates"]) == 1
    assert registry.pull(receiving, after=arrived["last_seq"]).json() == {
        "changes": [],
        "last_seq": arrived["last_seq"],
    }
    told = [c for c in registry.pull(origin).json()["changes"] if c["kind"] == "identity.status"]
    assert [c["payload"]["status"] for c in told] == ["transferred_out"]
    assert [c["kind"] for c in registry.pull(elsewhere, after=cursor).json()["changes"]] == [
        "watchlist.added"
    ]

    stale = (datetime.now(UTC) - timedelta(minutes=10)).isoformat(timespec="seconds")
    for response in (
        registry.pull(receiving, timestamp=stale),
        registry.pull(receiving, key=origin.key),
    ):
        assert (
            response.status_code == 401
            and response.json()["error"]["code"] == "sync_unauthenticated"
        )
    # the sending site no longer owns the record: its later status change is recorded, not applied
    late = registry.push(
        origin, origin.batch([origin.change("identity.status", inmate, {"status": "released"})])
    )
    assert late.json()["not_applied"][0]["outcome"] == "ignored"
    assert registry.query(
        "SELECT site_id, status FROM national_identities WHERE id = %s", inmate
    ) == [(receiving.id, "active")]


def test_a_kanwil_monitor_reads_its_region_only_and_cannot_write(registry: Registry) -> None:
    quiet, busy, far = registry.site(), registry.site(), registry.site("KW-JATIM")
    assert registry.push(busy, busy.batch([busy.change("gate.event", "1", {})])).status_code == 200
    assert (
        registry.push(
            busy, busy.batch([busy.change("gate.event", "2", {})]), key=quiet.key
        ).status_code
        == 401
    )
    monitor = registry.tokens["jabar"]

    reports = {
        r["id"]: r
        for r in registry.client.get("/v1/reports/sites", headers=monitor).json()["sites"]
    }
    assert {r["region"] for r in reports.values()} == {"KW-JABAR"} and far.id not in reports
    assert reports[quiet.id]["silent"] and not reports[busy.id]["silent"]
    assert reports[busy.id]["arrived"] == {"gate.event": {"applied": 1}}
    assert reports[busy.id]["quarantined"]["count"] == 1
    assert reports[busy.id]["quarantined"]["recent"][0]["reason"] == "sync_unauthenticated"
    assert registry.client.get(f"/v1/reports/sites/{far.id}", headers=monitor).status_code == 404
    assert (
        registry.client.get(
            f"/v1/reports/sites/{far.id}", headers=registry.tokens["admin"]
        ).status_code
        == 200
    )

    writes = [("/v1/cases/1/decision", {"decision": "not_same", "reason": "looks different"}),
              ("/v1/transfers", {"identity_id": str(uuid.uuid4()), "to_site": far.id, "reason": "mutasi"}),
              ("/v1/watchlist", {"full_name": "X", "reason": "why not", "templates": ["AAAA"]}),
              ("/v1/sites", {"id": "UPT-ROGUE", "name": "x", "region": "KW-JABAR", "public_key": "A" * 44})]  # fmt: skip
    for path, body in writes:
        response = registry.client.post(path, json=body, headers=monitor)
        assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden", path
    assert registry.client.get("/v1/cases", headers=monitor).status_code == 403
    assert registry.client.get("/v1/reports/sites").status_code == 401


def test_a_restarted_registry_rebuilds_the_national_gallery_from_the_database(
    registry: Registry,
) -> None:
    fresh = RegistryService(registry.service.settings)
    fresh.start()
    held = registry.query("SELECT count(*) FROM national_templates t JOIN national_identities i ON i.id = t.identity_id"
                          " WHERE t.pack_id = %s AND i.status <> 'erased'", PACK)[0][0]  # fmt: skip
    assert len(fresh.gallery.index) == held == len(registry.service.gallery.index) > 0


def test_the_console_registers_sites_and_accounts(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("REGISTRY_DATABASE_URL", registry.url)
    key = public_key_text(Ed25519PrivateKey.generate().public_key())
    assert (
        cli.main(
            [
                "registry",
                "sites",
                "add",
                "UPT-CLI",
                "--name",
                "Rutan CLI",
                "--region",
                "KW-BALI",
                "--public-key",
                key,
            ]
        )
        == 0
    )
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(PASSWORD + "\n"))
    args = [
        "registry",
        "accounts",
        "add",
        "bali",
        "--role",
        "kanwil_monitor",
        "--region",
        "KW-BALI",
        "--password-stdin",
    ]
    assert cli.main(args) == 0
    assert (
        cli.main(
            [
                "registry",
                "accounts",
                "add",
                "nobody",
                "--role",
                "kanwil_monitor",
                "--password-stdin",
            ]
        )
        == 2
    )
    assert registry.query("SELECT region FROM sites WHERE id = 'UPT-CLI'") == [("KW-BALI",)]
    assert "registry_input_invalid" in capsys.readouterr().err


def test_a_site_is_registered_once_and_only_with_a_real_ed25519_key(registry: Registry) -> None:
    admin = registry.tokens["admin"]
    site = registry.site()
    again = {
        "id": site.id,
        "name": "again",
        "region": "KW-JABAR",
        "public_key": public_key_text(Ed25519PrivateKey.generate().public_key()),
    }
    garbage = {**again, "id": "UPT-GARBAGE", "public_key": "A" * 44}
    for body in (again, garbage):
        response = registry.client.post("/v1/sites", json=body, headers=admin)
        assert (
            response.status_code == 422
            and response.json()["error"]["code"] == "registry_input_invalid"
        )


def _stripped(change: Change) -> Change:
    """The change as the site rewrites an unacknowledged outbox row when it erases someone."""
    payload = {k: v for k, v in change.payload.items() if k not in ("templates", "iso_record_b64")}
    return change.model_copy(update={"payload": payload})


def _count(registry: Registry, table: str, identity_id: str) -> int:
    sql = f"SELECT count(*) FROM {table} WHERE identity_id = %s"
    return int(registry.query(sql, identity_id)[0][0])


def test_a_replay_stripped_of_biometrics_by_an_erasure_counts_as_already_applied(
    registry: Registry,
) -> None:
    site = registry.site()
    visitor, enrolled = site.enrol("Fitri", [_random_unit(8)], role="visitor")
    iso = base64.b64encode(b"FMR\x00 020").decode()
    finger = site.change(
        "finger.enrolled",
        visitor,
        {"position": 2, "impression": 0, "extractor": "nbis", "iso_record_b64": iso, "quality": 70},
    )
    first = registry.push(site, site.batch([enrolled, finger]))  # applied, but the answer is lost
    assert first.json()["applied"] == 2 and _count(registry, "national_fingers", visitor) == 1

    erased = site.change("identity.erased", visitor, {"templates": 2, "images": 1})
    replay = registry.push(site, site.batch([_stripped(enrolled), _stripped(finger), erased]))
    assert replay.status_code == 200, replay.text
    assert (replay.json()["applied"], replay.json()["already_applied"]) == (1, 2)
    status = registry.query("SELECT status FROM national_identities WHERE id = %s", visitor)
    assert status == [("erased",)]
    assert _count(registry, "national_templates", visitor) == 0
    assert _count(registry, "national_fingers", visitor) == 0

    late, enrolled_late = site.enrol("Gita", [_random_unit(9)], role="visitor")
    assert registry.push(site, site.batch([_stripped(enrolled_late)])).json()["applied"] == 1
    assert _count(registry, "national_templates", late) == 0


def test_both_backends_hold_the_same_tables_and_columns(database_url: str, tmp_path: Path) -> None:
    """The SQLite migrations are twins of the PostgreSQL ones: same tables, columns, NOT NULLs."""

    def postgres_columns() -> set[tuple[str, str, bool]]:
        database = open_database(database_url)
        database.migrate()
        with database.transaction() as tx:
            rows = tx.execute(
                "SELECT table_name, column_name, is_nullable FROM information_schema.columns"
                " WHERE table_schema = 'public'"
            ).fetchall()
        return {(r["table_name"], r["column_name"], r["is_nullable"] == "NO") for r in rows}

    def sqlite_columns() -> set[tuple[str, str, bool]]:
        database = open_database(f"sqlite:///{tmp_path / 'twin.db'}")
        database.migrate()
        found = set()
        with database.transaction() as tx:
            tables = tx.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%%'"
            ).fetchall()
            for table in (t["name"] for t in tables):
                for column in tx.execute(f"PRAGMA table_info({table})").fetchall():
                    # a primary key column is NOT NULL in PostgreSQL whether or not it says so
                    required = bool(column["notnull"]) or column["pk"] > 0
                    found.add((table, column["name"], required))
        return found

    postgres = postgres_columns()
    assert len(postgres) > 80 and sqlite_columns() == postgres


def test_signing_out_ends_the_token_at_once(registry: Registry) -> None:
    login = registry.client.post("/v1/auth/login", json={"username": "judge", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {login.json()['token']}"}
    assert registry.client.get("/v1/cases", headers=headers).status_code == 200
    assert registry.client.post("/v1/auth/logout", headers=headers).status_code == 204
    refused = registry.client.get("/v1/cases", headers=headers)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthenticated"
    assert registry.client.get("/v1/cases", headers=registry.tokens["judge"]).status_code == 200


def test_no_registry_operation_answers_an_anonymous_caller(registry: Registry) -> None:
    """Walk the registry's published API: only sign-in, health and metrics (Prometheus scrapes
    them; README, Monitoring) answer without credentials."""
    public = {"/v1/auth/login", "/v1/health", "/metrics"}
    paths = registry.client.app.openapi()["paths"]  # type: ignore[attr-defined]
    operations = [(m.upper(), p) for p, ops in paths.items() if p not in public for m in ops]
    assert len(operations) >= 15  # the walk saw the whole API
    for method, template in operations:
        path = re.sub(r"\{[^}]+\}", "00000000-0000-4000-8000-000000000001", template)
        response = registry.client.request(method, path)
        assert response.status_code == 401, (method, template, response.status_code)


def test_the_console_prints_the_daily_report_and_flags_silent_sites(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("REGISTRY_DATABASE_URL", registry.url)
    heard, quiet = registry.site("KW-NTT"), registry.site("KW-NTT")
    _, enrolled = heard.enrol("Yohanes", [_random_unit(71)])
    assert registry.push(heard, heard.batch([enrolled])).status_code == 200
    assert cli.main(["registry", "report", "--region", "KW-NTT"]) == 0
    out = capsys.readouterr().out
    heard_block = out.split(f"\n{heard.id} ")[1].split("\n\n")[0]
    quiet_block = out.split(f"\n{quiet.id} ")[1].split("\n\n")[0]
    assert "SILENT" not in heard_block and "1 warga binaan / inmates" in heard_block
    assert "1 perubahan diterima / changes received, 0 ditolak / refused" in heard_block
    assert "never" in quiet_block and "SILENT" in quiet_block
    assert out.splitlines()[-1] == (
        f"  1 situs diam lebih dari 24 jam / sites silent for more than 24 hours: {quiet.id}"
    )
    assert cli.main(["registry", "report", "--region", "KW-NTT", "--fail-if-silent"]) == 1
    capsys.readouterr()
    assert cli.main(["registry", "report", "--region", "KW-NTT", "--json"]) == 0
    sites = json.loads(capsys.readouterr().out)["sites"]
    assert {s["id"]: s["silent"] for s in sites} == {heard.id: False, quiet.id: True}


def test_each_officer_operation_refuses_every_role_without_its_permission(
    registry: Registry,
) -> None:
    """Walk the one route policy: a role without the permission gets 403, one with it gets past."""
    tokens = {}
    for user, role in (("admin", "central_admin"), ("judge", "adjudicator"), ("jabar", "kanwil_monitor")):  # fmt: skip
        login = registry.client.post(
            "/v1/auth/login", json={"username": user, "password": PASSWORD}
        )
        tokens[role] = {"Authorization": f"Bearer {login.json()['token']}"}
    operations = {
        op["operationId"]: (method.upper(), path)
        for path, ops in registry.client.app.openapi()["paths"].items()  # type: ignore[attr-defined]
        for method, op in ops.items()
    }
    refused = 0
    # Signing out last: it ends the token the other operations use.
    for operation in sorted(ROUTE_PERMISSIONS, key=lambda name: name == "logout"):
        method, template = operations[operation]
        path = re.sub(r"\{[^}]+\}", "00000000-0000-4000-8000-000000000001", template)
        allowed = PERMISSIONS[ROUTE_PERMISSIONS[operation]]
        for role, headers in tokens.items():
            response = registry.client.request(method, path, headers=headers)
            if role in allowed:
                assert response.status_code not in (401, 403), (operation, role)
            else:
                refused += 1
                assert response.status_code == 403, (operation, role, response.status_code)
                error = response.json()["error"]
                assert error["code"] == "forbidden"
                assert error["details"] == {"action": ROUTE_PERMISSIONS[operation], "role": role}
    assert refused >= 15  # the walk met roles without permissions


def _check_answer(model: type[BaseModel], body: Any) -> None:
    """The body validates against its response model and carries no field the model does not name."""
    model.model_validate(body)
    undeclared = set(body) - set(model.model_fields)
    assert not undeclared, (model.__name__, undeclared)


def test_real_answers_match_their_published_models(registry: Registry) -> None:
    client, admin = registry.client, registry.tokens["admin"]
    _check_answer(HealthResponse, client.get("/v1/health").json())
    login = client.post("/v1/auth/login", json={"username": "judge", "password": PASSWORD})
    _check_answer(LoginResponse, login.json())

    site = registry.site("KW-BALI")
    person, enrolled = site.enrol("Made", [_random_unit(91)])
    pushed = registry.push(site, site.batch([enrolled]))
    _check_answer(BatchReceiptResponse, pushed.json())
    _check_answer(ChangesResponse, registry.pull(site).json())

    reports = client.get("/v1/reports/sites", headers=admin).json()
    _check_answer(SiteReportList, reports)
    for report in reports["sites"]:
        _check_answer(SiteReport, report)
        _check_answer(Quarantined, report["quarantined"])
    _check_answer(SiteReport, client.get(f"/v1/reports/sites/{site.id}", headers=admin).json())

    asked = client.post(f"/v1/identities/{person}/photo-requests", json={}, headers=admin)
    assert asked.status_code == 201, asked.text
    _check_answer(PhotoRequestResponse, asked.json())
    moved = client.post("/v1/transfers", headers=admin,
                        json={"identity_id": person, "to_site": registry.site().id, "reason": "mutasi"})  # fmt: skip
    _check_answer(TransferResponse, moved.json())
    template = base64.b64encode(_random_unit(92).tobytes()).decode()
    added = client.post("/v1/watchlist", headers=admin,
                        json={"full_name": "Dicari", "reason": "kabur", "templates": [template]})  # fmt: skip
    _check_answer(WatchlistAdded, added.json())
    removal = f"/v1/watchlist/{added.json()['identity_id']}/removal"
    removed = client.post(removal, headers=admin, json={"reason": "tertangkap"})
    _check_answer(WatchlistRemoved, removed.json())

    twin = registry.site("KW-BALI")
    _, again = twin.enrol("Made lagi", [_random_unit(91)])  # the same face: a duplicate case
    assert registry.push(twin, twin.batch([again])).status_code == 200
    cases = client.get("/v1/cases", headers=admin).json()
    _check_answer(CaseList, cases)
    assert any(person in {c["identity_a"], c["identity_b"]} for c in cases["cases"])
    for case in cases["cases"]:
        _check_answer(CaseResponse, case)
        for person in case["people"]:
            _check_answer(CasePerson, person)
            _check_answer(PhotoState, person["photo"])


def test_the_report_counts_a_site_s_day_from_its_gate_events_on_either_backend(
    registry: Registry,
) -> None:
    """Gate events as the site's recorder writes them (edge/gate/recording.py)."""
    site = registry.site("KW-MALUKU")
    _, inmate = site.enrol("Yakob", [_random_unit(81)])
    _, visitor = site.enrol("Maria", [_random_unit(82)], role="visitor")

    def gate(event_id: int, passage: str, result: str, reason: str) -> Change:
        body = {"event_id": event_id, "passage": passage, "result": result, "reason": reason}
        return site.change("gate.event", str(event_id), body)

    changes = [inmate, visitor, gate(1, "visitor_entry", "admit", "visitor_verified"),
               gate(2, "visitor_entry", "deny", "face_mismatch"),
               gate(3, "visitor_entry", "deny", "face_mismatch"),
               gate(4, "visitor_exit", "alarm", "inmate_leaving"),
               gate(5, "visitor_exit", "alarm", "inmate_leaving"),
               site.change("gate.alarm_cleared", "4", {"by": "spv", "reason": "kembali ke blok"}),
               gate(6, "visitor_exit", "admit", "visitor_exit_matched"),
               gate(7, "staff_in", "admit", "staff_verified")]  # fmt: skip
    assert registry.push(site, site.batch(changes)).status_code == 200
    report = registry.client.get(
        f"/v1/reports/sites/{site.id}", headers=registry.tokens["admin"]
    ).json()
    _check_answer(SiteReport, report)
    assert report["activity"] == {
        "enrolled": {"inmate": 1, "staff": 0, "visitor": 1}, "visits_in": 1, "visits_out": 1,
        "alarms_raised": 2, "alarms_cleared": 1, "alarms_open": 1,
        "denials": [{"reason": "face_mismatch", "count": 2, "id": "wajah tidak cocok dengan data",
                     "en": "face did not match the record"}],
    }  # fmt: skip
