"""The site agent against a registry made of httpx.MockTransport: push, retries, gaps, conflicts,
restarts, and pulled changes applied exactly once with the gallery following.

The fake registry keeps what the real one promises: it verifies every signature, applies by
(site, seq) so a replay is a no-op, answers `sync_gap` when a batch starts past what it holds and
`sync_conflict` when a seq it holds arrives with other content.
"""

from __future__ import annotations

import base64
import hashlib
import random
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from console.main import main
from edge import sync_cli
from edge.settings import Settings
from edge.site import Site
from enrollment.db import Database
from enrollment.records import IdentityDraft
from enrollment.repository import IdentityRepository
from gallery_sync.gallery import GalleryIndex
from gallery_sync.outbox import append_change
from gallery_sync.protocol import change_digest, decode, load_site_key, new_site_key
from models.fingerprint import iso19794
from models.fingerprint.minutiae import MinutiaeTemplate
from site_sync.agent import SiteAgent, SyncHalted
from site_sync.apply import PulledApplier
from site_sync.projection import check_gallery, stored_entries
from site_sync.pulled import PulledChangeInvalid
from site_sync.state import ALARM, PULLED, PUSHED, clear_alarm, read_int, read_json, write
from site_sync.uplink import Backoff, RegistryClient, RegistryUnreachable

SITE = "UPT-A"
PACK = "open-yunet-dlib"  # the default pack: dlib, 128-d
DIM = 128


class FakeRegistry:
    """One registry, one site: pushes in, changes out, failures on demand."""

    def __init__(self, site_dir: Path) -> None:
        self.public = load_site_key(sync_cli.key_path(Settings(data_dir=site_dir))).public_key()
        self.held: dict[int, str] = {}  # seq -> content digest
        self.applied_count: dict[int, int] = {}
        self.posts: list[tuple[bytes, str]] = []
        self.gets: list[str] = []
        self.fail_next: list[int | Exception] = []  # answered before handling a request
        self.changes: list[dict[str, Any]] = []  # what the site will pull
        self.attempts: list[tuple[bytes, httpx.Headers]] = []  # every POST, failed ones too
        self.on_pull: Callable[[], None] = lambda: None

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.attempts.append((request.read(), request.headers))
        if self.fail_next:
            failure = self.fail_next.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return httpx.Response(failure, json={"error": {"code": "unavailable"}})
        assert request.headers["X-Gerbang-Site"] == SITE
        return self._push(request) if request.method == "POST" else self._pull(request)

    def _push(self, request: httpx.Request) -> httpx.Response:
        signature = request.headers["X-Gerbang-Signature"]
        self.posts.append((request.content, signature))
        batch = decode(request.content, signature, self.public)  # raises on a bad signature
        through = max(self.held, default=0)
        if batch.first_seq > through + 1:
            return _error(409, "sync_gap", {"expected_seq": through + 1})
        if any(self.held.get(c.seq, change_digest(c)) != change_digest(c) for c in batch.changes):
            return _error(409, "sync_conflict", {"first_seq": batch.first_seq})
        fresh = [c for c in batch.changes if c.seq not in self.held]
        for change in fresh:
            self.held[change.seq] = change_digest(change)
            self.applied_count[change.seq] = self.applied_count.get(change.seq, 0) + 1
        return httpx.Response(
            200,
            json={
                "acknowledged_through": batch.last_seq,
                "applied": len(fresh),
                "already_applied": len(batch.changes) - len(fresh),
            },
        )

    def _pull(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode()
        signed = f"GET\n{path}\n{request.headers['X-Gerbang-Timestamp']}".encode()
        self.public.verify(base64.b64decode(request.headers["X-Gerbang-Signature"]), signed)
        self.gets.append(path)
        self.on_pull()
        after, limit = int(request.url.params["after"]), int(request.url.params["limit"])
        page = [c for c in self.changes if c["seq"] > after][:limit]
        last = max((c["seq"] for c in self.changes), default=0)
        return httpx.Response(200, json={"changes": page, "last_seq": last})


def _error(status: int, code: str, details: dict[str, Any]) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": {}, "details": details}})


# --- fixtures and builders ----------------------------------------------------------------------


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    settings = Settings(data_dir=tmp_path, site_id=SITE, pack=PACK)
    new_site_key(sync_cli.key_path(settings))
    site = Site(settings)
    site.gallery_ = GalleryIndex(DIM)  # the seam: no face engine needed for DB and gallery work
    yield site
    site.close()


@pytest.fixture
def registry(site: Site) -> FakeRegistry:
    return FakeRegistry(site.settings.data_dir)


@pytest.fixture
def sleeps() -> list[float]:
    return []


def agent_of(site: Site, registry: FakeRegistry, sleeps: list[float], **options: Any) -> SiteAgent:
    http = httpx.Client(transport=httpx.MockTransport(registry.handle), base_url="http://registry")
    client = RegistryClient(http, SITE, sync_cli.site_key(site.settings))
    options.setdefault("backoff", Backoff(base_s=1.0, cap_s=300.0, rng=random.Random(7)))
    return sync_cli.agent_for_site(site, client, sleep=sleeps.append, **options)


@pytest.fixture
def agent(site: Site, registry: FakeRegistry, sleeps: list[float]) -> SiteAgent:
    return agent_of(site, registry, sleeps, batch_size=10, pull_limit=4)


def backlog(db: Database, count: int) -> None:
    """Gate events waiting in the outbox, as the gate writes them."""
    with db.transaction() as tx:
        for n in range(count):
            append_change(tx, "gate.event", str(n), {"n": n, "result": "admit"})


def unit_vectors(count: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def enrol_local(site: Site, name: str, role: str = "inmate", seed: int = 0) -> str:
    """A person enrolled at this site, with two templates, projected into the gallery."""
    number = {"registration_number": f"B.I-{seed:03d}/2026"} if role == "inmate" else {}
    with site.db.transaction() as tx:
        repo = IdentityRepository(tx, site.vault)
        identity_id = repo.insert(IdentityDraft(role=role, full_name=name, **number), SITE)  # type: ignore[arg-type]
        for i, vector in enumerate(unit_vectors(2, seed)):
            image_id, digest = repo.add_image(identity_id, f"{name}{i}".encode(), "image/jpeg", "t")
            repo.add_template(identity_id, image_id, digest, PACK, vector, 0.9, "t")
    site.gallery().rebuild(stored_entries(site.db, site.vault, PACK))
    return identity_id


def record(
    identity_id: str, name: str, role: str = "inmate", origin: str = "UPT-B"
) -> dict[str, Any]:
    """An identity record as the registry sends it (enrollment.records.Identity fields)."""
    return {
        "id": identity_id,
        "role": role,
        "status": "active",
        "full_name": name,
        "birth_date": "1990-01-01",
        "sex": "M",
        "aliases": [],
        "nik": None,
        "nip": None,
        "registration_number": None,
        "details": {},
        "origin_site": origin,
        "merged_into": None,
        "created_at": "t",
        "updated_at": "t",
        "version": 1,
    }


def with_templates(body: dict[str, Any], vectors: np.ndarray) -> dict[str, Any]:
    templates = [
        {
            "template_id": i + 1,
            "quality": 0.8,
            "image_sha256": hashlib.sha256(f"{body['id']}-{i}".encode()).hexdigest(),
            "vector_f32le_b64": base64.b64encode(v.astype("<f4").tobytes()).decode(),
        }
        for i, v in enumerate(vectors)
    ]
    return {"identity": body, "pack_id": PACK, "templates": templates}


def feed(registry: FakeRegistry, *changes: tuple[str, dict[str, Any]]) -> None:
    start = len(registry.changes)
    registry.changes += [
        {"seq": start + i + 1, "kind": kind, "payload": payload}
        for i, (kind, payload) in enumerate(changes)
    ]


def get(site: Site, identity_id: str) -> Any:
    with site.db.reading() as tx:
        return IdentityRepository(tx, site.vault).get(identity_id)


def state(site: Site, key: str) -> int:
    with site.db.reading() as tx:
        return read_int(tx, key)


def dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the sync could touch."""
    tables = ("identities", "templates", "audit_events", "outbox", "site_state", "images")
    with db.reading() as tx:
        return {t: [tuple(r) for r in tx.execute(f"SELECT * FROM {t} ORDER BY 1")] for t in tables}


def _gallery_matches_database(site: Site) -> bool:
    return check_gallery(site.db, site.vault, site.gallery(), PACK).ok


def best(site: Site, vector: np.ndarray, role: str, status: str) -> tuple[str, float]:
    """The person whose capture best matches the vector there, and that capture's own score."""
    found = site.gallery().search(vector, k=1, roles=(role,), statuses=(status,), by="capture")[0]
    return (found[0].identity_id, found[0].score) if found else ("", 0.0)


# --- push ---------------------------------------------------------------------------------------


def test_push_drains_a_backlog_in_batches_and_stores_the_cursor(site, registry, agent):
    backlog(site.db, 25)
    assert agent.push_pending() == 25
    assert len(registry.posts) == 3  # 10 + 10 + 5
    assert sorted(registry.held) == list(range(1, 26))
    assert state(site, PUSHED) == 25
    with site.db.reading() as tx:
        assert tx.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0] == 0
    assert agent.push_pending() == 0
    assert len(registry.posts) == 3  # drained: nothing more is sent


def test_a_retry_after_a_503_resends_the_same_bytes(site, registry, agent, sleeps):
    backlog(site.db, 3)
    registry.fail_next = [503, httpx.ConnectError("link down"), 502]
    assert agent.push_pending() == 3
    bodies = {(body, headers["X-Gerbang-Signature"]) for body, headers in registry.attempts}
    assert len(registry.attempts) == 4 and len(bodies) == 1  # one batch, byte for byte, 4 times
    assert len(sleeps) == 3
    assert all(0 <= s <= 2**i for i, s in enumerate(sleeps))  # full jitter under 1, 2, 4 s


def test_an_unreachable_registry_gives_up_after_max_attempts_and_loses_nothing(
    site, registry, sleeps
):
    backlog(site.db, 5)
    registry.fail_next = [503] * 3
    agent = agent_of(site, registry, sleeps, max_attempts=3)
    with pytest.raises(RegistryUnreachable):
        agent.push_pending()
    assert state(site, PUSHED) == 0
    assert agent.push_pending() == 5


def test_a_sync_gap_rewinds_to_the_seq_the_registry_expects(site, registry, agent):
    backlog(site.db, 6)
    agent.push_pending()
    for seq in (4, 5, 6):  # the registry was restored from a backup taken after seq 3
        del registry.held[seq]
    backlog(site.db, 2)
    assert agent.push_pending() == 5  # 7..8 refused with a gap, then 4..8 acknowledged
    assert sorted(registry.held) == list(range(1, 9))
    sent = [decode(body, sig, registry.public) for body, sig in registry.posts[-2:]]
    assert [(b.first_seq, b.last_seq) for b in sent] == [(7, 8), (4, 8)]
    assert state(site, PUSHED) == 8


def test_a_sync_conflict_stops_pushing_and_raises_an_alarm(site, registry, agent):
    backlog(site.db, 5)
    registry.held[2] = "f" * 64  # another history under seq 2 (a cloned or restored site disk)
    before = dump(site.db)["outbox"]
    with pytest.raises(SyncHalted):
        agent.push_pending()
    with site.db.reading() as tx:
        alarm = read_json(tx, ALARM)
        actions = [r[0] for r in tx.execute("SELECT action FROM audit_events")]
    assert alarm is not None and alarm["code"] == "sync_conflict" and alarm["first_seq"] == 1
    assert "sync.conflict" in actions
    assert dump(site.db)["outbox"] == before and state(site, PUSHED) == 0  # history untouched
    posts = len(registry.posts)
    feed(
        registry,
        ("watchlist.added", with_templates(record("w-1", "Wanted", "visitor"), unit_vectors(1, 9))),
    )
    report = agent.run_once()
    assert len(registry.posts) == posts  # halted: nothing pushed until an officer clears it
    assert report.push_problem is not None and report.push_problem["code"] == "sync_halted"
    assert report.pulled == 1  # ...but the watchlist still reaches the gate
    assert report.push_problem["details"]["code"] == "sync_conflict"
    assert clear_alarm(site.db, "admin", "resolved centrally") == alarm
    with pytest.raises(SyncHalted):  # cleared, tried again: the registry still refuses it
        agent.push_pending()


def test_a_restarted_agent_resumes_from_the_stored_cursor(site, registry, sleeps):
    backlog(site.db, 30)
    registry.fail_next = []
    first = agent_of(site, registry, sleeps, batch_size=10, max_attempts=1)
    assert first.push_batch() == 10  # one batch acknowledged, then the link goes down
    registry.fail_next = [httpx.ReadTimeout("cut")]
    with pytest.raises(RegistryUnreachable):
        first.push_pending()
    site.close()
    reopened = Site(site.settings)  # a new process on the same data dir
    reopened.gallery_ = GalleryIndex(DIM)
    try:
        second = agent_of(reopened, registry, sleeps, batch_size=10)
        assert second.push_pending() == 20
        first_seq = decode(registry.posts[1][0], registry.posts[1][1], registry.public).first_seq
        assert first_seq == 11  # resumed, not restarted from 1
        assert set(registry.applied_count.values()) == {1}  # nothing applied twice
    finally:
        reopened.close()
        site.db = Database(site.settings.database_path)  # for the fixture's close


# --- pull ---------------------------------------------------------------------------------------


@pytest.fixture
def estate(site: Site, registry: FakeRegistry) -> dict[str, Any]:
    """Local people and the registry's decisions about them: one of each kind of change."""
    people = {
        "kept": enrol_local(site, "Andi", seed=1),
        "merged": enrol_local(site, "Andi alias Anto", seed=2),
        "elsewhere": enrol_local(site, "Budi", seed=3),
        "visitor": enrol_local(site, "Citra", role="visitor", seed=4),
        "transfer": unit_vectors(3, 5),
        "wanted": unit_vectors(2, 6),
    }
    feed(
        registry,
        ("identity.transferred_in", with_templates(record("t-1", "Dedi"), people["transfer"])),
        ("identity.merged", {"merged_id": people["merged"], "survivor_id": people["kept"]}),
        ("identity.merged", {"merged_id": people["elsewhere"], "survivor_id": "n-999"}),
        ("watchlist.added", with_templates(record("w-1", "Eko", "inmate"), people["wanted"])),
        ("identity.status", {"identity_id": people["visitor"], "status": "banned"}),
        ("identity.status", {"identity_id": "not-here", "status": "released"}),
    )
    return people


def test_pull_applies_transfer_merge_watchlist_and_status_with_the_cursor(
    site, registry, agent, estate
):
    outbox_before = dump(site.db)["outbox"]
    assert agent.pull_pending() == 6
    assert state(site, PULLED) == 6
    assert registry.gets[0] == "/v1/sync/changes?after=0&limit=4"  # signed over this path
    transferred = get(site, "t-1")
    assert (transferred.role, transferred.status, transferred.origin_site) == (
        "inmate",
        "active",
        "UPT-B",
    )
    for vector in estate["transfer"]:  # the transferred inmate is identifiable at the gate
        assert best(site, vector, "inmate", "active") == ("t-1", pytest.approx(1.0, abs=1e-5))
    merged = get(site, estate["merged"])
    assert (merged.status, merged.merged_into) == ("merged", estate["kept"])
    assert best(site, unit_vectors(2, 2)[0], "inmate", "active")[0] != estate["merged"]
    elsewhere = get(site, estate["elsewhere"])  # survivor not here: pointer, still an inmate
    assert elsewhere.status == "active" and elsewhere.details["registry_survivor_id"] == "n-999"
    wanted = get(site, "w-1")
    assert (wanted.role, wanted.status) == ("visitor", "banned")
    assert best(site, estate["wanted"][1], "visitor", "banned")[0] == "w-1"
    assert get(site, estate["visitor"]).status == "banned"
    assert best(site, unit_vectors(2, 4)[0], "visitor", "banned")[0] == estate["visitor"]
    after = dump(site.db)
    assert after["outbox"] == outbox_before  # the registry's facts do not echo back up
    assert [row[2] for row in after["templates"] if row[1] == "t-1"] == [None] * 3  # no photos
    with site.db.reading() as tx:
        audited = [
            r[0] for r in tx.execute("SELECT action FROM audit_events WHERE actor = 'registry'")
        ]
    assert audited == [
        "sync.identity.transferred_in",
        "sync.identity.merged",
        "sync.merge_deferred",
        "sync.watchlist.added",
        "sync.identity.status",
    ]
    assert _gallery_matches_database(site)


def test_applying_the_same_changes_twice_changes_nothing(site, registry, agent, estate):
    agent.pull_pending()
    rows, gallery = dump(site.db), site.gallery().snapshot()
    with site.db.transaction() as tx:
        write(tx, PULLED, 0)  # as if the cursor had been lost: every change arrives again
    assert agent.pull_pending() == 6
    assert dump(site.db) == rows
    assert site.gallery().snapshot() == gallery


def test_a_crash_in_the_middle_of_a_pulled_page_leaves_cursor_and_data_unchanged(
    site, registry, sleeps, estate
):
    def crashing(tx: sqlite3.Connection, vault: Any, site_id: str, changes: Any) -> set[str]:
        applier = PulledApplier(tx, vault, site_id)
        for change in list(changes)[:2]:
            applier.apply(change)
        raise RuntimeError("power cut half-way through the page")

    rows, gallery = dump(site.db), site.gallery().snapshot()
    with pytest.raises(RuntimeError):
        agent_of(site, registry, sleeps, applier=crashing).pull_pending()
    assert dump(site.db) == rows and state(site, PULLED) == 0
    assert site.gallery().snapshot() == gallery
    assert agent_of(site, registry, sleeps).pull_pending() == 6  # after the restart: all of it


def test_a_malformed_change_refuses_the_whole_page(site, registry, agent):
    feed(
        registry,
        ("identity.transferred_in", with_templates(record("t-2", "Fajar"), unit_vectors(1, 8))),
        ("identity.merged", {"merged_id": "t-2", "survivor_id": "t-2"}),
    )
    rows = dump(site.db)
    with pytest.raises(PulledChangeInvalid):
        agent.pull_pending()
    after = dump(site.db)
    assert after["identities"] == rows["identities"] and state(site, PULLED) == 0
    with site.db.reading() as tx:
        assert read_json(tx, "sync.pull_error")["seq"] == 2


def test_central_status_wins_and_local_fields_win_for_records_the_site_originated(
    site, registry, agent
):
    ours = enrol_local(site, "Gani", seed=11)
    with site.db.transaction() as tx:  # released here, later than the registry's copy
        IdentityRepository(tx, site.vault).set_status(ours, "released")
    feed(
        registry,
        ("identity.transferred_in", with_templates(record("t-3", "Hadi"), unit_vectors(1, 12))),
    )
    agent.pull_pending()
    feed(
        registry,  # a transfer back of our own record, and a corrected copy of theirs
        ("identity.transferred_in", with_templates(record(ours, "Gani Renamed", origin=SITE), [])),
        ("identity.transferred_in", with_templates(record("t-3", "Hadi Santoso"), [])),
    )
    agent.pull_pending()
    assert (get(site, ours).full_name, get(site, ours).status) == ("Gani", "active")
    assert get(site, "t-3").full_name == "Hadi Santoso"


def test_a_deferred_merge_completes_when_the_survivor_arrives(site, registry, agent):
    local = enrol_local(site, "Iwan", seed=21)
    feed(registry, ("identity.merged", {"merged_id": local, "survivor_id": "n-7"}))
    agent.pull_pending()
    assert get(site, local).status == "active"
    feed(
        registry,
        ("identity.transferred_in", with_templates(record("n-7", "Iwan"), unit_vectors(2, 22))),
    )
    agent.pull_pending()
    assert (get(site, local).status, get(site, local).merged_into) == ("merged", "n-7")
    assert best(site, unit_vectors(2, 22)[0], "inmate", "active")[0] == "n-7"
    assert _gallery_matches_database(site)


def test_watchlist_entries_never_take_an_inmate_out_of_the_inmate_alarm(site, registry, agent):
    inmate = enrol_local(site, "Joko", seed=31)
    feed(registry, ("watchlist.added", with_templates(record(inmate, "Joko", "visitor"), [])))
    agent.pull_pending()
    assert get(site, inmate).status == "active"
    assert best(site, unit_vectors(2, 31)[0], "inmate", "active")[0] == inmate


def test_watchlist_removal_erases_a_registry_entry_and_reactivates_our_own_visitor(
    site, registry, agent
):
    own = enrol_local(site, "Kartika", role="visitor", seed=41)
    feed(
        registry,
        ("watchlist.added", with_templates(record("w-2", "Lukas", "visitor"), unit_vectors(2, 42))),
        ("watchlist.added", with_templates(record(own, "Kartika", "visitor", origin=SITE), [])),
    )
    agent.pull_pending()
    assert get(site, own).status == "banned"
    feed(
        registry,
        ("watchlist.removed", {"identity_id": "w-2"}),
        ("watchlist.removed", {"identity_id": own}),
    )
    agent.pull_pending()
    assert get(site, "w-2").status == "erased" and get(site, own).status == "active"
    assert best(site, unit_vectors(2, 42)[0], "visitor", "banned") == ("", 0.0)
    with site.db.reading() as tx:
        assert (
            tx.execute("SELECT COUNT(*) FROM templates WHERE identity_id = 'w-2'").fetchone()[0]
            == 0
        )
    assert _gallery_matches_database(site)


def test_run_forever_pushes_and_pulls_each_round_until_stopped(site, registry, agent):
    backlog(site.db, 12)
    feed(registry, ("identity.status", {"identity_id": "nobody", "status": "released"}))
    stop = threading.Event()
    registry.on_pull = stop.set  # the round's pull has begun: this is the last round
    safety = threading.Timer(60.0, stop.set)  # a broken agent fails the test, never hangs it
    safety.start()
    try:
        agent.run_forever(poll_s=0.01, stop=stop)
    finally:
        safety.cancel()
    assert state(site, PUSHED) == 12 and state(site, PULLED) == 1


def test_changes_in_the_registry_s_own_shape_apply_once(site, registry, agent):
    """Payloads as registry builds them: pack per template, no image digest, quality
    unknown, no origin site on a watchlist entry, extra fields (reason, case), a transfer's
    fingers as registry/transfers.fingers_payload sends them."""
    leaving = enrol_local(site, "Mawar", seed=51)
    minutiae = np.array([[40 + 9 * i, 60 + 7 * i, 0.3 * i, 60, 1] for i in range(12)], np.float64)
    record_b64 = base64.b64encode(iso19794.encode([(1, MinutiaeTemplate(
        300, 400, 500, minutiae, "nbis-mindtct"))])).decode()  # fmt: skip
    finger = {"position": 1, "impression": 1, "extractor": "nbis-mindtct", "quality": None,
              "iso_record_b64": record_b64}  # fmt: skip

    def travelling(vectors: np.ndarray) -> list[dict[str, Any]]:
        return [
            {
                "template_id": 90 + i,
                "pack_id": PACK,
                "quality": None,
                "vector_f32le_b64": base64.b64encode(v.astype("<f4").tobytes()).decode(),
            }
            for i, v in enumerate(vectors)
        ]

    entry = {
        "id": "w-9",
        "role": "visitor",
        "status": "banned",
        "full_name": "Nanda",
        "nik": None,
        "details": {},
        "watchlist_reason": "wanted",
        "created_at": "t",
        "version": 1,
    }
    feed(
        registry,
        (
            "watchlist.added",
            {"identity": entry, "reason": "wanted", "templates": travelling(unit_vectors(2, 52))},
        ),
        (
            "identity.transferred_in",
            {
                "identity": record("t-9", "Oki"),
                "from_site": "UPT-B",
                "reason": "mutasi",
                "templates": travelling(unit_vectors(2, 53)),
                "fingers": [finger],
            },
        ),
        (
            "identity.status",
            {
                "identity_id": leaving,
                "status": "transferred_out",
                "to_site": "UPT-C",
                "reason": "mutasi",
            },
        ),
        ("identity.merged", {"merged_id": leaving, "survivor_id": "t-9", "case_id": 4}),
    )
    assert agent.pull_pending() == 4
    assert (get(site, "w-9").origin_site, get(site, "w-9").status) == ("registry", "banned")
    assert best(site, unit_vectors(2, 52)[0], "visitor", "banned")[0] == "w-9"
    assert best(site, unit_vectors(2, 53)[1], "inmate", "active")[0] == "t-9"
    assert (get(site, leaving).status, get(site, leaving).merged_into) == ("merged", "t-9")
    rows = dump(site.db)
    with site.db.transaction() as tx:
        write(tx, PULLED, 0)
    agent.pull_pending()
    assert dump(site.db) == rows
    with site.db.reading() as tx:
        fingers = tx.execute("SELECT count(*) FROM finger_templates WHERE identity_id = 't-9'")
        assert fingers.fetchone()[0] == 1  # stored with the transfer, once


# --- command line -------------------------------------------------------------------------------


def test_sync_keygen_creates_the_key_once_and_run_once_drains(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EDGE_DATA_DIR", str(tmp_path / "site"))
    monkeypatch.setenv("EDGE_SITE_ID", SITE)
    assert main(["sync", "run", "--registry", "http://registry", "--once"]) == 2  # no key yet
    assert main(["sync", "keygen"]) == 0
    assert main(["sync", "keygen"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == lines[-1] and "already exists" in lines[3]  # same public key both times
    registry = FakeRegistry(tmp_path / "site")

    def over_mock(
        url: str, site_id: str, key: Any, timeout_s: float = 30.0, ca_file: Any = None
    ) -> RegistryClient:
        http = httpx.Client(transport=httpx.MockTransport(registry.handle), base_url=url)
        return RegistryClient(http, site_id, key)

    monkeypatch.setattr(RegistryClient, "connect", staticmethod(over_mock))
    db = Database(Settings(data_dir=tmp_path / "site").database_path)
    backlog(db, 3)
    db.close()
    assert main(["sync", "run", "--registry", "http://registry", "--once"]) == 0
    assert '"pushed": 3' in capsys.readouterr().out
    assert main(["sync", "status", "--json"]) == 0
    assert '"waiting": 0' in capsys.readouterr().out
    assert main(["sync", "status"]) == 0
    said = capsys.readouterr().out.splitlines()
    assert said[1:3] == ["  0 perubahan menunggu dikirim ke registri",
                         "  0 changes waiting to be sent to the registry"]  # fmt: skip
